"""Shared fixtures: paths to the real corpora and a tiny hand-made corpus."""

from __future__ import annotations

import os
from pathlib import Path

# One thread per process: the suite runs test processes and the subprocesses they start side by
# side, and OpenMP threads that outnumber the cores slow everything down many times over.
if not os.environ.get("OMP_NUM_THREADS"):
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

TINY_TRAIN = """\
Mara B-PER
Quist I-PER
joined O
Pellucid B-ORG
Labs I-ORG
in O
Oslo B-LOC
. O

Jonas B-PER
Feld I-PER
visited O
Bergen B-LOC
. O

Pellucid B-ORG
hired O
Tove B-PER
Aldren I-PER
. O

The O
Norwegian B-MISC
team O
won O
. O
"""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real corpora; tests that use them skip when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent: real-corpus tests need it")
    return SHARED_DATA


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.conll"
    path.write_text(TINY_TRAIN, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained for a few epochs on the tiny corpus: fast, not accurate."""
    from elman.train.launch import launch_training

    root = tmp_path_factory.mktemp("tiny-model")
    corpus = root / "tiny.conll"
    corpus.write_text(TINY_TRAIN, encoding="utf-8")
    output = root / "model"
    launch_training(
        train_path=str(corpus),
        dev=str(corpus),
        output=output,
        overrides=[
            "model.hidden=16",
            "model.word_dim=8",
            "model.char_encoder='cnn'",
            "train.epochs=3",
            "train.threads=1",
        ],
        progress=False,
    )
    return output
