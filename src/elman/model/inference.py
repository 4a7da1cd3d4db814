"""Batched prediction shared by evaluation during training and by the tagger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch.nn.utils.rnn import pad_sequence

from elman.data.batch import Batch, encode_batch, length_batches
from elman.data.vocab import Vocabularies
from elman.model.consistency import harmonize_corpus
from elman.model.ensemble import Network
from elman.model.evidence import mention_evidence

Decoded = tuple[list[int], torch.Tensor | None]
"""A sentence's tag ids and, when confidences are requested, its (time, num_tags) probabilities."""


def predict_ids(
    model: Network,
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    *,
    batch_size: int = 256,
) -> list[list[int]]:
    """Return the tag ids of each sentence, in input order, each sentence decoded on its own."""
    results: list[list[int]] = [[] for _ in sentences]
    with _evaluating(model):
        for indices, batch in _batches(model, vocab, sentences, batch_size):
            paths = model.decode(model.emissions(batch), batch.mask)
            for index, path in zip(indices, paths, strict=True):
                results[index] = path
    return results


def predict_scores(
    model: Network,
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    *,
    batch_size: int = 256,
) -> list[torch.Tensor]:
    """Return the emission scores of each sentence, (length, num_tags) each, in input order."""
    results = [torch.zeros(0, len(model.tags)) for _ in sentences]
    with _evaluating(model):
        for indices, batch in _batches(model, vocab, sentences, batch_size):
            scores = model.emissions(batch)  # (batch, time, num_tags)
            for row, index in enumerate(indices):
                results[index] = scores[row, : len(sentences[index])]
    return results


def predict_tags(
    model: Network,
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    *,
    documents: Sequence[int] | None = None,
    batch_size: int = 256,
) -> list[list[str]]:
    """Return the IOB2 tags of each sentence, in input order.

    A model with ``document_consistency`` decodes each document's sentences together
    (``decode_in_documents``), then lets its entities vote on their labels. ``documents``
    numbers each sentence's document; without it all sentences form one document.
    """
    names = vocab.tags
    if not model.config.document_consistency:
        ids = predict_ids(model, vocab, sentences, batch_size=batch_size)
        return [[names[i] for i in row] for row in ids]
    scores = predict_scores(model, vocab, sentences, batch_size=batch_size)
    decoded = decode_in_documents(model, sentences, scores, documents, batch_size=batch_size)
    tags = [[names[i] for i in path] for path, _ in decoded]
    return harmonize_corpus(sentences, tags, documents)


def decode_in_documents(
    model: Network,
    sentences: Sequence[Sequence[str]],
    scores: Sequence[torch.Tensor],
    documents: Sequence[int] | None,
    *,
    confidences: bool = False,
    batch_size: int = 256,
) -> list[Decoded]:
    """Decode emission scores, (length, num_tags) per sentence, with the evidence of other mentions.

    Each sentence's scores gain ``mention_evidence`` from the tag probabilities of the rest of its
    document, weighted by ``model.config.document_evidence``, before decoding. With
    ``confidences`` each sentence also gets its tag probabilities under the scores it was
    decoded with.
    """
    weight = model.config.document_evidence
    probabilities: list[torch.Tensor] = []
    changed: list[int] = []
    with _evaluating(model):
        if weight > 0 or confidences:
            probabilities = _row_probabilities(model, scores, batch_size)
        if weight > 0:
            arrays = [p.numpy() for p in probabilities]
            evidence = mention_evidence(sentences, arrays, model.tags, documents, weight)
            changed = [i for i, e in enumerate(evidence) if e.any()]
            scores = [s + torch.from_numpy(e) for s, e in zip(scores, evidence, strict=True)]
        paths = _row_paths(model, scores, batch_size)
        if confidences and weight > 0:
            updated = _row_probabilities(model, [scores[i] for i in changed], batch_size)
            for index, probs in zip(changed, updated, strict=True):
                probabilities[index] = probs
    if not confidences:
        return [(path, None) for path in paths]
    return [(path, probs) for path, probs in zip(paths, probabilities, strict=True)]


@contextmanager
def _evaluating(model: Network) -> Iterator[None]:
    """Put the model in eval mode without gradients, and restore its mode on exit."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _batches(
    model: Network, vocab: Vocabularies, sentences: Sequence[Sequence[str]], batch_size: int
) -> Iterator[tuple[list[int], Batch]]:
    """Yield (sentence indices, encoded batch) for the non-empty sentences, grouped by length."""
    chars = model.config.char_encoder != "none"
    lengths = [len(tokens) for tokens in sentences]
    for indices in length_batches(lengths, batch_size, shuffle=False):
        real = [i for i in indices if lengths[i] > 0]
        if real:
            yield real, encode_batch(vocab, [sentences[i] for i in real], chars=chars)


def _padded(
    scores: Sequence[torch.Tensor], batch_size: int
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Yield (indices, scores (batch, time, num_tags), mask (batch, time)) of non-empty rows."""
    lengths = [len(row) for row in scores]
    for indices in length_batches(lengths, batch_size, shuffle=False):
        real = [i for i in indices if lengths[i] > 0]
        if not real:
            continue
        padded = pad_sequence([scores[i] for i in real], batch_first=True)
        row_lengths = torch.tensor([lengths[i] for i in real])
        yield real, padded, torch.arange(padded.size(1)) < row_lengths.unsqueeze(1)


def _row_paths(model: Network, scores: Sequence[torch.Tensor], batch_size: int) -> list[list[int]]:
    paths: list[list[int]] = [[] for _ in scores]
    for indices, padded, mask in _padded(scores, batch_size):
        for index, path in zip(indices, model.decode(padded, mask), strict=True):
            paths[index] = path
    return paths


def _row_probabilities(
    model: Network, scores: Sequence[torch.Tensor], batch_size: int
) -> list[torch.Tensor]:
    """Return p(tag | sentence), (length, num_tags), per row of ``scores``."""
    probabilities = [torch.zeros(0, len(model.tags)) for _ in scores]
    for indices, padded, mask in _padded(scores, batch_size):
        probs = model.tag_probabilities(padded, mask)  # (batch, time, num_tags)
        for row, index in enumerate(indices):
            probabilities[index] = probs[row, : len(scores[index])]
    return probabilities
