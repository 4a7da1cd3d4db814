"""Recurrent layers: Elman, Jordan, GRU and LSTM, each left-to-right or bidirectional.

Every layer maps (batch, time, input) to (batch, time, output) with padding at the end of each row.
A left-to-right recurrence never lets padding reach a real token, because padding comes after it;
the right-to-left direction reverses each row within its own length first, so padding stays at the
end there too and real tokens never see it. A stack of Elman layers runs through
``elman.model.unrolled`` instead, except while traced for ONNX. It computes the same states
without reversing rows.
"""

from __future__ import annotations

import torch
from torch import nn

from elman.model.config import ModelConfig
from elman.model.dropout import Dropout
from elman.model.unrolled import unrolled_layers


def reversal_index(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """Return the (batch, time) index that reverses each row within its length.

    Padding steps map to themselves, so they stay at the end of the row.
    """
    steps = torch.arange(time, device=lengths.device).unsqueeze(0)  # (1, time)
    last = (lengths - 1).unsqueeze(1)  # (batch, 1)
    return torch.where(steps <= last, last - steps, steps)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` steps of each row of ``x``; padding stays in place."""
    index = reversal_index(lengths.to(x.device), x.size(1))  # (batch, time)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class ElmanCell(nn.Module):
    """An Elman recurrence ``h_t = f(W x_t + U h_{t-1} + b)`` with f = tanh or sigmoid.

    tanh runs through ``torch.nn.RNN``, whose CPU kernel computes the input projection of all steps
    in one product. PyTorch has no sigmoid RNN, so sigmoid runs a loop written here, with the input
    projection likewise computed once for the whole sequence.
    """

    def __init__(self, input_size: int, hidden: int, nonlinearity: str):
        super().__init__()
        self.nonlinearity = nonlinearity
        if nonlinearity == "tanh":
            self.rnn = nn.RNN(input_size, hidden, nonlinearity="tanh", batch_first=True)
        else:
            self.input = nn.Linear(input_size, hidden)
            self.recurrent = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nonlinearity == "tanh":
            output, _ = self.rnn(x)
            return output
        projected = self.input(x)  # (batch, time, hidden)
        state = projected.new_zeros(projected.size(0), projected.size(2))
        outputs = []
        for t in range(projected.size(1)):
            state = torch.sigmoid(projected[:, t] + self.recurrent(state))
            outputs.append(state)
        return torch.stack(outputs, dim=1)

    def input_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the input weight (hidden, input) and the bias of a step, both biases summed."""
        if self.nonlinearity == "tanh":
            names = ("rnn.weight_ih_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0")
            weight, bias_ih, bias_hh = (self.get_parameter(name) for name in names)
            return weight, bias_ih + bias_hh
        return self.get_parameter("input.weight"), self.get_parameter("input.bias")

    def recurrent_weight(self) -> torch.Tensor:
        """Return the (hidden, hidden) weight applied to the previous state."""
        name = "rnn.weight_hh_l0" if self.nonlinearity == "tanh" else "recurrent.weight"
        return self.get_parameter(name)


class JordanCell(nn.Module):
    """A Jordan recurrence: the previous step's label distribution is fed back, not its state.

    ``h_t = f(W x_t + U y_{t-1} + b)`` and ``y_t = softmax(V h_t)``, as in the classic slot-filling
    networks. The layer returns the states ``h``; the tagger's own output layer reads them.
    """

    def __init__(self, input_size: int, hidden: int, num_tags: int, nonlinearity: str):
        super().__init__()
        self.input = nn.Linear(input_size, hidden)
        self.feedback = nn.Linear(num_tags, hidden, bias=False)
        self.readout = nn.Linear(hidden, num_tags)
        self.activation = torch.tanh if nonlinearity == "tanh" else torch.sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.input(x)  # (batch, time, hidden)
        previous = projected.new_zeros(projected.size(0), self.readout.out_features)
        outputs = []
        for t in range(projected.size(1)):
            state = self.activation(projected[:, t] + self.feedback(previous))
            previous = torch.softmax(self.readout(state), dim=-1)  # (batch, num_tags)
            outputs.append(state)
        return torch.stack(outputs, dim=1)


class GatedCell(nn.Module):
    """A GRU or LSTM layer from ``torch.nn``, returning only the outputs."""

    def __init__(self, input_size: int, hidden: int, cell: str):
        super().__init__()
        module = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = module(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x)
        return output


def make_cell(config: ModelConfig, input_size: int, num_tags: int) -> nn.Module:
    if config.cell == "elman":
        return ElmanCell(input_size, config.hidden, config.nonlinearity)
    if config.cell == "jordan":
        return JordanCell(input_size, config.hidden, num_tags, config.nonlinearity)
    return GatedCell(input_size, config.hidden, config.cell)


class RecurrentStack(nn.Module):
    """``layers`` recurrent layers with dropout between them, each optionally bidirectional."""

    def __init__(self, config: ModelConfig, input_size: int, num_tags: int):
        super().__init__()
        self.bidirectional = config.bidirectional
        self.forward_cells = nn.ModuleList()
        self.backward_cells = nn.ModuleList()
        size = input_size
        for _ in range(config.layers):
            self.forward_cells.append(make_cell(config, size, num_tags))
            if config.bidirectional:
                self.backward_cells.append(make_cell(config, size, num_tags))
            size = config.hidden * (2 if config.bidirectional else 1)
        self.output_size = size
        self.dropout = Dropout(config.dropout)
        # An all-Elman stack trains through ``unrolled_layers``: the same cells, run time-major.
        directions = [list(self.forward_cells)]
        if config.bidirectional:
            directions.append(list(self.backward_cells))
        self._elman_cells: list[list[ElmanCell]] = []
        if all(isinstance(cell, ElmanCell) for cells in directions for cell in cells):
            self._elman_cells = [[as_elman(cell) for cell in cells] for cells in directions]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self._elman_cells and not torch.jit.is_tracing():
            return unrolled_layers(self._elman_cells, self.dropout, x, lengths)
        return self._by_layer(x, lengths)

    def _by_layer(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Run each layer's cells over batch-first input, reversing rows for right to left."""
        for layer, cell in enumerate(self.forward_cells):
            if layer > 0:
                x = self.dropout(x)
            forward = cell(x)  # (batch, time, hidden)
            if not self.bidirectional:
                x = forward
                continue
            backward = self.backward_cells[layer](reverse_within_lengths(x, lengths))
            backward = reverse_within_lengths(backward, lengths)  # (batch, time, hidden)
            x = torch.cat([forward, backward], dim=-1)  # (batch, time, 2 * hidden)
        return x


def as_elman(cell: nn.Module) -> ElmanCell:
    """Return ``cell`` typed as an ``ElmanCell``, for the paths that run Elman cells only."""
    assert isinstance(cell, ElmanCell), "this path runs Elman cells only"
    return cell
