"""Random Unicode text fed to the tokenizer and to a trained tagger."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elman.tag.predictor import TaggedText, Tagger, load
from elman.tag.tokenize import SEPARATOR_CHARACTERS, iter_sentences, tokenize, tokenize_document
from tests.fuzz import fuzz_settings, texts


@pytest.fixture(scope="module")
def tagger(tiny_model: Path) -> Tagger:
    return load(tiny_model)


def _without_separators(text: str) -> str:
    return "".join(ch for ch in text if not (ch.isspace() or ch in SEPARATOR_CHARACTERS))


@fuzz_settings(scale=3.0)
@given(text=texts(40))
def test_tokens_cover_text(text: str) -> None:
    tokens = tokenize(text)
    for token in tokens:
        assert token.text
        assert text[token.start : token.end] == token.text
    for first, second in itertools.pairwise(tokens):
        assert first.end <= second.start
    assert "".join(token.text for token in tokens) == _without_separators(text)


@fuzz_settings(scale=2.0)
@given(text=texts(40), limit=st.integers(min_value=1, max_value=6))
def test_sentences_partition_tokens(text: str, limit: int) -> None:
    tokens = tokenize(text)
    sentences = tokenize_document(text)
    assert list(iter_sentences(text)) == sentences
    assert [token for sentence in sentences for token in sentence] == tokens
    capped = list(iter_sentences(text, limit))
    assert all(0 < len(sentence) <= limit for sentence in capped)
    assert [token for sentence in capped for token in sentence] == tokens


def _check_tagged(tagger: Tagger, tagged: TaggedText) -> None:
    text = tagged.text
    assert len(tagged.tags) == len(tagged.sentences)
    for sentence, tags in zip(tagged.sentences, tagged.tags, strict=True):
        assert len(tags) == len(sentence)
        assert set(tags) <= set(tagger.vocab.tags)
    previous_end = 0
    for entity in tagged.entities:
        assert text[entity.start : entity.end] == entity.text
        assert previous_end <= entity.start < entity.end
        assert entity.label in tagger.labels
        assert 0.0 <= entity.confidence <= 1.0 + 1e-6
        previous_end = entity.end


@fuzz_settings(scale=1.0)
@given(text=texts(40))
def test_tagger_any_text(tagger: Tagger, text: str) -> None:
    _check_tagged(tagger, tagger.tag_text(text))


@fuzz_settings(scale=0.5)
@given(text=texts(60), size=st.integers(min_value=1, max_value=3))
def test_pieces_equal_whole_text(tagger: Tagger, text: str, size: int) -> None:
    whole = tagger.tag_text(text)
    pieces = list(tagger.tag_chunks(text, sentences_per_chunk=size))
    for piece in pieces:
        _check_tagged(tagger, piece)
    assert [s for piece in pieces for s in piece.sentences] == whole.sentences
    assert [t for piece in pieces for t in piece.tags] == whole.tags
    entities = [e for piece in pieces for e in piece.entities]
    assert [(e.start, e.end, e.label) for e in entities] == [
        (e.start, e.end, e.label) for e in whole.entities
    ]
    for piece_entity, whole_entity in zip(entities, whole.entities, strict=True):
        assert piece_entity.confidence == pytest.approx(whole_entity.confidence, abs=1e-5)


@fuzz_settings(scale=0.5)
@given(documents=st.lists(texts(15), max_size=4))
def test_batched_texts_equal_single(tagger: Tagger, documents: list[str]) -> None:
    batched = tagger.tag_texts(documents)
    assert [result.tags for result in batched] == [tagger.tag_text(d).tags for d in documents]


@fuzz_settings(scale=1.0)
@given(tokens=st.lists(texts(3), max_size=12), k=st.integers(min_value=1, max_value=3))
def test_tag_tokens_any_tokens(tagger: Tagger, tokens: list[str], k: int) -> None:
    tags = tagger.tag_tokens(tokens)
    assert len(tags) == len(tokens)
    assert set(tags) <= set(tagger.vocab.tags)
    for _, path in tagger.nbest(tokens, k):
        assert len(path) == len(tokens)
