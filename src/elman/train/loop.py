"""The training loop: mini-batches, clipping, a non-finite guard, LR decay and early stopping.

``Trainer.run`` yields a ``StepInfo`` per step, a ``NonFiniteInfo`` per rejected step and an
``EpochInfo`` per epoch; it never prints. Everything it needs to continue is in ``Trainer.state``,
the model and the optimizer, which ``checkpoint.py`` saves and restores.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from elman.data.batch import Batch, length_batches
from elman.data.encoded import EncodedCorpus
from elman.data.vocab import Vocabularies
from elman.errors import ElmanError
from elman.evaluate.metrics import Scores, score
from elman.model.elman import ElmanTagger
from elman.model.inference import predict_tags
from elman.train.averaging import WeightAverage
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo, NonFiniteInfo, StepInfo

logger = logging.getLogger(__name__)

SNAPSHOT_EVERY = 50
"""Steps between in-memory copies of the weights that the non-finite guard falls back to."""


class TrainingDiverged(ElmanError):
    """Raised after too many consecutive non-finite steps; the model keeps the last good weights."""


@dataclass
class TrainState:
    """Counters of a run that a checkpoint must carry to resume it exactly."""

    epoch: int = 0
    step: int = 0
    lr: float = 0.0
    best_f1: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    epochs_since_lr_change: int = 0
    nonfinite_steps: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    python_rng: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**data)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` makes torch refuse nondeterministic ops."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    # The fused kernel updates each parameter in one pass over its memory. On a 2-core x86_64
    # machine it took about 1 ms per step for the fast preset's 1.2 million weights, foreach 40 ms.
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


Pairs = tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]]
"""Tokens and IOB2 tags of a list of sentences."""


class Trainer:
    """Trains one ``ElmanTagger`` on tokenised, IOB2-tagged sentences.

    ``extra`` contains sentences of other corpora whose types were renamed to the training
    corpus's (``elman.data.relabel``). Each epoch trains on every training sentence and on as many
    extra sentences as ``config.extra_ratio`` sets.
    """

    def __init__(
        self,
        model: ElmanTagger,
        vocab: Vocabularies,
        train: Pairs,
        dev: Pairs | None,
        config: TrainConfig,
        extra: Pairs | None = None,
    ):
        self.model = model
        self.vocab = vocab
        self.main_count = len(train[0])
        extra_tokens, extra_tags = extra or ((), ())
        self.train_tokens = [*train[0], *extra_tokens]
        self.train_tags = [*train[1], *extra_tags]
        chars = model.config.char_encoder != "none"
        self.train_corpus = EncodedCorpus(vocab, self.train_tokens, self.train_tags, chars=chars)
        self.dev = dev
        self.dev_documents: Sequence[int] | None = None
        self.config = config
        self.optimizer = make_optimizer(model, config)
        self.state = TrainState(lr=config.lr)
        self.rng = random.Random(config.seed)
        self.average = WeightAverage(model, config.average) if config.average > 0 else None
        self.best_weights: dict[str, torch.Tensor] = copy.deepcopy(model.state_dict())
        self._snapshot: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._consecutive_failures = 0

    def run(self) -> Iterator[StepInfo | NonFiniteInfo | EpochInfo]:
        """Train until the epoch limit or early stopping, yielding progress records."""
        while self.state.epoch < self.config.epochs and not self._early_stopped():
            self.state.epoch += 1
            info = yield from self._train_epoch()
            yield info
            if info.stopping:
                break

    def _early_stopped(self) -> bool:
        """Return whether patience ran out, so that a run resumed after its last epoch stops."""
        return (
            self.dev is not None and self.state.epochs_without_improvement >= self.config.patience
        )

    def _train_epoch(self) -> Generator[StepInfo | NonFiniteInfo, None, EpochInfo]:
        started = time.perf_counter()
        self.model.train()
        self._take_snapshot()
        batches = self._epoch_batches()
        total_loss, total_tokens = 0.0, 0

        for index, rows in enumerate(batches):
            outcome = self._step(index, rows, started, total_tokens)
            if isinstance(outcome, NonFiniteInfo):
                yield outcome
                continue
            total_loss += outcome.loss * outcome.tokens
            total_tokens += outcome.tokens
            yield outcome

        seconds = time.perf_counter() - started
        total_loss, total_tokens, seconds = self._reduce_epoch(total_loss, total_tokens, seconds)
        with self._scored_weights():
            dev_scores = self._evaluate()
            return self._finish_epoch(
                total_loss / max(total_tokens, 1), dev_scores, seconds, total_tokens
            )

    @contextlib.contextmanager
    def _scored_weights(self) -> Iterator[None]:
        """Load the weights that dev scores the epoch by: the running average, when there is one."""
        if self.average is None:
            yield
            return
        with self.average.applied(self.model):
            yield

    def _step(
        self, index: int, rows: list[int], started: float, tokens_so_far: int
    ) -> StepInfo | NonFiniteInfo:
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)
        loss, tokens = self._batch_loss(rows)
        grad_norm = float("nan")
        if self._all_ranks(bool(torch.isfinite(loss))):
            loss.backward()
            max_norm = config.clip_norm if config.clip_norm > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        loss_value = float(loss.detach())
        if not self._all_ranks(math.isfinite(loss_value) and math.isfinite(grad_norm)):
            return self._reject_step(index, loss_value, grad_norm)

        self.optimizer.step()
        # A finite gradient times a huge learning rate can still overflow a weight to inf.
        if not self._all_ranks(self._parameters_finite()):
            return self._reject_step(index, loss_value, grad_norm)
        self.state.step += 1
        self._consecutive_failures = 0
        if self.average is not None:
            self.average.update(self.model)
        if self.state.step % SNAPSHOT_EVERY == 0:
            self._take_snapshot()
        elapsed = max(time.perf_counter() - started, 1e-9)
        return StepInfo(
            epoch=self.state.epoch,
            step=self.state.step,
            loss=loss_value,
            grad_norm=grad_norm,
            lr=self.state.lr,
            tokens=tokens,
            tokens_per_second=(tokens_so_far + tokens) / elapsed,
        )

    def _epoch_batches(self) -> list[list[int]]:
        """Return this epoch's batches of training sentence indices, shuffled."""
        rows = self._epoch_rows()
        lengths = [len(self.train_tokens[row]) for row in rows]
        batches = length_batches(lengths, self.config.batch_size, shuffle=True, rng=self.rng)
        return [[rows[i] for i in batch] for batch in batches]

    def _epoch_rows(self) -> list[int]:
        """Return every training sentence and this epoch's draw of extra sentences."""
        extra = range(self.main_count, len(self.train_tokens))
        count = self.sentences_per_epoch() - self.main_count
        if count == len(extra):
            return list(range(len(self.train_tokens)))
        return [*range(self.main_count), *sorted(self.rng.sample(extra, count))]

    def sentences_per_epoch(self) -> int:
        """Return how many sentences an epoch trains on."""
        extra = len(self.train_tokens) - self.main_count
        if self.config.extra_ratio > 0:
            # A positive ratio draws at least one sentence, however small the training corpus.
            extra = min(extra, max(1, round(self.config.extra_ratio * self.main_count)))
        return self.main_count + extra

    def _encode_rows(self, rows: list[int]) -> Batch:
        """Encode the training sentences ``rows`` with their tags."""
        rare_unk, lowercase = self.config.rare_unk, self.config.lowercase
        return self.train_corpus.batch(
            rows,
            (rare_unk, self.rng) if rare_unk > 0 else None,
            (lowercase, self.rng) if lowercase > 0 else None,
        )

    def _batch_loss(self, rows: list[int]) -> tuple[torch.Tensor, int]:
        """Return the mean loss over the tagged tokens of the sentences ``rows`` and their count."""
        loss_sum, tokens = self.model.loss(self._encode_rows(rows))
        # A batch whose every tag is ignored has nothing to learn from: the loss is 0, not 0 / 0.
        return loss_sum / max(tokens, 1), tokens

    def _all_ranks(self, flag: bool) -> bool:
        """Return whether ``flag`` holds in every training process; here there is only one.

        ``elman.distributed.ddp.DistributedTrainer`` overrides the hooks ``_epoch_batches``,
        ``_batch_loss``, ``_all_ranks``, ``_reduce_epoch`` and ``_evaluate``.
        """
        return flag

    def _reduce_epoch(self, loss: float, tokens: int, seconds: float) -> tuple[float, int, float]:
        """Return the epoch's loss and token sums over all processes, and the longest duration."""
        return loss, tokens, seconds

    def _reject_step(self, index: int, loss: float, grad_norm: float) -> NonFiniteInfo:
        """Restore the last good weights and optimizer state, halve the LR, or give up."""
        self._consecutive_failures += 1
        self.state.nonfinite_steps += 1
        self._restore_snapshot()
        self._set_lr(self.state.lr * 0.5)
        logger.warning(
            "non-finite %s at epoch %d, step %d, batch %d: restored the last good weights and "
            "halved the learning rate to %.3g (%d in a row)",
            _nonfinite_quantity(loss, grad_norm),
            self.state.epoch,
            self.state.step + 1,
            index,
            self.state.lr,
            self._consecutive_failures,
        )
        info = NonFiniteInfo(
            epoch=self.state.epoch,
            step=self.state.step + 1,
            batch=index,
            loss=loss,
            grad_norm=grad_norm,
            new_lr=self.state.lr,
            consecutive=self._consecutive_failures,
        )
        if self._consecutive_failures >= self.config.max_nonfinite:
            raise TrainingDiverged(
                f"training diverged: {self._consecutive_failures} steps in a row gave a non-finite "
                f"loss, gradient or weight (last at epoch {info.epoch}, step {info.step}, "
                f"batch {index}), "
                f"even after halving the learning rate to {self.state.lr:.3g}; the last good "
                f"weights were kept. Try a lower train.lr, gradient clipping (train.clip_norm=5)"
                f"{self._objective_hint()} or the adam optimizer."
            )
        return info

    def _objective_hint(self) -> str:
        """Name the language-model objective's weight when that objective adds to the loss."""
        config = getattr(self.model, "config", None)
        if config is not None and config.lm_words > 0:
            return f", a lower model.lm_weight (now {config.lm_weight:g})"
        return ""

    def _parameters_finite(self) -> bool:
        parameters = list(self.model.parameters())
        if not parameters:
            return True
        # A sum is NaN or infinite when any term is, and costs far less than an elementwise
        # isfinite: 0.3 ms against 11 ms for 2.2 million weights (torch 2.13, one CPU thread).
        # Only when the sum is not finite is each weight checked, since finite terms can overflow.
        if bool(torch.isfinite(torch.stack([p.detach().sum() for p in parameters]).sum())):
            return True
        return all(bool(torch.isfinite(p).all()) for p in parameters)

    def _take_snapshot(self) -> None:
        self._snapshot = (
            copy.deepcopy(self.model.state_dict()),
            copy.deepcopy(self.optimizer.state_dict()),
        )

    def _restore_snapshot(self) -> None:
        if self._snapshot is None:
            return
        weights, optimizer_state = self._snapshot
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(copy.deepcopy(optimizer_state))

    def _set_lr(self, lr: float) -> None:
        self.state.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _evaluate(self) -> Scores | None:
        if self.dev is None:
            return None
        tokens, gold = self.dev
        predicted = predict_tags(self.model, self.vocab, tokens, documents=self.dev_documents)
        return score(gold, predicted, scheme="iob2", mode="conlleval")

    def _finish_epoch(
        self, train_loss: float, dev: Scores | None, seconds: float, tokens: int
    ) -> EpochInfo:
        state = self.state
        # Without dev the epoch with the lowest training loss is kept. The first epoch always
        # replaces the untrained weights.
        f1 = dev.f1 if dev is not None else -train_loss
        improved = state.best_epoch == 0 or f1 > state.best_f1
        if improved:
            state.best_f1, state.best_epoch = f1, state.epoch
            state.epochs_without_improvement = state.epochs_since_lr_change = 0
            self.best_weights = copy.deepcopy(self.model.state_dict())
        else:
            state.epochs_without_improvement += 1
            state.epochs_since_lr_change += 1
            if dev is not None and state.epochs_since_lr_change >= self.config.lr_patience:
                self._set_lr(state.lr * self.config.lr_decay)
                state.epochs_since_lr_change = 0
                logger.info("dev F1 has not improved: learning rate now %.3g", state.lr)

        record = {
            "epoch": float(state.epoch),
            "train_loss": train_loss,
            "lr": state.lr,
            "seconds": seconds,
            "tokens_per_second": tokens / max(seconds, 1e-9),
        }
        if dev is not None:
            record.update(dev_precision=dev.precision, dev_recall=dev.recall, dev_f1=dev.f1)
        state.history.append(record)
        state.seconds += seconds
        stopping = dev is not None and state.epochs_without_improvement >= self.config.patience
        # The next epoch is expected to last as long as this one; stop if it would end late.
        budget = self.config.max_minutes * 60
        if budget and state.seconds + seconds > budget and state.epoch < self.config.epochs:
            logger.info(
                "stopping after %.1f minutes: another epoch would pass train.max_minutes=%g",
                state.seconds / 60,
                self.config.max_minutes,
            )
            stopping = True
        return EpochInfo(
            epoch=state.epoch,
            step=state.step,
            train_loss=train_loss,
            lr=state.lr,
            dev=dev,
            seconds=seconds,
            tokens_per_second=record["tokens_per_second"],
            best_epoch=state.best_epoch,
            best_f1=max(state.best_f1, 0.0),
            improved=improved,
            stopping=stopping,
            history=list(state.history),
        )


def _nonfinite_quantity(loss: float, grad_norm: float) -> str:
    """Name what made a step fail, for the log."""
    if not math.isfinite(loss):
        return "loss"
    if not math.isfinite(grad_norm):
        return "gradient norm"
    return "weight after the update"
