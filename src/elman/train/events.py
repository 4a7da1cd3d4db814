"""What the training loop reports: one record per step and one per epoch.

The loop never prints. Progress bars, log lines and TensorBoard are consumers of these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elman.evaluate.metrics import Scores


@dataclass(frozen=True)
class StepInfo:
    """One optimizer step. ``grad_norm`` is measured before clipping."""

    epoch: int
    step: int
    loss: float
    grad_norm: float
    lr: float
    tokens: int
    tokens_per_second: float


@dataclass(frozen=True)
class NonFiniteInfo:
    """A step whose loss or gradient norm was NaN or infinite; its update was not applied."""

    epoch: int
    step: int
    batch: int
    loss: float
    grad_norm: float
    new_lr: float
    consecutive: int


@dataclass(frozen=True)
class EpochInfo:
    """The end of one epoch, after evaluation on the dev set."""

    epoch: int
    step: int
    train_loss: float
    lr: float
    dev: Scores | None
    seconds: float
    tokens_per_second: float
    best_epoch: int
    best_f1: float
    improved: bool
    stopping: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
