"""A training corpus turned into arrays once, so that each batch is cut from them with NumPy.

``encode_batch`` builds a batch from strings: it numbers the batch's distinct tokens and looks
each one up in Python. Training would run that for every batch of every epoch. ``EncodedCorpus``
looks up each distinct token of the corpus once and keeps the sentences as runs of token numbers,
so a batch is a few array operations. Its batches hold the words, casing, characters and tags
that ``encode_batch`` gives for the same sentences. Only the order in which the distinct tokens
are numbered differs. Rare-word replacement for training happens here too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import chain

import numpy as np
import torch

from elman.data.batch import IGNORE_INDEX, Batch, char_rows, length_mask, padded, tag_targets
from elman.data.vocab import PAD_ID, UNK_ID, Vocabularies


class EncodedCorpus:
    """Tagged training sentences as arrays of token numbers, with each token's features."""

    def __init__(
        self,
        vocab: Vocabularies,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]],
        *,
        chars: bool,
        max_word_chars: int = 20,
    ):
        flat = list(chain.from_iterable(sentences))
        number_of = {token: n for n, token in enumerate(dict.fromkeys(flat))}
        self.tokens = np.fromiter(map(number_of.__getitem__, flat), np.int64, len(flat))
        # The lowercased spelling of each distinct token is a distinct token too, for batches
        # that lowercase some of their sentences.
        for token in list(number_of):
            number_of.setdefault(token.lower(), len(number_of))
        self.lowered = np.fromiter(
            (number_of[token.lower()] for token in number_of), np.int64, len(number_of)
        )
        self.lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        self.starts = np.cumsum(self.lengths) - self.lengths  # first token of each sentence

        # Per distinct token: word id, casing id, whether it may become <unk>, characters.
        features = list(map(vocab.token_features, number_of))
        words, casing, spellings = zip(*features, strict=True) if features else ((), (), ())
        self.words = np.array(words, dtype=np.int64)
        self.casing = np.array(casing, dtype=np.int64)
        counts, items = vocab.words.counts, vocab.words.items
        self.rare = np.array([w > UNK_ID and counts.get(items[w], 2) <= 1 for w in words], bool)
        self.chars = char_rows(spellings, max_word_chars if chars else 0).numpy()
        self.widths = (self.chars != PAD_ID).sum(axis=1)  # (types + 1,)

        self.tags = tag_targets(vocab, tags).numpy()

    def batch(
        self,
        rows: Sequence[int],
        rare_unk: tuple[float, random.Random] | None,
        lowercase: tuple[float, random.Random] | None = None,
    ) -> Batch:
        """Return the sentences ``rows`` as one padded ``Batch`` with their tags.

        ``rare_unk`` is (probability, generator): each occurrence of a word seen once in
        training becomes ``<unk>`` with that probability, drawn from a NumPy generator that the
        given generator seeds. ``lowercase``, drawn the same way before it, is the probability
        that a sentence is lowercased, its casing classes and characters with it.
        """
        lengths = self.lengths[rows]  # (batch,)
        total = int(lengths.sum())
        # Corpus position of each of the batch's tokens, sentence after sentence.
        offsets = np.cumsum(lengths) - lengths
        positions = np.arange(total) + np.repeat(self.starts[rows] - offsets, lengths)
        types = self.tokens[positions]  # (tokens,)
        if lowercase is not None:
            probability, generator = lowercase
            draws = np.random.default_rng(generator.getrandbits(64)).random(len(rows))
            types = np.where(np.repeat(draws < probability, lengths), self.lowered[types], types)
        distinct, type_rows = np.unique(types, return_inverse=True)

        words = self.words[types]
        if rare_unk is not None:
            probability, generator = rare_unk
            draws = np.random.default_rng(generator.getrandbits(64)).random(total)
            words = np.where(self.rare[types] & (draws < probability), UNK_ID, words)

        # Row 0 of the characters is padding, and the batch's distinct tokens follow.
        char_table = self.chars[np.concatenate([[0], distinct + 1])]
        width = max(int(self.widths[distinct + 1].max(initial=0)), 1)

        mask = length_mask(torch.from_numpy(lengths))  # (batch, time)
        return Batch(
            words=padded(mask, torch.from_numpy(words), PAD_ID),
            casing=padded(mask, torch.from_numpy(self.casing[types]), PAD_ID),
            chars=torch.from_numpy(np.ascontiguousarray(char_table[:, :width])),
            char_index=padded(mask, torch.from_numpy(type_rows.reshape(-1) + 1), 0),
            mask=mask,
            lengths=torch.from_numpy(lengths),
            tags=padded(mask, torch.from_numpy(self.tags[positions]), IGNORE_INDEX),
        )
