"""Training on extra corpora whose entity types are renamed to the training corpus's."""

from __future__ import annotations

import logging
import random
import subprocess
from pathlib import Path

import pytest
import torch

from elman.data.batch import length_batches
from elman.data.readers import read_corpus
from elman.data.relabel import corpus_entity_types, entity_types
from elman.data.sentence import Sentence
from elman.data.vocab import Vocabularies
from elman.errors import ElmanError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.store import SavedModel
from elman.train import checkpoint
from elman.train.config import TrainConfig
from elman.train.launch import launch_training
from elman.train.loop import Trainer
from elman.train.run import lowercased_copies
from tests.conftest import TINY_TRAIN
from tests.train import elman_train, first_sentences

MAIN = """\
Ines\tB-person
Varga\tI-person
flew\tO
to\tO
Lisbon\tB-place
.\tO

Ola\tB-person
stayed\tO
in\tO
Turku\tB-place
.\tO
"""

SETTINGS = ["model.hidden=8", "model.word_dim=8", "train.epochs=2", "train.threads=1"]


def _trainer(main: int, extra: int, **settings: float) -> Trainer:
    tokens = [(f"m{i}",) * (1 + i % 3) for i in range(main)]
    extra_tokens = [(f"x{i}",) * (1 + i % 4) for i in range(extra)]
    tags = [("O",) * len(row) for row in tokens]
    extra_tags = [("O",) * len(row) for row in extra_tokens]
    vocab = Vocabularies.build([*tokens, *extra_tokens], [*tags, *extra_tags])
    model = ElmanTagger(ModelConfig(word_dim=4, hidden=4), len(vocab.words), 1, vocab.tags)
    config = TrainConfig(batch_size=3, seed=5, **settings)  # type: ignore[arg-type]
    return Trainer(model, vocab, (tokens, tags), None, config, (extra_tokens, extra_tags))


def _rows(trainer: Trainer) -> list[int]:
    return sorted(row for batch in trainer._epoch_batches() for row in batch)


def test_every_extra_sentence_by_default() -> None:
    trainer = _trainer(main=5, extra=7)
    assert trainer.sentences_per_epoch() == 12
    assert _rows(trainer) == list(range(12))


def test_ratio_draws_extra_sentences_afresh_each_epoch() -> None:
    trainer = _trainer(main=4, extra=20, extra_ratio=0.5)
    assert trainer.sentences_per_epoch() == 6

    drawn: set[int] = set()
    for _ in range(6):
        rows = _rows(trainer)
        assert rows[:4] == [0, 1, 2, 3]
        extra = rows[4:]
        assert len(extra) == len(set(extra)) == 2
        assert all(4 <= row < 24 for row in extra)
        drawn.update(extra)
    assert len(drawn) > 2


def test_large_ratio_takes_all_extra() -> None:
    trainer = _trainer(main=4, extra=3, extra_ratio=5)
    assert trainer.sentences_per_epoch() == 7
    assert _rows(trainer) == list(range(7))


def test_tiny_ratio_draws_one_sentence() -> None:
    trainer = _trainer(main=4, extra=30, extra_ratio=0.01)
    assert trainer.sentences_per_epoch() == 5
    assert len(_rows(trainer)) == 5


def test_batches_without_extra_corpora_unchanged() -> None:
    trainer = _trainer(main=10, extra=0)
    lengths = [len(tokens) for tokens in trainer.train_tokens]
    expected = list(length_batches(lengths, 3, shuffle=True, rng=random.Random(5)))
    assert trainer._epoch_batches() == expected


@pytest.fixture()
def corpora(tmp_path: Path) -> tuple[Path, Path]:
    main = tmp_path / "main.tsv"
    main.write_text(MAIN, encoding="utf-8")
    extra = tmp_path / "extra.conll"
    extra.write_text(TINY_TRAIN, encoding="utf-8")
    return main, extra


