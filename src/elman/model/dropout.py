"""Dropout with its mask cut from 64-bit random words, 16 bits per element."""

from __future__ import annotations

import torch
from torch import nn

LEVELS = 1 << 16
"""A mask element is a 16-bit draw, so the dropout probability is a multiple of 1 / 65,536."""

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class Dropout(nn.Module):
    """Inverted dropout, as ``torch.nn.Dropout``.

    In training each element is zeroed with probability ``p`` and the others are scaled by
    ``1 / (1 - p)``. In eval mode the layer returns its input. ``p`` is rounded to a multiple of
    1 / 65,536 (0.5 stays 0.5, 0.3 becomes 0.300003), and the scale follows the rounded value.

    The mask reads each element's 16 random bits from one quarter of a 64-bit draw of torch's
    generator. On a 2-core x86_64 machine this took about a third of the time of drawing one
    uniform float per element, as ``torch.nn.Dropout`` and a mask drawn with ``uniform_`` do.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"invalid dropout probability {p}: expected 0 <= p < 1")
        self.p = p
        dropped = min(round(p * LEVELS), LEVELS - 1)  # draws below this level are dropped
        self._threshold = dropped - LEVELS // 2  # the same level among signed 16-bit values
        self._scale = LEVELS / (LEVELS - dropped)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        words = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device)
        # Bounds span the full int64 range, because random_() without them leaves the sign bit 0.
        words.random_(INT64_MIN, INT64_MAX)
        draws = words.view(torch.int16)[: x.numel()].view(x.shape)
        keep = draws >= self._threshold
        return x * keep.to(x.dtype).mul_(self._scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"
