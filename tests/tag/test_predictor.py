"""The Tagger: tokens to tags, text to entities with exact offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from elman.tag.predictor import Tagger, load


@pytest.fixture(scope="module")
def tagger(tiny_model: Path) -> Tagger:
    return load(tiny_model)


def test_empty_text_gives_no_entities(tagger: Tagger) -> None:
    assert tagger("") == []
    assert tagger.tag_text("   \n\t").sentences == []


def test_tag_tokens_returns_one_tag_per_token(tagger: Tagger) -> None:
    tags = tagger.tag_tokens(["Mara", "Quist", "joined", "Pellucid", "Labs", "."])
    assert len(tags) == 6
    assert set(tags) <= set(tagger.vocab.tags)


def test_tag_tokens_of_nothing(tagger: Tagger) -> None:
    assert tagger.tag_tokens([]) == []


def test_entity_offsets_point_into_text(tagger: Tagger) -> None:
    text = "  Mara Quist joined Pellucid Labs in Oslo.\n\nJonas Feld visited Bergen!"
    for entity in tagger(text):
        assert text[entity.start : entity.end] == entity.text
        assert 0.0 <= entity.confidence <= 1.0


def test_long_sentence_gets_one_tag_per_token(tagger: Tagger) -> None:
    tokens = ["word"] * 3000
    assert len(tagger.tag_tokens(tokens)) == 3000


def test_batch_equals_one_by_one(tagger: Tagger) -> None:
    sentences = [["Mara", "Quist", "visited", "Oslo"], ["Hello"], ["Jonas", "Feld", "left", "."]]
    batched = tagger.tag_sentences(sentences)
    assert batched == [tagger.tag_tokens(s) for s in sentences]


def test_order_of_calls_does_not_matter(tagger: Tagger) -> None:
    first = tagger("Jonas Feld visited Bergen.")
    tagger("Mara Quist joined Pellucid Labs.")
    assert tagger("Jonas Feld visited Bergen.") == first


def test_labels_are_entity_types(tagger: Tagger) -> None:
    assert tagger.labels == ["LOC", "MISC", "ORG", "PER"]


def test_nbest_first_equals_decoded_tags(tagger: Tagger) -> None:
    tokens = ["Mara", "Quist", "joined", "Pellucid", "Labs", "."]
    best = tagger.nbest(tokens, 3)
    assert len(best) == 3
    assert best[0][1] == tagger.tag_tokens(tokens)
    assert best[0][0] >= best[1][0] >= best[2][0]
    assert len({tuple(tags) for _, tags in best}) == 3


def test_tags_match_confidence_path(tagger: Tagger) -> None:
    text = "Mara Quist flew to Lund . Then she met Jonas Berg in Oslo ."
    tagged = tagger.tag_text(text)
    sentences = [[token.text for token in sentence] for sentence in tagged.sentences]
    assert tagger.tag_sentences(sentences) == tagged.tags


def test_repeated_tokens_share_char_row(tagger: Tagger) -> None:
    from elman.data.batch import encode_batch

    batch = encode_batch(tagger.vocab, [["Lund", "and", "Lund"], ["and"]], chars=True)
    # A padding row, then one row per distinct token: Lund, and.
    assert batch.chars.shape[0] == 3
    assert batch.char_index.tolist() == [[1, 2, 1], [2, 0, 0]]
    assert not batch.chars[0].any()


def test_workers_give_same_tags(tiny_model: Path, tagger: Tagger) -> None:
    from elman.data.readers import read_corpus

    sentences = [list(s.tokens) for s in read_corpus("builtin:train").sentences]
    # Batches of 16 give many batches, so that both workers tag some of them.
    parallel = load(tiny_model, workers=2)
    parallel.batch_size = 16
    assert parallel.tag_sentences(sentences) == tagger.tag_sentences(sentences)
    assert parallel.tag_texts(["Mara Quist flew to Lund ."] * 40) == tagger.tag_texts(
        ["Mara Quist flew to Lund ."] * 40
    )


def test_zero_workers_is_invalid(tiny_model: Path) -> None:
    from elman.errors import ModelError

    with pytest.raises(ModelError, match="workers=0"):
        load(tiny_model, workers=0)
