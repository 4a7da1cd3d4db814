"""Sentences to padded tensors, and the order in which batches are formed.

Training and tagging share this one path from tokens to tensors, so that the model always sees input
prepared the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from elman.data.vocab import PAD_ID, Vocabularies

IGNORE_INDEX = -100
"""Tag id of padding positions and of tags unknown to the model; the loss skips them."""


@dataclass
class Batch:
    """A padded batch. Padding sits at the end of each row; ``mask`` marks the real tokens."""

    words: torch.Tensor  # (batch, time) long
    casing: torch.Tensor  # (batch, time) long
    chars: torch.Tensor  # (types + 1, width) long: row 0 padding, then each distinct token
    char_index: torch.Tensor  # (batch, time) long: each position's distinct token, 0 for padding
    mask: torch.Tensor  # (batch, time) bool
    lengths: torch.Tensor  # (batch,) long
    tags: torch.Tensor | None  # (batch, time) long, IGNORE_INDEX at padding

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def inputs(self) -> tuple[torch.Tensor, ...]:
        """Return the network's inputs in the order of ``ElmanTagger.forward`` and of ONNX."""
        return (self.words, self.casing, self.chars, self.char_index, self.mask, self.lengths)


def encode_batch(
    vocab: Vocabularies,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    *,
    chars: bool = False,
    max_word_chars: int = 20,
) -> Batch:
    """Turn token lists (and optionally their tags) into one padded ``Batch``.

    Training cuts its batches from ``elman.data.encoded.EncodedCorpus`` instead, which also
    replaces rare words by ``<unk>``.
    """
    lengths = torch.tensor([len(tokens) for tokens in sentences], dtype=torch.long)
    mask = length_mask(lengths)

    # Each distinct token is looked up once. Its row among the distinct tokens then fills the
    # padded tensors in one step each, because the mask's True positions, read row by row, are
    # exactly the tokens in order.
    flat = list(chain.from_iterable(sentences))
    rows_of = {token: row for row, token in enumerate(dict.fromkeys(flat))}
    position_rows = _long_tensor(list(map(rows_of.__getitem__, flat)))  # (tokens,)
    features = list(map(vocab.token_features, rows_of))
    word_ids, casing_ids, spellings = zip(*features, strict=True) if features else ((), (), ())

    words = padded(mask, _long_tensor(word_ids)[position_rows], PAD_ID)
    casing = padded(mask, _long_tensor(casing_ids)[position_rows], PAD_ID)

    # Row 0 of the character ids is all padding and stands for padding positions, so the
    # character encoder runs once per distinct token. Without characters each row is one
    # padding id; ``char_index`` still numbers the distinct tokens.
    char_index = padded(mask, position_rows + 1, 0)
    char_ids = char_rows(spellings, max_word_chars if chars else 0)

    tag_ids = None
    if tags is not None:
        tag_ids = padded(mask, tag_targets(vocab, tags), IGNORE_INDEX)
    return Batch(words, casing, char_ids, char_index, mask, lengths, tag_ids)


def length_mask(lengths: torch.Tensor) -> torch.Tensor:
    """Return the (batch, time) mask of real tokens; time is the longest length, at least 1."""
    time = max(int(lengths.max()) if len(lengths) else 1, 1)
    return torch.arange(time).unsqueeze(0) < lengths.unsqueeze(1)


def padded(mask: torch.Tensor, values: torch.Tensor, fill: int) -> torch.Tensor:
    """Spread one value per real token over a (batch, time) long tensor, ``fill`` elsewhere.

    The mask's True positions, read row by row, are the batch's tokens in order.
    """
    out = torch.full(mask.shape, fill, dtype=torch.long)
    out[mask] = values
    return out


def char_rows(spellings: Sequence[tuple[int, ...]], max_word_chars: int) -> torch.Tensor:
    """(types + 1, width) character ids: a padding row, then each spelling cut or padded.

    ``max_word_chars`` 0 gives one padding column per row.
    """
    cut = [ids if len(ids) <= max_word_chars else ids[:max_word_chars] for ids in spellings]
    sizes = np.fromiter(map(len, cut), np.int64, len(cut))  # (types,)
    width = max(int(sizes.max(initial=0)), 1)
    rows = np.full((len(cut) + 1, width), PAD_ID, dtype=np.int64)
    filled = np.arange(width) < sizes[:, None]  # (types, width)
    rows[1:][filled] = np.fromiter(chain.from_iterable(cut), np.int64, int(sizes.sum()))
    return torch.from_numpy(rows)


def _long_tensor(values: Sequence[int]) -> torch.Tensor:
    """Convert a list to a 1-D long tensor through NumPy, which is several times faster."""
    return torch.from_numpy(np.fromiter(values, np.int64, len(values)))


def tag_targets(vocab: Vocabularies, tags: Sequence[Sequence[str]]) -> torch.Tensor:
    """Return the tag ids of all sentences in order, ``IGNORE_INDEX`` for tags the model lacks."""
    flat = vocab.tag_ids(list(chain.from_iterable(tags)))
    return _long_tensor([i if i >= 0 else IGNORE_INDEX for i in flat])


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
