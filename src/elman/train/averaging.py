"""A running average of the weights, which the trainer scores and keeps instead of the raw ones.

After every step each averaged tensor moves towards the model's by ``1 - decay``. Early in a run
the decay is ``(1 + updates) / (10 + updates)`` when that is smaller, so that the random initial
weights stop counting within a few steps. The average smooths out the noise of the last steps.
Over three seeds it raised the mean test F1 by 0.08 point on ATIS and 0.29 point on
CoNLL-2003, and lowered it by 0.7 point on SNIPS (README, Accuracy).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """Exponential moving average of a model's floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.tensors = {
            name: tensor.detach().clone()
            for name, tensor in model.state_dict().items()
            if tensor.is_floating_point()
        }

    def update(self, model: nn.Module) -> None:
        """Move the average towards the model's current weights by one step."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        current = model.state_dict()
        names = list(self.tensors)
        with torch.no_grad():
            torch._foreach_lerp_(
                [self.tensors[name] for name in names],
                [current[name].detach() for name in names],
                1.0 - decay,
            )

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Load the averaged weights into ``model`` for the block, then put its own back."""
        own = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        model.load_state_dict(self.tensors, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(own)

    def state(self) -> dict[str, torch.Tensor]:
        """Return the averaged tensors and the update count, for a checkpoint."""
        return {**self.tensors, "__updates__": torch.tensor(self.updates)}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what ``state`` returned. Raise KeyError when a tensor is missing."""
        updates = state["__updates__"]
        for name in self.tensors:
            self.tensors[name] = state[name].clone()
        self.updates = int(updates)
