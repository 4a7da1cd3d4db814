"""The time budget: training stops before an epoch that would end past train.max_minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from elman.data.readers import read_corpus
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo
from elman.train.loop import Trainer

EPOCH_SECONDS = 60.0


def _epochs_run(corpus: Path, monkeypatch: pytest.MonkeyPatch, **settings: object) -> list[float]:
    """Train with every epoch reported as lasting a minute; return each epoch's seconds."""
    data = read_corpus(corpus)
    tokens = [s.tokens for s in data.sentences]
    tags = [s.tags or () for s in data.sentences]
    vocab = Vocabularies.build(tokens, tags)
    model = ElmanTagger(ModelConfig(word_dim=8, hidden=8), len(vocab.words), 1, vocab.tags)
    config = TrainConfig(**{"threads": 1, "seed": 5, "epochs": 10, **settings})  # type: ignore[arg-type]
    trainer = Trainer(model, vocab, (tokens, tags), None, config)
    monkeypatch.setattr(
        trainer, "_reduce_epoch", lambda loss, count, seconds: (loss, count, EPOCH_SECONDS)
    )
    return [event.seconds for event in trainer.run() if isinstance(event, EpochInfo)]


def test_budget_stops_before_late_epoch(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2.5 minutes hold two one-minute epochs; a third would end at minute 3.
    seconds = _epochs_run(tiny_corpus, monkeypatch, max_minutes=2.5)
    assert len(seconds) == 2
    assert sum(seconds) <= 2.5 * 60


def test_budget_keeps_first_epoch(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(_epochs_run(tiny_corpus, monkeypatch, max_minutes=0.5)) == 1


def test_no_budget_runs_all_epochs(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(_epochs_run(tiny_corpus, monkeypatch, epochs=4)) == 4
