"""Elman layers unrolled step by step in time-major order: the training path of an all-Elman stack.

Through the cells' own ``forward`` (``torch.nn.RNN`` with batch-first input), each layer copies
its input and output between layouts, and the right-to-left direction reverses every row within
its length before and after the recurrence. Here each direction projects the layer's input in
one matrix product, the steps read time-major views of it, and the right-to-left direction walks
the steps backwards. Over each row's padding its state is held at zero, so that it starts from
zero at the row's last real token, as if the row had been reversed. No row is reversed and no
layout is copied.

The weights are the cells' own, so the outputs equal those of the cells' ``forward`` at every
real token. At padding positions the right-to-left states are zero here. ONNX export traces the
cells' ``forward``, which exports as the ONNX RNN operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from elman.model.dropout import Dropout
    from elman.model.recurrent import ElmanCell


def unrolled_layers(
    directions: Sequence[Sequence[ElmanCell]],
    dropout: Dropout,
    x: torch.Tensor,
    lengths: torch.Tensor,
) -> torch.Tensor:
    """Run stacked Elman layers over ``x`` (batch, time, input) with padding at the row ends.

    ``directions`` contains the left-to-right cells, one per layer, then the right-to-left cells
    if the stack is bidirectional. ``dropout`` applies between layers. Returns
    (batch, time, hidden * directions), the directions side by side.
    """
    batch, time = x.shape[:2]
    steps = torch.arange(time, device=x.device).unsqueeze(1)  # (time, 1)
    real = (steps < lengths.unsqueeze(0)).unsqueeze(-1).to(x.dtype)  # (time, batch, 1)
    shortest = int(lengths.min())

    for layer in range(len(directions[0])):
        if layer > 0:
            x = dropout(x)
        states = []
        for direction, cells in enumerate(directions):
            cell = cells[layer]
            weight, bias = cell.input_weights()
            projected = F.linear(x, weight, bias)  # (batch, time, H)
            inputs = projected.transpose(0, 1).unbind(0)  # time x (batch, H)
            backwards = direction == 1
            states.append(_recur(cell, inputs, real if backwards else None, shortest))

        # Stacking (t, direction) pairs along dim 1 lays out each step's directions side by side.
        interleaved = [state for pair in zip(*states, strict=True) for state in pair]
        x = torch.stack(interleaved, dim=1).view(batch, time, -1)
    return x


def _recur(
    cell: ElmanCell, inputs: Sequence[torch.Tensor], real: torch.Tensor | None, shortest: int
) -> list[torch.Tensor]:
    """Return the (batch, H) state of every step, in time order.

    Without ``real`` the steps run left to right. With ``real`` (time, batch, 1) they run right
    to left, and a step at or past the ``shortest`` row's length zeroes the states of the rows
    that have ended.
    """
    weight = cell.recurrent_weight().t()  # (H, H)
    activation = torch.tanh if cell.nonlinearity == "tanh" else torch.sigmoid
    order = range(len(inputs)) if real is None else range(len(inputs) - 1, -1, -1)
    states: list[torch.Tensor] = list(inputs)
    state: torch.Tensor | None = None
    for t in order:
        # The first step's previous state is zero, so its product is left out.
        step = inputs[t] if state is None else torch.addmm(inputs[t], state, weight)
        state = activation(step)
        if real is not None and t >= shortest:
            state = state * real[t]
        states[t] = state
    return states
