"""Batches cut from an encoded corpus hold what ``encode_batch`` builds from the same sentences."""

from __future__ import annotations

import random

import pytest
import torch

from elman.data.batch import IGNORE_INDEX, Batch, encode_batch
from elman.data.encoded import EncodedCorpus
from elman.data.vocab import UNK_ID, Vocabularies

SENTENCES = [
    ["Ines", "met", "Olu", "in", "Lagos", "."],
    ["Olu", "left", "Lagos"],
    ["Internationalisation", "met", "Ines"],
    ["."],
    ["Aa", "Bb", "Cc", "Dd", "Ee", "met", "Ines", "in", "Lagos", "and", "Olu"],
]
TAGS = [
    ["B-PER", "O", "B-PER", "O", "B-LOC", "O"],
    ["B-PER", "O", "B-LOC"],
    ["O", "O", "B-PER"],
    ["O"],
    ["O", "O", "O", "O", "O", "O", "B-PER", "O", "B-LOC", "O", "B-MISC"],
]


def _vocab() -> Vocabularies:
    # The last sentence's tag B-MISC and its first five words are unknown to this vocabulary.
    return Vocabularies.build(SENTENCES[:4], TAGS[:4])


def _per_position_chars(batch: Batch) -> torch.Tensor:
    """Characters of the token at each real position, padded to the batch's width."""
    return batch.chars[batch.char_index[batch.mask]]


@pytest.mark.parametrize("chars", [True, False])
@pytest.mark.parametrize("rows", [[0, 1, 2, 3, 4], [4, 2], [3], [1, 1, 0]])
def test_encoded_batch_equals_encode_batch(rows: list[int], chars: bool) -> None:
    vocab = _vocab()
    corpus = EncodedCorpus(vocab, SENTENCES, TAGS, chars=chars, max_word_chars=8)
    expected = encode_batch(
        vocab,
        [SENTENCES[i] for i in rows],
        [TAGS[i] for i in rows],
        chars=chars,
        max_word_chars=8,
    )
    got = corpus.batch(rows, rare_unk=None)

    for name in ("words", "casing", "mask", "lengths", "tags"):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name
    assert got.chars.shape == expected.chars.shape
    assert torch.equal(_per_position_chars(got), _per_position_chars(expected))
    assert torch.equal(got.char_index == 0, expected.char_index == 0)
    assert torch.equal(got.chars[0], expected.chars[0])  # the padding row


def test_encoded_batch_unknown_tags_and_words() -> None:
    corpus = EncodedCorpus(_vocab(), SENTENCES, TAGS, chars=False)
    batch = corpus.batch([4], rare_unk=None)
    assert batch.tags is not None
    assert batch.tags[0, -1] == IGNORE_INDEX
    assert (batch.words[0, :5] == UNK_ID).all()


def test_encoded_batch_rare_word_replacement() -> None:
    # Letters only: digits are normalised, so "w1" and "w2" would be one word.
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [a + b + c for a in letters for b in letters for c in letters[:6]]
    sentences = [[word, "common"] for word in words]
    tags = [["O", "O"]] * len(sentences)
    vocab = Vocabularies.build([*sentences, ["common"]], [*tags, ["O"]])
    corpus = EncodedCorpus(vocab, sentences, tags, chars=False)
    rows = list(range(len(sentences)))

    first = corpus.batch(rows, rare_unk=(0.3, random.Random(5)))
    again = corpus.batch(rows, rare_unk=(0.3, random.Random(5)))
    assert torch.equal(first.words, again.words)

    replaced = float((first.words[:, 0] == UNK_ID).float().mean())
    assert abs(replaced - 0.3) < 0.03
    assert (first.words[:, 1] != UNK_ID).all()  # "common" is seen more than once
    assert (corpus.batch(rows, rare_unk=(0.0, random.Random(5))).words != UNK_ID).all()


def test_encoded_batch_empty_sentence() -> None:
    corpus = EncodedCorpus(_vocab(), [[], ["Olu"]], [[], ["B-PER"]], chars=True)
    batch = corpus.batch([0, 1], rare_unk=None)
    assert batch.lengths.tolist() == [0, 1]
    assert batch.mask.tolist() == [[False], [True]]


def _sentence_rows(batch: Batch, field: str) -> list[list[int]]:
    """Return ``field`` of each sentence of ``batch`` per real position, as lists."""
    values = getattr(batch, field)
    return [values[i, : int(n)].tolist() for i, n in enumerate(batch.lengths)]


@pytest.mark.parametrize("chars", [True, False])
def test_lowercase_all_equals_lowercased_text(chars: bool) -> None:
    vocab = _vocab()
    corpus = EncodedCorpus(vocab, SENTENCES, TAGS, chars=chars, max_word_chars=8)
    rows = [0, 1, 2, 3, 4]
    lowered = [[token.lower() for token in SENTENCES[i]] for i in rows]
    expected = encode_batch(vocab, lowered, [TAGS[i] for i in rows], chars=chars, max_word_chars=8)

    got = corpus.batch(rows, rare_unk=None, lowercase=(1.0, random.Random(3)))

    for name in ("words", "casing", "tags"):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name
    assert torch.equal(_per_position_chars(got), _per_position_chars(expected))
    assert not torch.equal(got.casing, corpus.batch(rows, rare_unk=None).casing)


def test_lowercase_draws_whole_sentences() -> None:
    sentences = [["Ines", "met", "Olu", "in", "Lagos"]] * 400
    tags = [["B-PER", "O", "B-PER", "O", "B-LOC"]] * 400
    vocab = Vocabularies.build(sentences, tags)
    corpus = EncodedCorpus(vocab, sentences, tags, chars=True)
    cased = _sentence_rows(corpus.batch([0], rare_unk=None), "casing")[0]
    lower = _sentence_rows(
        corpus.batch([0], rare_unk=None, lowercase=(1.0, random.Random(1))), "casing"
    )[0]

    batch = corpus.batch(list(range(400)), rare_unk=None, lowercase=(0.25, random.Random(7)))
    rows = _sentence_rows(batch, "casing")

    assert all(row in (cased, lower) for row in rows)
    assert 60 <= sum(row == lower for row in rows) <= 140  # 100 expected
    assert corpus.batch([0], rare_unk=None, lowercase=(0.0, random.Random(1))).casing.tolist() == [
        cased
    ]
