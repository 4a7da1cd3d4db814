"""Evidence from other mentions in a document: the arithmetic, and decoding that uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.model.evidence import mention_evidence
from elman.model.inference import decode_in_documents

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def _probs(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_evidence_is_mean_of_other_mentions() -> None:
    sentences = [["Japan", "won"], ["JAPAN", "lost"], ["japan", "Japan"]]
    probabilities = [
        _probs([0.2, 0.6, 0.0, 0.2, 0.0], [1, 0, 0, 0, 0]),
        _probs([0.6, 0.0, 0.0, 0.4, 0.0], [1, 0, 0, 0, 0]),
        _probs([1, 0, 0, 0, 0], [0.0, 0.3, 0.3, 0.0, 0.4]),
    ]
    evidence = mention_evidence(sentences, probabilities, TAGS, weight=2.0)

    # Type columns O, ORG, PER. Others of "Japan" (first): JAPAN (0.6, 0.4, 0), Japan (0, 0.4, 0.6).
    first = 2.0 * np.array([0.3, 0.3, 0.3, 0.4, 0.4])
    assert evidence[0][0] == pytest.approx(first)
    # Others of "JAPAN": (0.2, 0.2, 0.6) and (0, 0.4, 0.6).
    assert evidence[1][0] == pytest.approx(2.0 * np.array([0.1, 0.6, 0.6, 0.3, 0.3]))
    # Lowercase tokens neither give nor get evidence.
    assert not evidence[0][1].any()
    assert not evidence[2][0].any()
    assert evidence[2][1] == pytest.approx(2.0 * np.array([0.4, 0.3, 0.3, 0.3, 0.3]))


def test_evidence_keeps_documents_apart() -> None:
    sentences = [["Blair"], ["Blair"], ["Blair"]]
    probabilities = [_probs([0, 1, 0, 0, 0])] * 3
    evidence = mention_evidence(sentences, probabilities, TAGS, documents=[0, 1, 0])

    assert not evidence[1].any()
    assert evidence[0][0, 1] == pytest.approx(4.0)
    assert evidence[2][0, 2] == pytest.approx(4.0)


def test_evidence_dashed_types_and_empty_sentences() -> None:
    tags = ["O", "B-creative-work", "I-creative-work"]
    sentences = [["Up"], [], ["Up"]]
    probabilities = [_probs([0.5, 0.5, 0.0]), np.zeros((0, 3), np.float32), _probs([1, 0, 0])]
    evidence = mention_evidence(sentences, probabilities, tags, weight=1.0)

    assert evidence[1].shape == (0, 3)
    assert evidence[2][0] == pytest.approx([0.5, 0.5, 0.5])


def test_evidence_rejects_count_mismatch() -> None:
    with pytest.raises(ValueError, match="2 sentences, 1 probability arrays and 2 document"):
        mention_evidence([["A"], ["B"]], [_probs([1, 0, 0, 0, 0])], TAGS, [0, 0])


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_config_rejects_bad_weights(value: float) -> None:
    with pytest.raises(ConfigError, match=r"model\.document_evidence"):
        ModelConfig(document_evidence=value)


def _model(output: str, evidence: float) -> ElmanTagger:
    config = ModelConfig(output=output, document_consistency=True, document_evidence=evidence)
    return ElmanTagger(config, num_words=10, num_chars=10, tags=TAGS).eval()


# "Blair" is clearly a person in the first sentence and leans to an organisation in the second.
SENTENCES = [["Blair", "said"], ["Blair", "won"]]
SCORES = [
    torch.tensor([[0.0, 9.0, 0.0, 0.0, 0.0], [9.0, 0.0, 0.0, 0.0, 0.0]]),
    torch.tensor([[0.0, 1.0, 0.0, 3.0, 0.0], [9.0, 0.0, 0.0, 0.0, 0.0]]),
]


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_decoding_follows_the_clear_mention(output: str) -> None:
    model = _model(output, evidence=4.0)

    together = decode_in_documents(model, SENTENCES, SCORES, [0, 0])
    apart = decode_in_documents(model, SENTENCES, SCORES, [0, 1])

    assert [path for path, _ in together] == [[1, 0], [1, 0]]
    assert [path for path, _ in apart] == [[1, 0], [3, 0]]


def test_decoding_without_evidence_weight() -> None:
    model = _model("crf", evidence=0.0)
    decoded = decode_in_documents(model, SENTENCES, SCORES, [0, 0])
    assert [path for path, _ in decoded] == [[1, 0], [3, 0]]


def test_decoding_confidences_use_evidence() -> None:
    model = _model("softmax", evidence=4.0)
    sentences = [*SENTENCES, ["the", "end"], []]
    scores = [*SCORES, torch.tensor([[5.0, 0, 0, 0, 0], [5.0, 0, 0, 0, 0]]), torch.zeros(0, 5)]

    decoded = decode_in_documents(model, sentences, scores, None, confidences=True)

    second = decoded[1][1]
    assert second is not None
    # The second "Blair" gains 4 times the type probabilities of the first (O, PER, PER, ORG, ORG).
    first = torch.softmax(SCORES[0][0], dim=0)
    by_type = torch.stack([first[0], first[1] + first[2], first[1] + first[2]])
    by_type = torch.cat([by_type, (first[3] + first[4]).repeat(2)])
    expected = torch.softmax(SCORES[1][0] + 4 * by_type, dim=0)
    assert second[0] == pytest.approx(expected, abs=1e-6)
    # A sentence without capitalised words keeps its own probabilities.
    third = decoded[2][1]
    assert third is not None
    assert third == pytest.approx(torch.softmax(scores[2], dim=-1))
    assert decoded[3][0] == []
