"""Document-level label consistency: voting, filling, documents kept apart, and its callers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from elman.data.batch import encode_batch
from elman.data.readers import read_corpus
from elman.data.scheme import count_violations, to_spans
from elman.evaluate.run import evaluate
from elman.model.consistency import harmonize, harmonize_corpus
from elman.tag.documents import _tag_token_files
from elman.tag.predictor import Tagger, load
from elman.train.launch import launch_training


def _sentence(text: str) -> list[str]:
    return text.split()


def test_majority_label_wins() -> None:
    sentences = [_sentence("Blair spoke"), _sentence("Blair left"), _sentence("Blair won")]
    tags = [["B-PER", "O"], ["B-PER", "O"], ["B-ORG", "O"]]
    assert harmonize(sentences, tags)[2] == ["B-PER", "O"]


def test_tie_keeps_own_label() -> None:
    sentences = [_sentence("Jordan spoke"), _sentence("Jordan left")]
    tags = [["B-PER", "O"], ["B-LOC", "O"]]
    assert harmonize(sentences, tags) == tags


def test_person_name_part_fills_later_mention() -> None:
    sentences = [_sentence("Tony Blair spoke"), _sentence("then Blair left")]
    tags = [["B-PER", "I-PER", "O"], ["O", "O", "O"]]
    assert harmonize(sentences, tags)[1] == ["O", "B-PER", "O"]


def test_half_vote_loses_to_whole_vote() -> None:
    sentences = [_sentence("Tony Blair spoke"), _sentence("then Blair left")]
    tags = [["B-PER", "I-PER", "O"], ["O", "B-ORG", "O"]]
    assert harmonize(sentences, tags)[1] == ["O", "B-ORG", "O"]


def test_untagged_mention_is_filled() -> None:
    sentences = [_sentence("Talks in New York ended"), _sentence("he flew to New York today")]
    tags = [["O", "O", "B-LOC", "I-LOC", "O"], ["O"] * 6]
    assert harmonize(sentences, tags)[1] == ["O", "O", "O", "B-LOC", "I-LOC", "O"]


@pytest.mark.parametrize(
    "text",
    [
        "he met Boston Globe staff",  # a capitalised token right after the mention
        "he met Globe Boston staff",  # a capitalised token right before it
        "visit boston now",  # not capitalised
    ],
)
def test_mention_is_not_filled(text: str) -> None:
    sentences = [_sentence("Boston won"), _sentence(text)]
    tags = [["B-ORG", "O"], ["O"] * len(sentences[1])]
    assert harmonize(sentences, tags)[1] == ["O"] * len(sentences[1])


def test_partly_tagged_mention_is_not_filled() -> None:
    sentences = [_sentence("New York won"), _sentence("in New York")]
    tags = [["B-ORG", "I-ORG", "O"], ["O", "O", "B-LOC"]]
    assert harmonize(sentences, tags)[1] == ["O", "O", "B-LOC"]


def test_documents_do_not_vote_for_each_other() -> None:
    sentences = [_sentence("Paris won"), _sentence("Paris won"), _sentence("Paris spoke")]
    tags = [["B-ORG", "O"], ["B-ORG", "O"], ["B-PER", "O"]]

    together = harmonize_corpus(sentences, tags)
    apart = harmonize_corpus(sentences, tags, [0, 0, 1])

    assert together[2] == ["B-ORG", "O"]
    assert apart[2] == ["B-PER", "O"]


def test_documents_may_interleave() -> None:
    sentences = [_sentence("Paris won"), _sentence("Paris spoke"), _sentence("Paris won")]
    tags = [["B-ORG", "O"], ["B-PER", "O"], ["O", "O"]]
    result = harmonize_corpus(sentences, tags, [0, 1, 0])
    assert result == [["B-ORG", "O"], ["B-PER", "O"], ["B-ORG", "O"]]


def test_document_count_mismatch_is_value_error() -> None:
    with pytest.raises(ValueError, match="2 sentences but 1 document numbers"):
        harmonize_corpus([["a"], ["b"]], [["O"], ["O"]], [0])


TOKENS = st.sampled_from(["Blair", "Paris", "New", "York", "the", "of", "Tony"])
TAGS = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"])


@st.composite
def _documents(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    sentences = [draw(st.lists(TOKENS, min_size=n, max_size=n)) for n in lengths]
    tags = [draw(st.lists(TAGS, min_size=n, max_size=n)) for n in lengths]
    # Read as conlleval does, then written back: valid IOB2 with the same entities.
    return sentences, [_iob2(sentence_tags) for sentence_tags in tags]


def _iob2(tags: list[str]) -> list[str]:
    result = ["O"] * len(tags)
    for start, end, label in to_spans(tags, "iob2"):
        result[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return result


@settings(max_examples=200, deadline=None)
@given(_documents())
def test_entity_boundaries_survive(document: tuple[list[list[str]], list[list[str]]]) -> None:
    sentences, tags = document
    result = harmonize(sentences, tags)

    for before, after in zip(tags, result, strict=True):
        assert len(after) == len(before)
        assert count_violations(after, "iob2") == 0
        boundaries_after = {(start, end) for start, end, _ in to_spans(after, "iob2")}
        assert {(start, end) for start, end, _ in to_spans(before, "iob2")} <= boundaries_after


def _consistent_tagger(tiny_model: Path) -> Tagger:
    tagger = load(tiny_model)
    config = dataclasses.replace(tagger.model.config, document_consistency=True)
    tagger.model.config = config
    return tagger


def test_tagger_harmonizes_each_text_alone(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagger = _consistent_tagger(tiny_model)
    seen = _recorder("elman.tag.predictor", monkeypatch)
    tagger.tag_texts(["John lives in Oslo. He likes it.", "Mary left."])
    assert seen == [[0, 0, 1]]


@pytest.mark.parametrize("forced", ["O", "B-LOC"])
def test_tagger_confidence_follows_the_new_tag(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, forced: str
) -> None:
    tagger = _consistent_tagger(tiny_model)
    tokens = ["Oslo", "is", "cold", "."]
    with torch.inference_mode():
        batch = encode_batch(tagger.vocab, [tokens], chars=True)
        scores = tagger.model.emissions(batch)
        probs = tagger.model.tag_probabilities(scores, batch.mask)[0]  # (time, num_tags)
    expected = probs[:, tagger.vocab.tags.index(forced)].tolist()

    def force(sentences: list[list[str]], tags: list[list[str]], documents: object):
        return [[forced] * len(sentence_tags) for sentence_tags in tags]

    monkeypatch.setattr("elman.tag.predictor.harmonize_corpus", force)
    tags, confidences = tagger._predict([tokens])[0]

    assert tags == [forced] * 4
    assert confidences == pytest.approx(expected)


TWO_DOCUMENTS = """\
-DOCSTART- O

