"""Word lookup, unknown words, casing classes and the OOV rate."""

from __future__ import annotations

import pytest

from elman.data.readers import read_corpus
from elman.data.vocab import CASINGS, UNK_ID, Vocabularies, casing_id


def _vocab(**settings: bool) -> Vocabularies:
    return Vocabularies.build([["Paris", "is", "big"]], [["B-LOC", "O", "O"]], **settings)


def test_lookup_is_case_insensitive() -> None:
    vocab = _vocab()
    assert vocab.word_ids(["PARIS", "is", "BIG"]) == vocab.word_ids(["paris", "is", "big"])
    assert UNK_ID not in vocab.word_ids(["PARIS", "is", "BIG"])


def test_unknown_word_maps_to_unk() -> None:
    vocab = _vocab()
    assert vocab.word_ids(["Zzyzx"]) == [UNK_ID]
    assert vocab.words.items[UNK_ID] == "<unk>"


def test_digits_are_normalised() -> None:
    vocab = Vocabularies.build([["1996-08-22"]], [["O"]])
    assert vocab.word_ids(["2001-12-04"]) != [UNK_ID]


def test_vocabulary_round_trips_through_dict() -> None:
    vocab = _vocab()
    copy = Vocabularies.from_dict(vocab.to_dict())
    assert copy.words.items == vocab.words.items
    assert copy.tags == vocab.tags
    assert copy.word_ids(["PARIS", "Zzyzx"]) == vocab.word_ids(["PARIS", "Zzyzx"])


def test_tags_start_with_outside() -> None:
    assert _vocab().tags == ["O", "B-LOC"]


def test_unseen_tag_maps_to_minus_one() -> None:
    assert _vocab().tag_ids(["B-PER", "O"]) == [-1, 0]


@pytest.mark.parametrize(
    ("token", "casing"),
    [
        ("paris", "lower"),
        ("PARIS", "allcaps"),
        ("Paris", "initcap"),
        ("McDonald", "mixed"),
        ("1996", "numeric"),
        ("1996-08-22", "has_digit"),
        (",", "punct"),
        ("€", "punct"),
    ],
)
def test_casing_classes(token: str, casing: str) -> None:
    assert CASINGS[casing_id(token)] == casing


def test_conll_test_oov_rates(shared_data) -> None:  # type: ignore[no-untyped-def]
    conll = shared_data / "conll2003"
    train = [s.tokens for s in read_corpus(conll / "train.txt").sentences]
    test = [s.tokens for s in read_corpus(conll / "test.txt").sentences]
    assert sum(len(t) for t in test) == 46435

    exact = Vocabularies.build(train, [], lowercase=False, normalize_digits=False)
    lowered = Vocabularies.build(train, [], lowercase=True, normalize_digits=False)
    default = Vocabularies.build(train, [])
    assert len(exact.words) - 2 == 23623
    assert round(100 * exact.oov_rate(test), 2) == 12.18
    assert round(100 * lowered.oov_rate(test), 2) == 10.87
    assert round(100 * default.oov_rate(test), 2) == 8.28
