"""Emission scores of an Elman tagger computed once per distinct token: the tagging fast path.

Every input feature of a word (its embedding, casing and character vector) depends only on the
token's text, and the first layer's input projection is linear in them. So when tagging, the
projection of each distinct token of a batch is computed once, for every offset of the context
window at the same time, and each position sums the rows of its window's tokens. A batch of
CoNLL-2003 text has about 0.4 distinct tokens per token, and the context window is never built.

The recurrences then run time-major, updating the projections in place. Training keeps the general
path in ``ElmanTagger.forward`` (dropout differs at every position) and so does ONNX export.
Both paths compute the same scores up to float rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from elman.data.batch import Batch
from elman.model.recurrent import ElmanCell, as_elman, reversal_index

if TYPE_CHECKING:
    from elman.model.elman import ElmanTagger


def supports_typed_path(model: ElmanTagger) -> bool:
    """True when every recurrent layer is an Elman cell, the layers this module runs."""
    cells = [*model.recurrent.forward_cells, *model.recurrent.backward_cells]
    return all(isinstance(cell, ElmanCell) for cell in cells)


def typed_emissions(model: ElmanTagger, batch: Batch) -> torch.Tensor:
    """Return emission scores (batch, time, num_tags) of an eval-mode model on a ``Batch``.

    ``batch.char_index`` gives each position's row among the batch's distinct tokens, whose
    characters are the rows of ``batch.chars``. Row 0 is padding.
    """
    stack = model.recurrent
    directions = [stack.forward_cells]
    order = None
    if stack.bidirectional:
        directions.append(stack.backward_cells)
        # (time, batch): time-major order that reverses each row within its length
        order = reversal_index(batch.lengths, batch.words.size(1)).t()

    # Layer 1: window rows of the distinct tokens' projections, summed per position.
    table = _token_projections(model, batch)  # (types * directions * window, H)
    window = model.features.window
    rows = _window_rows(batch.char_index, window, len(directions))  # (batch, time, window)
    rows = rows.transpose(0, 1)  # (time, batch, window)
    outputs = []
    for direction, cells in enumerate(directions):
        bags = rows + direction * window
        if direction == 1:
            bags = _reverse(bags, order)
        projected = F.embedding_bag(bags.reshape(-1, window), table, mode="sum")  # (T * B, H)
        outputs.append(_recur(as_elman(cells[0]), projected.view(*rows.shape[:2], -1)))
    x = _join(outputs, order)  # (time, batch, hidden * directions)

    # Further layers read the previous layer's states.
    for layer in range(1, len(stack.forward_cells)):
        outputs = []
        for direction, cells in enumerate(directions):
            source = x if direction == 0 else _reverse(x, order)
            cell = as_elman(cells[layer])
            weight, bias = cell.input_weights()
            outputs.append(_recur(cell, F.linear(source, weight, bias)))  # (time, batch, H)
        x = _join(outputs, order)
    return model.output(x).transpose(0, 1).contiguous()  # (batch, time, num_tags)


def _token_projections(model: ElmanTagger, batch: Batch) -> torch.Tensor:
    """Project each distinct token for every direction and window offset.

    Returns (types * directions * window, hidden): row ``(type * directions + d) * window + j``
    is the contribution of a token seen at offset ``j`` of the window by direction ``d``. Both
    biases are folded into the centre offset, because each position's window has exactly one.
    """
    features = model.features
    types = batch.chars.size(0)
    type_words = batch.words.new_zeros(types)
    type_words[batch.char_index] = batch.words
    parts = [features.words(type_words)]  # (types, word_dim)
    if features.casing is not None:
        type_casing = batch.casing.new_zeros(types)
        type_casing[batch.char_index] = batch.casing
        parts.append(features.casing(type_casing))
    if features.chars is not None:
        parts.append(features.chars(batch.chars))
    tokens = torch.cat(parts, dim=-1)  # (types, token_size)
    tokens[0] = 0.0  # type 0 is padding, which the general path zeroes too

    window, size = features.window, features.token_size
    stack = model.recurrent
    cells = [stack.forward_cells[0], *stack.backward_cells[:1]]
    matrices, biases = [], []
    for cell in cells:
        weight, bias = as_elman(cell).input_weights()  # weight: (H, window * token_size)
        hidden = weight.size(0)
        # (H, window, token_size) -> (token_size, window * H), offsets side by side
        matrices.append(weight.view(hidden, window, size).permute(2, 1, 0).reshape(size, -1))
        biases.append(bias)
    projected = (tokens @ torch.cat(matrices, dim=1)).view(types, len(cells), window, hidden)
    projected[:, :, window // 2] += torch.stack(biases)  # (directions, H) to every type
    return projected.view(-1, hidden)


def _window_rows(char_index: torch.Tensor, window: int, directions: int) -> torch.Tensor:
    """(batch, time) distinct-token rows -> (batch, time, window) table rows of direction 0.

    Offsets outside the sentence read type 0, the padding token, whose projection is zero
    except at the centre offset, which only padding positions read.
    """
    half, time = window // 2, char_index.size(1)
    padded = F.pad(char_index, (half, half))  # (batch, time + 2 * half)
    types = torch.stack([padded[:, j : j + time] for j in range(window)], dim=-1)
    return types * (directions * window) + torch.arange(window)


def _recur(cell: ElmanCell, projected: torch.Tensor) -> torch.Tensor:
    """Run the recurrence over (time, batch, H) input projections, in place, and return them.

    Padding comes after each row's tokens, so it never reaches a real token's state.
    """
    transposed = cell.recurrent_weight().t()
    tanh = cell.nonlinearity == "tanh"
    state = projected.new_zeros(projected.size(1), projected.size(2))  # (batch, H)
    for t in range(projected.size(0)):
        step = projected[t].addmm_(state, transposed)
        state = step.tanh_() if tanh else step.sigmoid_()
    return projected


def _reverse(x: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
    """Reorder the time steps of time-major ``x`` (time, batch, ...) by ``order`` (time, batch)."""
    assert order is not None
    index = order.view(*order.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


def _join(outputs: list[torch.Tensor], order: torch.Tensor | None) -> torch.Tensor:
    """Time-major states of each direction -> (time, batch, H * directions) in sentence order."""
    if len(outputs) == 1:
        return outputs[0]
    return torch.cat([outputs[0], _reverse(outputs[1], order)], dim=-1)
