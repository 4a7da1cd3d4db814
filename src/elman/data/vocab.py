"""Vocabularies of words, characters and tags, and the casing feature.

Word lookup: the word is lowercased (and, when ``normalize_digits`` is on, every digit becomes
``0``), then looked up; a form not found maps to the ``<unk>`` id, which every vocabulary has.
Because lowercasing loses capitals, the model also receives a casing class per token
(``casing_id``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1

CASINGS = (PAD, "lower", "allcaps", "initcap", "mixed", "numeric", "has_digit", "punct", "other")
_DIGIT = re.compile(r"\d")
FEATURE_CACHE_SIZE = 200_000
"""Maximum number of tokens ``Vocabularies.token_features`` caches, to bound memory."""


def casing_id(token: str) -> int:
    """Return the index in ``CASINGS`` of the token's casing class."""
    if token.isdigit():
        return 5
    if any(ch.isdigit() for ch in token):
        return 6
    letters = [ch for ch in token if ch.isalpha()]
    if not letters:
        return 7 if all(not ch.isalnum() for ch in token) else 8
    if all(ch.islower() for ch in letters):
        return 1
    if all(ch.isupper() for ch in letters):
        return 2
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return 3
    return 4


@dataclass
class Vocab:
    """A string-to-id table; by default ids 0 and 1 are ``<pad>`` and ``<unk>``."""

    items: list[str] = field(default_factory=lambda: [PAD, UNK])
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {item: i for i, item in enumerate(self.items)}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.index

    def add(self, item: str) -> int:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)
        return self.index[item]

    def get(self, item: str, default: int = UNK_ID) -> int:
        return self.index.get(item, default)


@dataclass
class Vocabularies:
    """Every table the model needs to turn sentences into ids, saved with the model as JSON."""

    words: Vocab
    chars: Vocab
    tags: list[str]
    lowercase: bool = True
    normalize_digits: bool = True
    _feature_cache: dict[str, tuple[int, int, tuple[int, ...]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        tags: Iterable[Sequence[str]],
        *,
        min_count: int = 1,
        lowercase: bool = True,
        normalize_digits: bool = True,
    ) -> Vocabularies:
        """Count word forms, characters and tags of the training sentences."""
        word_counts: Counter[str] = Counter()
        char_counts: Counter[str] = Counter()
        tag_set: set[str] = set()
        probe = cls(Vocab(), Vocab(), [], lowercase, normalize_digits)
        for tokens in sentences:
            word_counts.update(probe.word_form(token) for token in tokens)
            for token in tokens:
                char_counts.update(token)
        for sequence in tags:
            tag_set.update(sequence)

        words = Vocab()
        for word, count in sorted(word_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if count >= min_count:
                words.add(word)
        words.counts = {w: c for w, c in word_counts.items() if w in words}
        chars = Vocab()
        for char, _ in sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            chars.add(char)

        # "O" first, then the entity tags grouped by type, so that tag ids are stable.
        entity_tags = sorted(tag_set - {"O"}, key=lambda t: (t[2:], t[:1]))
        return cls(words, chars, ["O", *entity_tags], lowercase, normalize_digits)

    def token_features(self, token: str) -> tuple[int, int, tuple[int, ...]]:
        """Return (word id, casing id, character ids) of a token, from a bounded cache."""
        cache = self._feature_cache
        found = cache.get(token)
        if found is None:
            if len(cache) >= FEATURE_CACHE_SIZE:
                cache.clear()
            found = (
                self.words.get(self.word_form(token)),
                casing_id(token),
                tuple(self.chars.get(ch) for ch in token),
            )
            cache[token] = found
        return found

    def word_form(self, token: str) -> str:
        """Return the key under which ``token`` is looked up in the word vocabulary."""
        form = token.lower() if self.lowercase else token
        return _DIGIT.sub("0", form) if self.normalize_digits else form

    def word_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.words.get(self.word_form(token)) for token in tokens]

    def char_ids(self, token: str) -> list[int]:
        return [self.chars.get(ch) for ch in token]

    def tag_ids(self, tags: Sequence[str]) -> list[int]:
        """Map tags to ids; a tag never seen in training maps to -1 (scored as an error)."""
        index = {tag: i for i, tag in enumerate(self.tags)}
        return [index.get(tag, -1) for tag in tags]

    def oov_rate(self, sentences: Iterable[Sequence[str]]) -> float:
        """Return the fraction of tokens whose word form is not in the vocabulary."""
        total = unknown = 0
        for tokens in sentences:
            total += len(tokens)
            unknown += sum(1 for token in tokens if self.word_form(token) not in self.words)
        return unknown / max(total, 1)

    def digest(self) -> str:
        """Return the SHA-256 of the vocabularies, words with their counts included."""
        encoded = json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": self.words.items,
            "word_counts": [self.words.counts.get(w, 0) for w in self.words.items],
            "chars": self.chars.items,
            "tags": self.tags,
            "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabularies:
        words = Vocab(list(data["words"]))
        words.counts = dict(zip(data["words"], data.get("word_counts", []), strict=False))
        return cls(
            words=words,
            chars=Vocab(list(data["chars"])),
            tags=list(data["tags"]),
            lowercase=bool(data["lowercase"]),
            normalize_digits=bool(data["normalize_digits"]),
        )
