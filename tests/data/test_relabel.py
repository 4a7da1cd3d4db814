"""Renaming the entity types of a corpus that joins another's training data."""

from __future__ import annotations

from pathlib import Path

import pytest

from elman.data.readers import read_corpus
from elman.data.relabel import corpus_entity_types, parse_type_map, relabel_corpus
from elman.data.scheme import to_spans
from elman.data.sentence import Corpus, Sentence
from elman.errors import ConfigError, DataError


def _corpus(*rows: tuple[str, ...]) -> Corpus:
    sentences = [Sentence(tuple(f"w{i}" for i in range(len(tags))), tags) for tags in rows]
    return Corpus(sentences, path="extra.conll")


def test_parse_pairs_with_spaces() -> None:
    assert parse_type_map(" PER = person, LOC=location ,MISC=O,") == {
        "PER": "person",
        "LOC": "location",
        "MISC": "O",
    }
    assert parse_type_map("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PER", "not FROM=TO"),
        ("=person", "not FROM=TO"),
        ("PER=", "not FROM=TO"),
        ("PER=a=b", "not FROM=TO"),
        ("PER=B-person", "without B- or I-"),
        ("PER=person,PER=O", "mapped twice"),
    ],
)
def test_bad_maps_rejected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_type_map(text)


def test_types_renamed_and_dropped() -> None:
    corpus = _corpus(("B-PER", "I-PER", "O", "B-ORG", "I-ORG", "B-LOC"))
    renamed = relabel_corpus(
        corpus, {"PER": "person", "ORG": "O", "LOC": "location"}, {"person", "location"}
    )

    assert renamed.sentences[0].tags == ("B-person", "I-person", "O", "O", "O", "B-location")
    assert renamed.sentences[0].tokens == corpus.sentences[0].tokens
    assert corpus.sentences[0].tags == ("B-PER", "I-PER", "O", "B-ORG", "I-ORG", "B-LOC")


def test_merged_adjacent_spans_stay_apart() -> None:
    corpus = _corpus(("B-PER", "I-PER", "B-LOC", "O"))
    renamed = relabel_corpus(corpus, {"PER": "name", "LOC": "name"}, {"name"})

    tags = renamed.sentences[0].tags
    assert tags is not None
    assert to_spans(tags) == [(0, 2, "name"), (2, 3, "name")]


def test_others_default_and_known_types_kept() -> None:
    corpus = _corpus(("B-person", "B-ORG", "B-MISC", "I-MISC"))
    renamed = relabel_corpus(corpus, {"*": "O", "person": "person"}, {"person"})
    assert renamed.sentences[0].tags == ("B-person", "O", "O", "O")

    unmapped = relabel_corpus(_corpus(("B-person", "O")), {}, {"person"})
    assert unmapped.sentences[0].tags == ("B-person", "O")


def test_unknown_type_names_file_and_fix() -> None:
    corpus = _corpus(("B-PER", "O", "B-MISC"), ("B-EVENT",))
    with pytest.raises(DataError) as caught:
        relabel_corpus(corpus, {"PER": "person"}, {"person", "location"})

    message = str(caught.value)
    assert message.startswith("extra.conll: ")
    assert "EVENT, MISC are not types of the training corpus (location, person)" in message
    assert "train.extra_types" in message
    assert "EVENT=O" in message


def test_conll_types_onto_wnut_types(shared_data: Path) -> None:
    conll = read_corpus(shared_data / "conll2003" / "train.txt")
    wnut = read_corpus(shared_data / "wnut17" / "train.conll")
    known = corpus_entity_types(wnut)
    mapping = parse_type_map("PER=person,LOC=location,ORG=corporation,MISC=O")

    renamed = relabel_corpus(conll, mapping, known)

    def count(corpus: Corpus, label: str) -> int:
        return sum(
            1
            for sentence in corpus.sentences
            for _, _, found in to_spans(sentence.tags or ())
            if found == label
        )

    assert corpus_entity_types(renamed) == {
        "person",
        "location",
        "corporation",
    }
    assert count(renamed, "person") == count(conll, "PER")
    assert count(renamed, "corporation") == count(conll, "ORG")
    assert renamed.tokens == conll.tokens
