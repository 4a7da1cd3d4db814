"""Helpers shared by the training tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from elman.data.readers import read_corpus
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.loop import Trainer


def tiny_trainer(
    corpus: Path, *, dev: bool = False, model: dict[str, Any] | None = None, **settings: Any
) -> Trainer:
    """Return a ``Trainer`` of an 8-unit Elman tagger on ``corpus``, seeded with 5.

    ``settings`` override the ``TrainConfig`` fields (defaults here: one sentence per batch, one
    thread) and ``model`` the ``ModelConfig`` fields. With ``dev`` the training corpus also
    serves as the dev set.
    """
    data = read_corpus(corpus)
    tokens = [s.tokens for s in data.sentences]
    tags = [s.tags or () for s in data.sentences]
    vocab = Vocabularies.build(tokens, tags)
    torch.manual_seed(5)
    model_config = ModelConfig(**{"word_dim": 8, "hidden": 8, **(model or {})})
    network = ElmanTagger(model_config, len(vocab.words), 1, vocab.tags)
    config = TrainConfig(**{"batch_size": 1, "threads": 1, "seed": 5, **settings})
    return Trainer(network, vocab, (tokens, tags), (tokens, tags) if dev else None, config)


def first_sentences(source: Path, count: int, target: Path) -> Path:
    """Write the first ``count`` sentences of the CoNLL file ``source`` to ``target``.

    Lines that are empty or hold only spaces and tabs separate sentences, as in WNUT-17.
    """
    text = source.read_text(encoding="utf-8")
    blocks = [block for block in re.split(r"\n[ \t]*\n", text) if block.strip()][:count]
    target.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return target


def elman_train(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``elman train --no-progress ARGS`` in a subprocess and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "elman", "train", "--no-progress", *args],
        capture_output=True,
        text=True,
        check=False,
    )
