"""One training run from corpus paths to a saved model directory.

``train_model`` reads the corpora, builds the vocabularies and the network, runs the ``Trainer``
with its consumers (progress bar, checkpoints, TensorBoard), and saves the best epoch's model with
its dev and test scores. The command line and the Python API both call it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from elman.data import scheme as schemes
from elman.data.readers import read_corpus
from elman.data.relabel import corpus_entity_types, parse_type_map, relabel_corpus
from elman.data.sentence import Corpus, Sentence
from elman.data.vocab import Vocabularies
from elman.distributed import ddp
from elman.errors import ConfigError, ElmanError
from elman.evaluate.metrics import score
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.model.ensemble import Network
from elman.model.inference import predict_tags
from elman.model.pretrained import extend_vocabulary, initialise_embeddings, read_vectors
from elman.store import SavedModel, save_model
from elman.train import checkpoint
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo, NonFiniteInfo, StepInfo
from elman.train.loop import Trainer, TrainingDiverged, seed_everything

logger = logging.getLogger(__name__)

Event = StepInfo | NonFiniteInfo | EpochInfo
DEV_NEEDED = (
    "train.with_dev=true trains on the dev corpus as well; give one with --dev (dev= in Python)"
)


class TrainingInterrupted(ElmanError):
    """Raised after Ctrl-C, once a checkpoint to resume from has been written."""


class Consumer(Protocol):
    """Something that watches training: a progress bar, a logger, TensorBoard."""

    def on_event(self, event: Event, trainer: Trainer) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunSpec:
    """Everything that defines a run; stored in checkpoints so that ``--resume`` needs only DIR."""

    train: str
    dev: str | None
    output: str
    test: str | None = None
    format: str = "auto"
    scheme: str = "auto"
    reader: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)


def train_model(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    resume: bool = False,
    consumers: Sequence[Consumer] = (),
    corpora: tuple[Corpus, Corpus | None, Corpus | None] | None = None,
) -> SavedModel:
    """Train, checkpoint after every epoch, and save the best model to ``spec.output``.

    When ``corpora`` (train, dev, test) is given, those corpora are used and the paths in
    ``spec`` are not read. The paths then only name the corpora in logs and checkpoints.
    """
    if model_config.members > 1:
        raise ConfigError(
            f"model.members={model_config.members}: train_model trains one network; train an "
            "ensemble with elman.train.members.train_members (as elman train does)"
        )
    spec = replace(spec, model=asdict(model_config), training=asdict(train_config))
    output = Path(spec.output)
    output.mkdir(parents=True, exist_ok=True)
    if train_config.threads > 0:
        torch.set_num_threads(usable_threads(train_config.threads))
    rank = ddp.join_process_group()
    if not ddp.is_main_process():
        consumers = ()  # rank 0 alone shows progress and writes TensorBoard events
    seed_everything(train_config.seed, train_config.deterministic)
    _log_header(spec, model_config, train_config)

    train, dev, test = read_corpora(spec, train_config, corpora, join=False)
    training_only = train.sentences
    if train_config.with_dev:
        train, dev = join_dev(train, dev), None
    extra = read_extra_corpora(spec, train_config, train)
    if train_config.lowercase_copies:
        # Dev sentences are not copied, even under with_dev, because on WNUT-17 ensembles with
        # their copies scored 28.4 test F1 against 32.1 without (benchmarks/results).
        extra = [*extra, *lowercased_copies([*training_only, *extra])]

    learned = [*train.sentences, *extra]
    vocab = Vocabularies.build(
        [s.tokens for s in learned],
        [s.tags or () for s in learned],
        min_count=train_config.min_count,
    )
    _warn_unseen_tags(vocab, dev, "dev")
    vectors = None
    if model_config.pretrained:
        vectors = read_vectors(model_config.pretrained)
        extend_vocabulary(vocab, vectors[0])
    model = ElmanTagger(model_config, len(vocab.words), len(vocab.chars), vocab.tags)
    if vectors is not None:
        initialise_embeddings(
            model.features.words, vocab, *vectors, freeze=model_config.freeze_pretrained
        )
    logger.info(
        "%d sentences, %d words, %d characters, %d tags; %d parameters",
        len(train),
        len(vocab.words),
        len(vocab.chars),
        len(vocab.tags),
        sum(p.numel() for p in model.parameters()),
    )
    trainer = ddp.make_trainer(
        rank,
        model,
        vocab,
        _pairs(train.sentences),
        _pairs(dev.sentences) if dev else None,
        train_config,
        _pairs(extra) if extra else None,
    )
    last = output / "checkpoints" / "last"
    if dev is not None:
        trainer.dev_documents = [sentence.document for sentence in dev.sentences]
    if resume:
        checkpoint.load_checkpoint(trainer, last)
        logger.info("resumed from %s after epoch %d", last, trainer.state.epoch)

    _run_trainer(trainer, spec, output, consumers)

    model.load_state_dict(trainer.best_weights)
    if not ddp.is_main_process():
        ddp.wait_for_all()
        return SavedModel(model, vocab, model_config, train_config, train.scheme)
    predictions: dict[str, tuple[list[tuple[str, ...]], list[list[str]]]] = {}
    scores = {
        "best_epoch": trainer.state.best_epoch,
        "epochs": trainer.state.epoch,
        "history": trainer.state.history,
        **final_scores(model, vocab, dev, test, predictions),
    }
    saved = SavedModel(model, vocab, model_config, train_config, train.scheme, scores, output)
    save_model(saved, output)
    logger.info("saved the model of epoch %d to %s", trainer.state.best_epoch, output)
    write_report(output, predictions)
    ddp.wait_for_all()
    return saved


def usable_threads(requested: int) -> int:
    """Return ``requested`` threads, or the number of cores when that is fewer.

    More threads than cores only slow training down, and 100,000 made torch crash the process
    (a segmentation fault) on a 2-core machine.
    """
    cores = os.cpu_count() or 1
    if requested > cores:
        logger.warning(
            "train.threads=%d is more than the %d cores; using %d", requested, cores, cores
        )
        return cores
    return requested


def _run_trainer(
    trainer: Trainer, spec: RunSpec, output: Path, consumers: Sequence[Consumer]
) -> None:
    run = asdict(spec)
    checkpoints = output / "checkpoints"
    saved = -1  # The epoch of the latest checkpoint written, or -1 before the first one.
    try:
        if trainer.state.epoch == 0:
            # A checkpoint before the first step lets a run interrupted in epoch 1 resume exactly.
            _save_checkpoint(trainer, checkpoints / "last", run)
        saved = trainer.state.epoch
        for event in trainer.run():
            for consumer in consumers:
                consumer.on_event(event, trainer)
            if isinstance(event, EpochInfo):
                _save_checkpoint(trainer, checkpoints / "last", run)
                saved = trainer.state.epoch
                if event.improved:
                    _save_checkpoint(trainer, checkpoints / "best", run)
    except TrainingDiverged:
        # Keep the last good weights (the model contains them now) on disk before reporting the
        # failure. best.safetensors keeps the best epoch's weights.
        _save_checkpoint(trainer, checkpoints / "last", run)
        raise
    except KeyboardInterrupt:
        raise TrainingInterrupted(_interruption(trainer.state.epoch, saved, output)) from None
    finally:
        for consumer in consumers:
            consumer.close()


def _interruption(epoch: int, saved: int, output: Path) -> str:
    """Return the message of a run stopped in ``epoch``, whose last checkpoint is of ``saved``."""
    resume = f"elman train --resume {output}"
    if epoch == saved and epoch > 0:
        return f"interrupted after epoch {epoch}, which is saved; resume with: {resume}"
    # The last checkpoint is the end of the previous epoch (or the start of the run): a
    # mid-epoch checkpoint could not resume exactly, so the interrupted epoch is repeated.
    return f"interrupted in epoch {epoch}; resume from the last completed epoch with: {resume}"


def _save_checkpoint(trainer: Trainer, directory: Path, run: dict[str, Any]) -> None:
    """Write a checkpoint from rank 0 only: every process has the same state."""
    if ddp.is_main_process():
        checkpoint.save_checkpoint(trainer, directory, run)


def read_corpora(
    spec: RunSpec,
    config: TrainConfig,
    corpora: tuple[Corpus, Corpus | None, Corpus | None] | None = None,
    *,
    join: bool = True,
) -> tuple[Corpus, Corpus | None, Corpus | None]:
    """Read the train, dev and test corpora of ``spec``, or copy them from ``corpora``.

    Under ``train.with_dev`` the dev sentences join the training ones and dev is returned as
    ``None``. With ``join`` false, the caller joins them itself with ``join_dev``.
    """

    def read(path: str | None, index: int) -> Corpus | None:
        if corpora is not None:
            supplied = corpora[index]
            if supplied is None:
                return None
            # A copy, because _limit_length replaces the sentences of the corpus it gets.
            return _limit_length(replace(supplied), config.max_length)
        if path is None:
            return None
        corpus = read_corpus(path, format=spec.format, scheme=spec.scheme, **spec.reader)
        return _limit_length(corpus, config.max_length)

    train = read(spec.train, 0)
    assert train is not None
    _require_tags(train, f"{spec.train}: the training corpus has no tags")
    dev = read(spec.dev, 1)
    if config.with_dev and join:
        return join_dev(train, dev), None, read(spec.test, 2)
    return train, dev, read(spec.test, 2)


def join_dev(train: Corpus, dev: Corpus | None) -> Corpus:
    """Return ``train`` followed by the sentences of ``dev`` (``train.with_dev``).

    Dev documents are numbered after the training documents, so none merges with a training one.
    """
    if dev is None:
        raise ConfigError(DEV_NEEDED)
    _require_tags(
        dev,
        f"{dev.path}: the dev corpus has no tags, so train.with_dev cannot train on it; "
        "give a tagged dev corpus or set train.with_dev=false",
    )
    moved = [replace(s, document=s.document + train.documents) for s in dev.sentences]
    logger.info(
        "train.with_dev: %d dev sentences join the %d training sentences, and dev is not scored",
        len(dev),
        len(train),
    )
    return replace(
        train,
        sentences=[*train.sentences, *moved],
        documents=train.documents + dev.documents,
        path=f"{train.path} + {dev.path}",
    )


def read_extra_corpora(spec: RunSpec, config: TrainConfig, train: Corpus) -> list[Sentence]:
    """Read the extra training corpora and rename their types to those of ``train``.

    Each extra corpus is read with its format, scheme and column separator detected.
    """
    if not spec.extra:
        return []
    mapping = parse_type_map(config.extra_types)
    known = corpus_entity_types(train)
    sentences: list[Sentence] = []
    used: set[str] = set()
    for path in spec.extra:
        corpus = read_corpus(path, scheme="auto")
        _require_tags(
            corpus, f"{path}: the extra training corpus has no tags; give an annotated one"
        )
        used |= corpus_entity_types(corpus)
        corpus = _limit_length(relabel_corpus(corpus, mapping, known), config.max_length)
        sentences.extend(corpus.sentences)
    unused = sorted(set(mapping) - used - {"*"})
    if unused:
        logger.warning(
            "train.extra_types names types that no extra corpus uses: %s", ", ".join(unused)
        )
    logger.info(
        "%d extra training sentences; %s per epoch",
        len(sentences),
        f"{config.extra_ratio:g} per training sentence" if config.extra_ratio else "all",
    )
    return sentences


def lowercased_copies(sentences: Sequence[Sentence]) -> list[Sentence]:
    """Return a copy of each sentence with its tokens lowercased and its tags kept."""
    copies = [replace(s, tokens=tuple(token.lower() for token in s.tokens)) for s in sentences]
    logger.info(
        "train.lowercase_copies: %d lowercased copies join the extra sentences", len(copies)
    )
    return copies


def _require_tags(corpus: Corpus, message: str) -> None:
    """Raise ``ElmanError`` with ``message`` when a sentence of ``corpus`` has no tags."""
    if any(sentence.tags is None for sentence in corpus.sentences):
        raise ElmanError(message)


def _limit_length(corpus: Corpus, max_length: int) -> Corpus:
    """Split sentences longer than ``max_length`` tokens into pieces (0 means no limit)."""
    if max_length <= 0:
        return corpus
    pieces: list[Sentence] = []
    split = 0
    for sentence in corpus.sentences:
        if len(sentence) <= max_length:
            pieces.append(sentence)
            continue
        split += 1
        for start in range(0, len(sentence), max_length):
            tags = sentence.tags[start : start + max_length] if sentence.tags else None
            if tags and tags[0].startswith("I-"):
                tags = ("B-" + tags[0][2:], *tags[1:])
            pieces.append(
                replace(sentence, tokens=sentence.tokens[start : start + max_length], tags=tags)
            )
    if split:
        logger.warning(
            "%s: split %d sentences longer than train.max_length=%d tokens",
            corpus.path,
            split,
            max_length,
        )
    corpus.sentences = pieces
    return corpus


def _pairs(sentences: Sequence[Sentence]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    return [s.tokens for s in sentences], [s.tags or () for s in sentences]


def _warn_unseen_tags(vocab: Vocabularies, corpus: Corpus | None, name: str) -> None:
    if corpus is None:
        return
    seen = set(vocab.tags)
    unseen = sorted({t for s in corpus.sentences for t in (s.tags or ()) if t not in seen})
    if unseen:
        logger.warning(
            "%s set has tags never seen in training, scored as errors: %s",
            name,
            ", ".join(unseen),
        )


def final_scores(
    model: Network,
    vocab: Vocabularies,
    dev: Corpus | None,
    test: Corpus | None,
    predictions: dict[str, tuple[list[tuple[str, ...]], list[list[str]]]],
) -> dict[str, Any]:
    """Score the final model on dev and test; store (gold, predicted) tags in ``predictions``."""
    scores: dict[str, Any] = {}
    for name, corpus in (("dev", dev), ("test", test)):
        if corpus is None:
            continue
        tokens = [s.tokens for s in corpus.sentences]
        started = time.perf_counter()
        documents = [sentence.document for sentence in corpus.sentences]
        predicted = predict_tags(model, vocab, tokens, documents=documents)
        seconds = time.perf_counter() - started
        gold = [s.tags or () for s in corpus.sentences]
        predictions[name] = (gold, predicted)
        result = score(gold, predicted, "iob2", "conlleval")
        scores[name] = {
            **result.to_dict(),
            "oov_rate": vocab.oov_rate(tokens),
            "tagging_tokens_per_second": corpus.tokens / max(seconds, 1e-9),
        }
        logger.info("%s F1 %.2f (%s)", name, 100 * result.f1, corpus.path)
    return scores


def write_report(
    output: Path, predictions: dict[str, tuple[list[tuple[str, ...]], list[list[str]]]]
) -> None:
    # Imported here: matplotlib is needed only once training has finished.
    from elman.report import write_training_report

    write_training_report(output, predictions)


def _log_header(spec: RunSpec, model_config: ModelConfig, train_config: TrainConfig) -> None:
    dev = f"{spec.dev} (trained on, train.with_dev)" if train_config.with_dev else spec.dev
    logger.info("training on %s, dev %s, output %s", spec.train, dev, spec.output)
    logger.info("model: %s", asdict(model_config))
    logger.info("train: %s", asdict(train_config))
    logger.info("torch %s, %d threads", torch.__version__, torch.get_num_threads())


def validate_scheme(name: str) -> str:
    return schemes.normalize_scheme(name, allow_auto=True)
