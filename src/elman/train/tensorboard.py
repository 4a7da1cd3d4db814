"""A training consumer that writes TensorBoard event files.

What it writes, and at which global step:

- every step (step number): ``train/loss``, ``train/lr``, ``train/grad_norm`` (before clipping)
  and ``train/tokens_per_second``;
- every rejected step (its step number): ``train/nonfinite``, the run's count of non-finite steps,
  and a text entry of the same name with the epoch, step, batch and new learning rate;
- every epoch (epoch number): ``epoch/train_loss``, ``epoch/lr``, ``dev/precision``,
  ``dev/recall``, ``dev/f1`` and the same three per entity type (``dev/f1/PER``), histograms
  ``parameters/NAME`` and ``gradients/NAME`` (the last applied step's gradients, after clipping);
- once: the model graph, traced on two training sentences, and the run configuration as text;
- when training completes: the most frequent words' embeddings for the projector and the
  hyperparameters with the best dev F1 (in the ``hparams`` subfolder).

A scalar that is NaN or infinite is never written: ``nonfinite/TAG`` = 1 marks its step instead.
Each writer purges events from its first step on, so a resumed run replaces the steps that the
interrupted run logged after its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from elman.data.batch import encode_batch
from elman.data.vocab import PAD, UNK
from elman.train.events import EpochInfo, NonFiniteInfo, StepInfo
from elman.train.loop import Trainer

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

logger = logging.getLogger(__name__)

PROJECTOR_WORDS = 2000
"""Default number of most frequent words whose embeddings go to the projector."""

WORD_EMBEDDINGS = "features.words.weight"
EMBEDDING_TAG = "word_embeddings"


class TensorBoardWriter:
    """Writes training progress to event files in ``logdir`` for ``tensorboard --logdir``."""

    def __init__(self, logdir: str | Path, *, projector_words: int = PROJECTOR_WORDS):
        self.logdir = Path(logdir)
        self.projector_words = projector_words
        self.writer: SummaryWriter | None = None
        self.trainer: Trainer | None = None
        self.finished = False
        # References to the gradient tensors of the last applied step. The loop zeroes
        # gradients with set_to_none, which drops its references without overwriting these.
        self._gradients: dict[str, torch.Tensor] = {}

    def on_event(self, event: StepInfo | NonFiniteInfo | EpochInfo, trainer: Trainer) -> None:
        """Write the records of one event, opening the event file on the first one."""
        self.trainer = trainer
        writer = self._open(event, trainer)
        if isinstance(event, StepInfo):
            self._step(writer, event, trainer)
        elif isinstance(event, NonFiniteInfo):
            self._nonfinite(writer, event, trainer)
        else:
            self._epoch(writer, event, trainer)

    def close(self) -> None:
        """Write the projector and hyperparameters if training completed, then flush and close."""
        if self.writer is None:
            return
        if self.finished and self.trainer is not None:
            self._write_projector(self.writer, self.trainer)
            self._write_hparams(self.writer, self.trainer)
        self.writer.close()
        self.writer = None

    def _open(self, event: StepInfo | NonFiniteInfo | EpochInfo, trainer: Trainer) -> SummaryWriter:
        if self.writer is not None:
            return self.writer
        # Imported here because the import is slow and only a run that logs needs it.
        from torch.utils.tensorboard import SummaryWriter

        self.logdir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.logdir), purge_step=event.step, flush_secs=30)
        logger.info(
            "TensorBoard logs in %s; view them with: tensorboard --logdir %s",
            self.logdir,
            self.logdir,
        )
        self.writer.add_text("run/config", _config_markdown(trainer), 0)
        _add_graph(self.writer, trainer)
        return self.writer

    def _step(self, writer: SummaryWriter, event: StepInfo, trainer: Trainer) -> None:
        _add_scalar(writer, "train/loss", event.loss, event.step)
        _add_scalar(writer, "train/lr", event.lr, event.step)
        _add_scalar(writer, "train/grad_norm", event.grad_norm, event.step)
        _add_scalar(writer, "train/tokens_per_second", event.tokens_per_second, event.step)
        self._gradients = {
            name: parameter.grad
            for name, parameter in trainer.model.named_parameters()
            if parameter.grad is not None
        }

    def _nonfinite(self, writer: SummaryWriter, event: NonFiniteInfo, trainer: Trainer) -> None:
        writer.add_scalar("train/nonfinite", trainer.state.nonfinite_steps, event.step)
        writer.add_text(
            "train/nonfinite",
            f"epoch {event.epoch}, step {event.step}, batch {event.batch}: loss {event.loss}, "
            f"gradient norm {event.grad_norm}; the step was undone and the learning rate "
            f"halved to {event.new_lr:.3g} ({event.consecutive} in a row)",
            event.step,
        )

    def _epoch(self, writer: SummaryWriter, event: EpochInfo, trainer: Trainer) -> None:
        epoch = event.epoch
        _add_scalar(writer, "epoch/train_loss", event.train_loss, epoch)
        _add_scalar(writer, "epoch/lr", event.lr, epoch)
        if event.dev is not None:
            _add_scalar(writer, "dev/precision", event.dev.precision, epoch)
            _add_scalar(writer, "dev/recall", event.dev.recall, epoch)
            _add_scalar(writer, "dev/f1", event.dev.f1, epoch)
            for name, scores in event.dev.per_type.items():
                _add_scalar(writer, f"dev/precision/{name}", scores.precision, epoch)
                _add_scalar(writer, f"dev/recall/{name}", scores.recall, epoch)
                _add_scalar(writer, f"dev/f1/{name}", scores.f1, epoch)
        self._add_histograms(writer, trainer, epoch)
        self.finished = event.stopping or epoch >= trainer.config.epochs
        writer.flush()

    def _add_histograms(self, writer: SummaryWriter, trainer: Trainer, epoch: int) -> None:
        for name, parameter in trainer.model.named_parameters():
            _add_histogram(writer, f"parameters/{name}", parameter.detach(), epoch)
        for name, gradient in self._gradients.items():
            _add_histogram(writer, f"gradients/{name}", gradient.detach(), epoch)

    def _write_projector(self, writer: SummaryWriter, trainer: Trainer) -> None:
        """Add the embeddings of the most frequent words, as the saved model has them."""
        weights = trainer.best_weights.get(WORD_EMBEDDINGS)
        if weights is None:
            return
        words = _frequent_words(trainer, self.projector_words)
        if not words:
            return
        ids = torch.tensor([trainer.vocab.words.index[word] for word in words])
        step = trainer.state.step
        # add_embedding prints a warning when its folder exists, as it does after a rerun.
        folder = self.logdir / f"{step:05d}" / EMBEDDING_TAG
        if folder.is_dir():
            shutil.rmtree(folder)
        labels = [_metadata_label(word) for word in words]
        writer.add_embedding(
            weights.detach()[ids], metadata=labels, global_step=step, tag=EMBEDDING_TAG
        )

    def _write_hparams(self, writer: SummaryWriter, trainer: Trainer) -> None:
        values: dict[str, Any] = {}
        for section, config in (("model", trainer.model.config), ("train", trainer.config)):
            for key, value in asdict(config).items():
                values[f"{section}.{key}"] = value
        metrics: dict[str, float] = {"hparams/epochs": float(trainer.state.epoch)}
        if trainer.dev is not None:
            metrics["hparams/best_dev_f1"] = max(trainer.state.best_f1, 0.0)
            metrics["hparams/best_epoch"] = float(trainer.state.best_epoch)
        writer.add_hparams(values, metrics, run_name="hparams", global_step=trainer.state.step)


def _add_scalar(writer: SummaryWriter, tag: str, value: float, step: int) -> None:
    """Write ``value``, or the flag ``nonfinite/TAG`` = 1 when it is NaN or infinite."""
    if math.isfinite(value):
        writer.add_scalar(tag, value, step)
    else:
        writer.add_scalar(f"nonfinite/{tag}", 1.0, step)


def _add_histogram(writer: SummaryWriter, tag: str, values: torch.Tensor, step: int) -> None:
    finite = values[torch.isfinite(values)]
    if finite.numel() < values.numel():
        writer.add_scalar(f"nonfinite/{tag}", 1.0, step)
    if finite.numel() > 0:
        writer.add_histogram(tag, finite.float(), step)


def _add_graph(writer: SummaryWriter, trainer: Trainer) -> None:
    """Trace the model on two training sentences, logging a failure as a warning."""
    model = trainer.model
    sentences = [tokens for tokens in trainer.train_tokens[:2] if tokens]
    if not sentences:
        return
    batch = encode_batch(trainer.vocab, sentences, chars=model.config.char_encoder != "none")
    inputs = batch.inputs()
    # Tracing runs the model in eval mode. fork_rng keeps the run's random streams intact, so
    # a run with TensorBoard gives the same weights as one without.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            writer.add_graph(model, inputs)
        except Exception as error:
            # Tracing fails in many ways (unsupported ops, torch versions); the graph is optional.
            logger.warning("TensorBoard: could not trace the model graph (%s); skipped", error)


def _frequent_words(trainer: Trainer, limit: int) -> list[str]:
    counts = trainer.vocab.words.counts
    words = [word for word in trainer.vocab.words.items if word not in (PAD, UNK)]
    words.sort(key=lambda word: -counts.get(word, 0))
    return words[:limit]


def _metadata_label(word: str) -> str:
    """Return ``word`` fit for one line of the projector's TSV file."""
    return " ".join(word.split()) or "<blank>"


def _config_markdown(trainer: Trainer) -> str:
    config = {"model": asdict(trainer.model.config), "train": asdict(trainer.config)}
    text = json.dumps(config, indent=2)
    # TensorBoard renders text as Markdown: indenting by four spaces shows it as code.
    return "\n".join("    " + line for line in text.splitlines())