def test_training_with_an_extra_corpus(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    main, extra = corpora
    output = tmp_path / "model"

    saved = launch_training(
        train_path=str(main),
        dev=str(main),
        output=output,
        extra=[str(extra)],
        overrides=[*SETTINGS, "train.extra_types='PER=person,LOC=place,*=O'"],
        progress=False,
        tensorboard=False,
    )

    assert set(saved.vocab.tags) == {"O", "B-person", "I-person", "B-place"}
    # Words seen only in the extra corpus have embeddings of their own.
    assert "pellucid" in saved.vocab.words
    assert checkpoint.read_run(output / "checkpoints" / "last")["extra"] == [str(extra)]
    resumed = launch_training(
        train_path=None, dev=None, output=None, resume=output, progress=False, tensorboard=False
    )
    assert torch.equal(resumed.model.features.words.weight, saved.model.features.words.weight)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return elman_train("--no-tensorboard", *args)


def test_unmapped_extra_type_exits_2(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    main, extra = corpora
    result = _cli(
        "--train",
        str(main),
        "--output",
        str(tmp_path / "model"),
        "--extra",
        str(extra),
        "--set",
        "train.extra_types='PER=person,LOC=place'",
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{extra}: entity types MISC, ORG are not types of the training corpus" in result.stderr
    assert "train.extra_types" in result.stderr


def test_malformed_type_map_exits_2(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    main, extra = corpora
    result = _cli(
        "--train", str(main), "--output", str(tmp_path / "model"), "--extra", str(extra),
        "--set", "train.extra_types='PER:person'",
    )  # fmt: skip

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train.extra_types: 'PER:person' is not FROM=TO" in result.stderr
    assert not (tmp_path / "model").exists()


def test_wnut_with_conll_as_extra_corpus(shared_data: Path, tmp_path: Path) -> None:
    main = first_sentences(shared_data / "wnut17" / "train.conll", 200, tmp_path / "wnut.conll")
    extra = first_sentences(shared_data / "conll2003" / "train.txt", 300, tmp_path / "conll.txt")
    saved = launch_training(
        train_path=str(main),
        dev=str(main),
        output=tmp_path / "model",
        extra=[str(extra)],
        overrides=[
            *SETTINGS,
            "model.char_encoder='cnn'",
            "train.extra_types='PER=person,LOC=location,ORG=corporation,MISC=O'",
            "train.extra_ratio=1",
        ],
        progress=False,
        tensorboard=False,
    )

    wnut = read_corpus(main)
    assert len(wnut) == 200
    wnut_types = corpus_entity_types(wnut)
    assert {"person", "location", "corporation"} <= wnut_types
    assert entity_types([saved.vocab.tags]) == wnut_types
    # The first CoNLL-2003 sentence: "EU rejects German call to boycott British lamb ."
    assert {"eu", "rejects", "boycott", "lamb"} <= set(saved.vocab.words.items)
    assert saved.scores["epochs"] == 2


def test_untagged_extra_corpus_rejected(corpora: tuple[Path, Path], tmp_path: Path) -> None:
    main, _ = corpora
    untagged = tmp_path / "untagged.txt"
    untagged.write_text("Mara\nQuist\nwaved\n", encoding="utf-8")

    with pytest.raises(ElmanError, match=f"{untagged}:1: 1 field per line: no label column"):
        launch_training(
            train_path=str(main),
            dev=None,
            output=tmp_path / "model",
            extra=[str(untagged)],
            overrides=SETTINGS,
            progress=False,
            tensorboard=False,
        )


def test_lowercased_copies_keep_tags_and_documents() -> None:
    sentence = Sentence(("Ines", "Varga", "left", "OSLO"), ("B-PER", "I-PER", "O", "B-LOC"), 3, 7)

    (copy,) = lowercased_copies([sentence])

    assert copy.tokens == ("ines", "varga", "left", "oslo")
    assert (copy.tags, copy.document, copy.line) == (sentence.tags, 3, 7)


def _train_with_dev(
    corpora: tuple[Path, Path], dev: Path, output: Path, overrides: list[str]
) -> SavedModel:
    """Train on the main and extra corpora with ``dev``, the test settings and ``overrides``."""
    main, extra = corpora
    return launch_training(
        train_path=str(main),
        dev=str(dev),
        output=output,
        extra=[str(extra)],
        overrides=[*SETTINGS, *overrides],
        progress=False,
        tensorboard=False,
    )


@pytest.mark.parametrize("with_dev", [False, True])
def test_training_with_lowercased_copies(
    corpora: tuple[Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    with_dev: bool,
) -> None:
    main, extra = corpora
    dev = tmp_path / "dev.tsv"
    dev.write_text("Mika\tB-person\nwrote\tO\n\nAnu\tB-person\nsang\tO\n", encoding="utf-8")
    expected = len(read_corpus(main).sentences) + len(read_corpus(extra).sentences)

    with caplog.at_level(logging.INFO, logger="elman"):
        saved = _train_with_dev(
            corpora,
            dev,
            tmp_path / "model",
            [
                "train.extra_types='PER=person,LOC=place,*=O'",
                "train.lowercase_copies=true",
                f"train.with_dev={str(with_dev).lower()}",
            ],
        )

    # Dev sentences are never copied, also when they are trained on.
    assert f"train.lowercase_copies: {expected} lowercased copies join" in caplog.text
    assert ("train.with_dev: 2 dev sentences join the 2 training" in caplog.text) is with_dev
    assert saved.train_config.lowercase_copies is True
    assert ("mika" in saved.vocab.words) is with_dev


def test_extra_types_may_name_dev_types(
    corpora: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = tmp_path / "dev.tsv"
    dev.write_text("Pellucid\tB-group\nwon\tO\n", encoding="utf-8")

    # Under with_dev the dev sentences are training sentences, so their types are known too.
    with caplog.at_level(logging.INFO, logger="elman"):
        saved = _train_with_dev(
            corpora,
            dev,
            tmp_path / "model",
            [
                "train.extra_types='PER=person,LOC=place,ORG=group,*=O'",
                "train.with_dev=true",
                "train.lowercase_copies=true",
            ],
        )

    assert "B-group" in saved.vocab.tags
    assert "lowercased copies join" in caplog.text
