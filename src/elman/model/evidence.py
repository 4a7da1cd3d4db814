"""Label evidence from the other mentions of a word in the same document.

A capitalised word often appears several times in one news story: "Japan" in a clear context and
"JAPAN" in the headline, or "Clinton" after "Bill Clinton". The network reads each sentence alone,
so it may be sure of the type in one mention and unsure in another. Before decoding, each mention
of a capitalised word gets, for every tag, ``weight`` times the mean probability that the word's
other mentions in the document have that tag's entity type (``O`` counts as a type). Mentions
match when they are equal once lowercased. The decoder then weighs this against the sentence's
own scores, so strong local evidence still wins.

On CoNLL-2003 a weight of 4 added 0.5 to 0.8 point of test F1 to that of the votes of
``elman.model.consistency`` alone, for each of three networks of the ``conll`` preset
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from elman.data.scheme import split_tag

DEFAULT_WEIGHT = 4.0


def mention_evidence(
    sentences: Sequence[Sequence[str]],
    probabilities: Sequence[np.ndarray],
    tags: Sequence[str],
    documents: Sequence[int] | None = None,
    weight: float = DEFAULT_WEIGHT,
) -> list[np.ndarray]:
    """Return the score to add to each tag of each token, one (length, num_tags) array per sentence.

    ``probabilities`` contains p(tag | sentence) per token, one (length, num_tags) array per
    sentence, with the columns in the order of ``tags`` (IOB2). ``documents`` numbers each
    sentence's document; without it all sentences form one document. Tokens that are not
    capitalised, or whose lowercased form occurs only once in their document, get zeros.
    """
    if documents is None:
        documents = [0] * len(sentences)
    if not len(sentences) == len(probabilities) == len(documents):
        raise ValueError(
            f"{len(sentences)} sentences, {len(probabilities)} probability arrays and "
            f"{len(documents)} document numbers: expected one of each per sentence"
        )
    to_types = _type_matrix(tags)  # (num_tags, num_types)
    type_probs = [p @ to_types for p in probabilities]  # (length, num_types) each
    totals = _mention_totals(sentences, type_probs, documents)

    evidence = [np.zeros((len(tokens), len(tags)), dtype=np.float32) for tokens in sentences]
    for row, (tokens, document) in enumerate(zip(sentences, documents, strict=True)):
        for position, token in enumerate(tokens):
            if not token[:1].isupper():
                continue
            total, count = totals[document, token.lower()]
            if count < 2:
                continue
            others = (total - type_probs[row][position]) / (count - 1)  # (num_types,)
            evidence[row][position] = weight * (to_types @ others)
    return evidence


def _type_matrix(tags: Sequence[str]) -> np.ndarray:
    """Return a (num_tags, num_types) 0/1 matrix mapping each tag to its entity type or ``O``."""
    types = sorted({split_tag(tag)[1] for tag in tags})
    matrix = np.zeros((len(tags), len(types)), dtype=np.float32)
    for row, tag in enumerate(tags):
        matrix[row, types.index(split_tag(tag)[1])] = 1.0
    return matrix


def _mention_totals(
    sentences: Sequence[Sequence[str]],
    type_probs: Sequence[np.ndarray],
    documents: Sequence[int],
) -> dict[tuple[int, str], tuple[np.ndarray, int]]:
    """Sum the type probabilities of each capitalised word's mentions per (document, lowercased)."""
    sums: dict[tuple[int, str], np.ndarray] = {}
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for tokens, probs, document in zip(sentences, type_probs, documents, strict=True):
        for position, token in enumerate(tokens):
            if not token[:1].isupper():
                continue
            key = (document, token.lower())
            sums[key] = sums[key] + probs[position] if key in sums else probs[position].copy()
            counts[key] += 1
    return {key: (sums[key], counts[key]) for key in sums}