John B-PER
lives O
in O
Oslo B-LOC
. O

John B-PER
left O
. O

-DOCSTART- O

Mary B-PER
stayed O
. O
"""


def _recorder(module: str, monkeypatch: pytest.MonkeyPatch) -> list[list[int] | None]:
    """Replace ``harmonize_corpus`` in ``module`` by a wrapper that records the documents."""
    seen: list[list[int] | None] = []

    def record(sentences: list[list[str]], tags: list[list[str]], documents: list[int] | None):
        seen.append(None if documents is None else list(documents))
        return harmonize_corpus(sentences, tags, documents)

    monkeypatch.setattr(f"{module}.harmonize_corpus", record)
    return seen


def test_evaluate_passes_documents(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus_file = tmp_path / "two.conll"
    corpus_file.write_text(TWO_DOCUMENTS, encoding="utf-8")
    seen = _recorder("elman.tag.predictor", monkeypatch)

    evaluate(_consistent_tagger(tiny_model), read_corpus(corpus_file))

    assert seen == [[0, 0, 1]]


def test_training_scores_dev_by_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus_file = tmp_path / "two.conll"
    corpus_file.write_text(TWO_DOCUMENTS, encoding="utf-8")
    seen = _recorder("elman.model.inference", monkeypatch)

    launch_training(
        train_path=str(corpus_file),
        dev=str(corpus_file),
        test=str(corpus_file),
        output=tmp_path / "model",
        overrides=[
            "model.hidden=8",
            "model.word_dim=8",
            "model.document_consistency=true",
            "train.epochs=2",
            "train.threads=1",
        ],
        progress=False,
    )

    # Dev after each of the two epochs, then the final dev and test scores.
    assert seen == [[0, 0, 1]] * 4


def test_tagger_rejects_wrong_document_count(tiny_model: Path) -> None:
    tagger = load(tiny_model)
    with pytest.raises(ValueError, match="2 sentences but 3 document numbers"):
        tagger.tag_sentences([["a"], ["b"]], [0, 0, 1])


def test_token_file_tagging_passes_documents(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens_file = tmp_path / "two.txt"
    tokens_file.write_text(
        "-DOCSTART-\n\nJohn\nleft\n\nMary\nstayed\n\n-DOCSTART-\n\nOslo\n", "utf-8"
    )
    seen = _recorder("elman.tag.predictor", monkeypatch)

    output = "".join(_tag_token_files(_consistent_tagger(tiny_model), [tokens_file], "conll"))

    assert seen == [[0, 0, 1]]
    assert output.count("\n\n") >= 2
