"""Batched prediction shared by evaluation during training and by the tagger."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from elman.data.batch import encode_batch, length_batches
from elman.data.vocab import Vocabularies
from elman.model.elman import ElmanTagger


def predict_ids(
    model: ElmanTagger,
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    *,
    batch_size: int = 256,
) -> list[list[int]]:
    """Return the tag ids of each sentence, in input order; sentences are batched by length."""
    was_training = model.training
    model.eval()
    results: list[list[int]] = [[] for _ in sentences]
    chars = model.config.char_encoder != "none"
    with torch.inference_mode():
        lengths = [len(tokens) for tokens in sentences]
        for indices in length_batches(lengths, batch_size, shuffle=False):
            rows = [sentences[i] for i in indices if lengths[i] > 0]
            if not rows:
                continue
            batch = encode_batch(vocab, rows, chars=chars)
            paths = model.decode(model.emissions(batch), batch.mask)
            for index, path in zip((i for i in indices if lengths[i] > 0), paths, strict=True):
                results[index] = path
    model.train(was_training)
    return results


def predict_tags(
    model: ElmanTagger,
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    *,
    batch_size: int = 256,
) -> list[list[str]]:
    """Return the IOB2 tags of each sentence, in input order."""
    ids = predict_ids(model, vocab, sentences, batch_size=batch_size)
    return [[vocab.tags[i] for i in row] for row in ids]
