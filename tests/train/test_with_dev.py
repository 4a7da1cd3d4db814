"""Training on the dev sentences as well (``train.with_dev``), and runs without a dev set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from elman.data.readers import read_corpus
from elman.data.sentence import Corpus, Sentence
from elman.errors import ConfigError, ElmanError
from elman.train.launch import launch_training
from elman.train.run import join_dev
from tests.conftest import TINY_TRAIN
from tests.train import elman_train, tiny_trainer

DEV = """\
-DOCSTART- -X- -X- O

Zorvath B-PER
Ennis I-PER
left O
Oslo B-LOC
. O
"""

SETTINGS = [
    "model.hidden=8",
    "model.word_dim=8",
    "train.epochs=4",
    "train.patience=1",
    "train.lr_patience=1",
    "train.threads=1",
    "train.with_dev=true",
]


@pytest.fixture()
def corpora(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.conll"
    train.write_text("-DOCSTART- -X- -X- O\n\n" + TINY_TRAIN, encoding="utf-8")
    dev = tmp_path / "dev.conll"
    dev.write_text(DEV, encoding="utf-8")
    return train, dev


def test_join_dev_renumbers_documents(
    corpora: tuple[Path, Path],
) -> None:
    train, dev = (read_corpus(path) for path in corpora)
    second = Sentence(("Rain",), ("O",), document=1)
    train = Corpus([*train.sentences, second], str(corpora[0]), documents=2)

    joined = join_dev(train, dev)

    assert len(joined) == len(train) + 1
    assert joined.sentences[-1].tokens == ("Zorvath", "Ennis", "left", "Oslo", ".")
    assert joined.sentences[-1].document == 2
    assert joined.documents == 3
    assert joined.path == f"{corpora[0]} + {corpora[1]}"
    assert len(train) == 5  # the training corpus itself is left as it was


def test_join_dev_needs_a_tagged_dev_corpus(corpora: tuple[Path, Path]) -> None:
    train = read_corpus(corpora[0])
    with pytest.raises(ConfigError, match="give one with --dev"):
        join_dev(train, None)
    untagged = Corpus([Sentence(("Oslo",))], "dev.txt")
    with pytest.raises(ElmanError, match=r"dev\.txt: the dev corpus has no tags"):
        join_dev(train, untagged)


def test_with_dev_runs_every_epoch(
    corpora: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train, dev = corpora

    with caplog.at_level(logging.INFO, logger="elman"):
        saved = launch_training(
            train_path=str(train),
            dev=str(dev),
            test=str(dev),
            output=tmp_path / "model",
            overrides=SETTINGS,
            progress=False,
            tensorboard=False,
        )

    # Without a dev score there is no early stopping, whatever the patience.
    assert saved.scores["epochs"] == 4
    assert saved.scores["best_epoch"] >= 1
    assert "dev" not in saved.scores
    assert "test" in saved.scores
    assert all("dev_f1" not in epoch for epoch in saved.scores["history"])
    assert "zorvath" in saved.vocab.words  # words are stored lowercased
    assert saved.train_config.with_dev
    assert "1 dev sentences join the 4 training sentences" in caplog.text
    assert "dev not scored (lowest loss at epoch" in caplog.text


def test_with_dev_without_dev_exits_2(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    output = tmp_path / "model"
    result = elman_train(
        "--no-tensorboard", "--train", str(corpora[0]), "--output", str(output),
        "--set", "train.with_dev=true",
    )  # fmt: skip

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train.with_dev=true trains on the dev corpus as well; give one with --dev" in (
        result.stderr
    )
    assert not output.exists()


def test_no_dev_keeps_first_epoch(tiny_corpus: Path) -> None:
    trainer = tiny_trainer(tiny_corpus, epochs=1)
    untrained = {name: tensor.clone() for name, tensor in trainer.model.state_dict().items()}

    (info,) = [event for event in trainer.run() if type(event).__name__ == "EpochInfo"]

    # The first epoch is kept although its score, -loss, is below the initial best of -1.
    assert info.train_loss > 1.0
    assert trainer.state.best_epoch == 1
    weights = trainer.best_weights["features.words.weight"]
    assert not torch.equal(weights, untrained["features.words.weight"])
    assert torch.equal(weights, trainer.model.state_dict()["features.words.weight"])
