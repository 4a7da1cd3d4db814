"""Sentences to padded tensors, and the order in which batches are formed.

Training and tagging share this one path from tokens to tensors, so that the model always sees input
prepared the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from elman.data.vocab import PAD_ID, UNK_ID, Vocabularies, casing_id

IGNORE_INDEX = -100
"""Tag id of padding positions and of tags unknown to the model; the loss skips them."""


@dataclass
class Batch:
    """A padded batch. Padding sits at the end of each row; ``mask`` marks the real tokens."""

    words: torch.Tensor  # (batch, time) long
    casing: torch.Tensor  # (batch, time) long
    chars: torch.Tensor  # (batch, time, max_chars) long; max_chars is 1 when characters are off
    mask: torch.Tensor  # (batch, time) bool
    lengths: torch.Tensor  # (batch,) long
    tags: torch.Tensor | None  # (batch, time) long, IGNORE_INDEX at padding

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


def encode_batch(
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    *,
    chars: bool = False,
    max_word_chars: int = 20,
    rare_unk: tuple[float, random.Random] | None = None,
) -> Batch:
    """Turn token lists (and optionally their tags) into one padded ``Batch``.

    ``rare_unk`` is (probability, generator): during training each word seen only once in the
    training data is replaced by ``<unk>`` with that probability, so that the model learns the
    unknown-word vector.
    """
    size = len(sentences)
    time = max((len(tokens) for tokens in sentences), default=1) or 1
    lengths = torch.tensor([len(tokens) for tokens in sentences], dtype=torch.long)
    words = torch.full((size, time), PAD_ID, dtype=torch.long)
    casing = torch.full((size, time), PAD_ID, dtype=torch.long)
    width = 1
    if chars:
        width = max((min(len(t), max_word_chars) for s in sentences for t in s), default=1)
    char_ids = torch.full((size, time, width), PAD_ID, dtype=torch.long)
    tag_ids = torch.full((size, time), IGNORE_INDEX, dtype=torch.long) if tags is not None else None

    for row, tokens in enumerate(sentences):
        n = len(tokens)
        ids = vocab.word_ids(tokens)
        if rare_unk is not None:
            ids = _drop_rare(vocab, ids, *rare_unk)
        words[row, :n] = torch.tensor(ids, dtype=torch.long)
        casing[row, :n] = torch.tensor([casing_id(t) for t in tokens], dtype=torch.long)
        if chars:
            for col, token in enumerate(tokens):
                token_chars = vocab.char_ids(token[:max_word_chars])
                char_ids[row, col, : len(token_chars)] = torch.tensor(token_chars)
        if tag_ids is not None and tags is not None:
            known = [i if i >= 0 else IGNORE_INDEX for i in vocab.tag_ids(tags[row])]
            tag_ids[row, :n] = torch.tensor(known, dtype=torch.long)

    mask = torch.arange(time).unsqueeze(0) < lengths.unsqueeze(1)  # (batch, time)
    return Batch(words, casing, char_ids, mask, lengths, tag_ids)


def _drop_rare(vocab: Vocabularies, ids: list[int], prob: float, rng: random.Random) -> list[int]:
    counts = vocab.words.counts
    items = vocab.words.items
    return [
        UNK_ID if i > UNK_ID and counts.get(items[i], 2) <= 1 and rng.random() < prob else i
        for i in ids
    ]


def length_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    rng: random.Random | None = None,
) -> Iterator[list[int]]:
    """Yield lists of sentence indices, grouping sentences of similar length to limit padding.

    With ``shuffle`` the sentences are shuffled, sorted by length within pools of 50 batches,
    cut into batches, and the batches shuffled; without it, batches follow the sorted order.
    """
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: lengths[i])
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]
        return

    generator = rng or random.Random()
    generator.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    generator.shuffle(batches)
    yield from batches
