"""Helpers shared by the training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from elman.data.readers import read_corpus
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.loop import Trainer


def tiny_trainer(corpus: Path, *, dev: bool = False, **settings: Any) -> Trainer:
    """Return a ``Trainer`` of an 8-unit Elman tagger on ``corpus``, seeded with 5.

    ``settings`` override the ``TrainConfig`` fields (defaults here: one sentence per batch, one
    thread). With ``dev`` the training corpus also serves as the dev set.
    """
    data = read_corpus(corpus)
    tokens = [s.tokens for s in data.sentences]
    tags = [s.tags or () for s in data.sentences]
    vocab = Vocabularies.build(tokens, tags)
    torch.manual_seed(5)
    model = ElmanTagger(ModelConfig(word_dim=8, hidden=8), len(vocab.words), 1, vocab.tags)
    config = TrainConfig(**{"batch_size": 1, "threads": 1, "seed": 5, **settings})
    return Trainer(model, vocab, (tokens, tags), (tokens, tags) if dev else None, config)
