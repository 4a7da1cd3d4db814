"""Training progress for people: a tqdm bar per epoch and one log line per epoch."""

from __future__ import annotations

import logging
import math
import sys

from tqdm import tqdm

from elman.train.events import EpochInfo, NonFiniteInfo, StepInfo
from elman.train.loop import Trainer

logger = logging.getLogger(__name__)


class ProgressBar:
    """Shows epoch, loss, dev F1 and tokens per second; the bar is drawn on a terminal only."""

    def __init__(self, *, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: tqdm | None = None
        self.dev_f1 = math.nan

    def on_event(self, event: StepInfo | NonFiniteInfo | EpochInfo, trainer: Trainer) -> None:
        if isinstance(event, StepInfo):
            self._step(event, trainer)
        elif isinstance(event, EpochInfo):
            self._epoch(event)

    def _step(self, event: StepInfo, trainer: Trainer) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            total = math.ceil(trainer.sentences_per_epoch() / trainer.config.batch_size)
            self.bar = tqdm(total=total, desc=f"epoch {event.epoch}", leave=False, unit="batch")
        self.bar.update(1)
        self.bar.set_postfix(
            loss=f"{event.loss:.3f}",
            dev_f1=f"{100 * self.dev_f1:.2f}",
            tok_s=f"{event.tokens_per_second:,.0f}",
            refresh=False,
        )

    def _epoch(self, event: EpochInfo) -> None:
        self.close()
        self.dev_f1 = event.dev.f1 if event.dev is not None else math.nan
        dev = (
            f"dev F1 {100 * event.dev.f1:.2f} (best {100 * event.best_f1:.2f} at epoch "
            f"{event.best_epoch})"
            if event.dev is not None
            else f"dev not scored (lowest loss at epoch {event.best_epoch})"
        )
        logger.info(
            "epoch %d: loss %.4f, %s, lr %.3g, %.1fs, %s tokens/s",
            event.epoch,
            event.train_loss,
            dev,
            event.lr,
            event.seconds,
            f"{event.tokens_per_second:,.0f}",
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
