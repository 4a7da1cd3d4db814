"""Settings of a training run, saved with the model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from elman.data.relabel import parse_type_map
from elman.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
FLOAT32_MAX = 3.4028234663852886e38

# Each numeric setting with a lower bound, and the words that state the accepted values.
LOWER_BOUNDS: dict[str, tuple[float, str]] = {
    "batch_size": (1, "a positive value"),
    "epochs": (1, "a positive value"),
    "max_nonfinite": (1, "a positive value"),
    "patience": (0, "0 or more epochs"),
    "lr_patience": (0, "0 or more epochs"),
    "min_count": (1, "1 (keep every word) or more"),
    "threads": (0, "0 (one per core) or more"),
    "seed": (0, "0 or more"),
    "max_length": (0, "0 (no limit) or more"),
    "clip_norm": (0.0, "0 (off) or a finite value above it"),
    "weight_decay": (0.0, "0 (off) or a finite value above it"),
    "max_minutes": (0.0, "0 (no limit) or a finite value above it"),
    "extra_ratio": (0.0, "0 (every extra sentence) or a finite value above it"),
}


@dataclass(frozen=True)
class TrainConfig:
    """How the network is trained.

    ``clip_norm`` of 0 turns gradient clipping off. The learning rate is multiplied by
    ``lr_decay`` after ``lr_patience`` epochs without a better dev F1; training stops after
    ``patience`` such epochs.
    ``rare_unk`` is the probability of replacing a word seen once in training by ``<unk>``.
    ``lowercase`` is the probability that a training sentence is lowercased in a batch, so that
    the model also learns to find names written without capitals. ``lowercase_copies`` adds a
    lowercased copy of every training and extra sentence to the extra sentences, which
    ``extra_ratio`` then draws from. Under ``with_dev`` the dev sentences are not copied.
    ``max_minutes`` > 0 stops training before an epoch that would end past that time budget,
    judging by the length of the epoch before it (the first epoch always runs).
    ``average`` > 0 keeps a running average of the weights with that decay per step, so that 0.99
    averages over roughly the last 100 steps. The averaged weights are scored on dev and saved.
    ``extra_types`` renames the entity types of extra training corpora (``elman train --extra``)
    to the training corpus's types, as ``FROM=TO`` pairs (``elman.data.relabel``).
    ``extra_ratio`` > 0 draws that many extra sentences per training sentence afresh for each
    epoch; 0 uses every extra sentence in every epoch.
    ``with_dev`` adds the dev sentences to the training data. Nothing is left to stop early or
    decay the learning rate by, so training runs all ``epochs`` and keeps the epoch with the
    lowest training loss, and dev is not scored.
    """

    optimizer: str = "adam"
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 30
    clip_norm: float = 5.0
    lr_decay: float = 0.5
    lr_patience: int = 2
    patience: int = 5
    min_count: int = 1
    rare_unk: float = 0.5
    lowercase: float = 0.0
    lowercase_copies: bool = False
    max_length: int = 0
    seed: int = 13
    threads: int = 0
    max_nonfinite: int = 5
    deterministic: bool = False
    max_minutes: float = 0.0
    average: float = 0.0
    extra_types: str = ""
    extra_ratio: float = 0.0
    with_dev: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"train.optimizer={self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}"
            )
        for name, (low, meaning) in LOWER_BOUNDS.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= low):
                raise ConfigError(f"train.{name}={value}: expected {meaning}")
        if not 0.0 < self.lr <= FLOAT32_MAX:
            raise ConfigError(
                f"train.lr={self.lr}: expected a positive value below {FLOAT32_MAX:.3g} "
                "(torch optimizers store it as float32)"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"train.momentum={self.momentum}: expected a value in [0, 1)")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"train.lr_decay={self.lr_decay}: expected a value in (0, 1]")
        for name in ("rare_unk", "lowercase"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"train.{name}={getattr(self, name)}: expected a probability in [0, 1]"
                )
        if not 0.0 <= self.average < 1.0:
            raise ConfigError(
                f"train.average={self.average}: expected 0 (off) or a decay in (0, 1), e.g. 0.99"
            )
        parse_type_map(self.extra_types)
