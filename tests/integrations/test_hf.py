"""Hugging Face datasets built in memory: corpora from datasets and training on them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

datasets = pytest.importorskip(
    "datasets", reason="datasets is not installed: pip install 'elman[hf]' to test the integration"
)

from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value  # noqa: E402

from elman.data.sentence import Corpus, Sentence  # noqa: E402
from elman.errors import ConfigError, DataError  # noqa: E402
from elman.integrations.hf import (  # noqa: E402
    corpus_from_dataset,
    dataset_from_corpus,
    train_from_dataset,
)
from elman.model.config import ModelConfig  # noqa: E402
from elman.model.ensemble import EnsembleTagger  # noqa: E402
from elman.store import load_model  # noqa: E402
from elman.train.config import TrainConfig  # noqa: E402
from elman.train.run import RunSpec, train_model  # noqa: E402

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TOKENS = [["Mara", "Quist", "visited", "Oslo", "."], ["Jonas", "left", "."]]
TAGS = [[1, 2, 0, 3, 0], [1, 0, 0]]


def tagged(tokens: list[list[str]], tags: list[list[Any]], names: list[str] | None) -> Dataset:
    tag_feature = Sequence(ClassLabel(names=names)) if names else Sequence(Value("int32"))
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": tag_feature})
    return Dataset.from_dict({"tokens": tokens, "ner_tags": tags}, features=features)


def test_class_label_names() -> None:
    corpus = corpus_from_dataset(tagged(TOKENS, TAGS, NAMES))
    assert [s.tokens for s in corpus.sentences] == [tuple(t) for t in TOKENS]
    assert [s.tags for s in corpus.sentences] == [
        ("B-PER", "I-PER", "O", "B-LOC", "O"),
        ("B-PER", "O", "O"),
    ]


def test_rows_are_lines() -> None:
    corpus = corpus_from_dataset(tagged(TOKENS, TAGS, NAMES))
    assert [s.line for s in corpus.sentences] == [1, 2]


def test_iob1_names_detected() -> None:
    names = ["O", "I-PER", "B-PER"]
    corpus = corpus_from_dataset(tagged([["Mara", "Jonas"]], [[1, 2]], names))
    assert corpus.scheme == "iob1"
    assert corpus.sentences[0].tags == ("B-PER", "B-PER")


def test_string_tags() -> None:
    dataset = Dataset.from_dict({"words": [["Oslo", "!"]], "labels": [["B-LOC", "O"]]})
    corpus = corpus_from_dataset(dataset, "words", "labels")
    assert corpus.sentences[0].tags == ("B-LOC", "O")


def test_label_names_for_plain_integers() -> None:
    corpus = corpus_from_dataset(tagged(TOKENS, TAGS, None), label_names=NAMES)
    assert corpus.sentences[1].tags == ("B-PER", "O", "O")


def test_integers_without_names() -> None:
    with pytest.raises(DataError) as error:
        corpus_from_dataset(tagged(TOKENS, TAGS, None))
    message = str(error.value)
    assert "the 'ner_tags' column contains integers but has no ClassLabel feature" in message
    assert "label_names=[...]" in message


def test_subword_label_rejected() -> None:
    dataset = tagged([["Oslo", "##s"]], [[3, -100]], None)
    with pytest.raises(DataError) as error:
        corpus_from_dataset(dataset, label_names=NAMES, name="mine")
    assert str(error.value) == (
        "mine:1: tag value -100 is not an index into the 5 tag names; the dataset must have one "
        "tag per token, not per subword"
    )


def test_tag_count_mismatch() -> None:
    with pytest.raises(DataError) as error:
        corpus_from_dataset(tagged([["Oslo", "!"]], [[3]], NAMES), name="mine")
    assert str(error.value) == "mine:1: 2 tokens but 1 tags; each token needs one tag"


def test_missing_column() -> None:
    with pytest.raises(DataError) as error:
        corpus_from_dataset(tagged(TOKENS, TAGS, NAMES), tags_column="tags", name="mine")
    assert str(error.value) == (
        "mine: no column 'tags'; the dataset has tokens, ner_tags. Set tokens_column and "
        "tags_column to the columns of tokens and tags"
    )


def test_dataset_dict_rejected() -> None:
    splits = DatasetDict({"train": tagged(TOKENS, TAGS, NAMES)})
    with pytest.raises(DataError) as error:
        corpus_from_dataset(splits, name="mine")
    assert "found a dataset dictionary with the splits train; pass one of them" in str(error.value)


def test_empty_rows_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        corpus = corpus_from_dataset(tagged([[], ["Oslo"]], [[], [3]], NAMES), name="mine")
    assert [s.tokens for s in corpus.sentences] == [("Oslo",)]
    assert "mine: skipped 1 row(s) without tokens" in caplog.text


def test_dataset_from_corpus() -> None:
    corpus = Corpus([Sentence(("Mara", "left"), ("B-PER", "O"))], "memory")
    dataset = dataset_from_corpus(corpus)
    assert dataset.features["ner_tags"].feature.names == ["O", "B-PER"]
    assert dataset[0] == {"tokens": ["Mara", "left"], "ner_tags": [1, 0]}


def test_dataset_round_trip() -> None:
    corpus = corpus_from_dataset(tagged(TOKENS, TAGS, NAMES))
    back = corpus_from_dataset(dataset_from_corpus(corpus))
    assert back.sentences == corpus.sentences


def test_train_and_tag(tmp_path: Path) -> None:
    import torch

    from elman.tag.predictor import load

    torch.set_num_threads(1)
    train = tagged(TOKENS * 40, TAGS * 40, NAMES)
    dev = tagged(TOKENS, TAGS, NAMES)
    saved = train_from_dataset(
        train,
        dev,
        tmp_path / "model",
        overrides=[
            "model.hidden=16",
            "model.dropout=0.0",
            "train.epochs=3",
            "train.batch_size=4",
            "train.lr=0.01",
            "train.threads=1",
        ],
    )
    assert saved.scores["dev"]["f1"] == 1.0
    tagger = load(tmp_path / "model")
    assert tagger.tag_tokens(["Mara", "Quist", "visited", "Oslo", "."]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "O",
    ]


def test_train_from_dataset_ensemble(tmp_path: Path) -> None:
    train = tagged(TOKENS * 20, TAGS * 20, NAMES)
    saved = train_from_dataset(
        train,
        tagged(TOKENS, TAGS, NAMES),
        tmp_path / "model",
        overrides=["model.members=2", "model.hidden=8", "train.epochs=2", "train.threads=2"],
        seed=3,
    )

    assert isinstance(saved.model, EnsembleTagger)
    assert [member["seed"] for member in saved.scores["members"]] == [6, 7]
    assert isinstance(load_model(tmp_path / "model").model, EnsembleTagger)


def test_train_from_dataset_keeps_earlier_run(tmp_path: Path) -> None:
    train = tagged(TOKENS * 4, TAGS * 4, NAMES)
    settings = ["model.hidden=8", "train.epochs=1", "train.threads=1"]
    output = tmp_path / "model"
    train_from_dataset(train, None, output, overrides=settings)
    weights = (output / "model.safetensors").read_bytes()

    with pytest.raises(ConfigError, match="already contains a model"):
        train_from_dataset(train, None, output, overrides=settings, seed=8)
    assert (output / "model.safetensors").read_bytes() == weights

    train_from_dataset(train, None, output, overrides=settings, seed=8, overwrite=True)
    assert (output / "model.safetensors").read_bytes() != weights


def test_train_from_dataset_with_dev_needs_dev(tmp_path: Path) -> None:
    train = tagged(TOKENS, TAGS, NAMES)
    output = tmp_path / "model"

    with pytest.raises(ConfigError, match=r"give one with --dev \(dev= in Python\)"):
        train_from_dataset(train, None, output, overrides=["train.with_dev=true"])
    assert not output.exists()


def test_train_model_rejects_members(tmp_path: Path) -> None:
    corpus = corpus_from_dataset(tagged(TOKENS, TAGS, NAMES))
    spec = RunSpec(train=corpus.path, dev=None, output=str(tmp_path / "model"))
    with pytest.raises(ConfigError, match=r"model\.members=2"):
        train_model(spec, ModelConfig(members=2), TrainConfig(), corpora=(corpus, None, None))
