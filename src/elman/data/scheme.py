"""Tag schemes (IOB1, IOB2, BIOES, BILOU): checks, detection, spans and conversion.

The project keeps tags in IOB2 internally and converts at the edges. Spans are half-open
``(start, end, type)`` tuples. Two readings of a tag sequence exist:

- ``"conlleval"``: chunk boundaries as conlleval.pl (version 2004-01-26) draws them in its
  ``startOfChunk`` and ``endOfChunk``, so an ``I-X`` after ``O`` starts a chunk. conlleval.pl has
  no rule for ``S-`` tags and does not end a chunk at ``E-X`` followed by ``B-X``. The rules here
  add both, so that BIOES and BILOU sequences are read as those schemes define them.
- ``"strict"``: an entity must open with a tag that the scheme allows to open one and continue
  only with tags that the scheme allows to follow. A tag that continues nothing belongs to no
  entity, and a BIOES or BILOU entity without its closing ``E-``/``L-`` tag is dropped
  (the semantics of seqeval's strict mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from elman.errors import ConfigError

SCHEMES = ("iob1", "iob2", "bioes", "bilou")
MODES = ("conlleval", "strict")

_ALIASES = {"iobes": "bioes"}
_PREFIXES = frozenset("BIESLU")
_SCHEME_PREFIXES = {
    "iob1": frozenset("BI"),
    "iob2": frozenset("BI"),
    "bioes": frozenset("BIES"),
    "bilou": frozenset("BILU"),
}
# BILOU's L- and U- play the roles of BIOES's E- and S-, so the chunk rules name only E and S.
_AS_BIOES = {"L": "E", "U": "S"}

Span = tuple[int, int, str]


def normalize_scheme(name: str, *, allow_auto: bool = False) -> str:
    """Return the canonical scheme name for ``name`` (case-insensitive; "iobes" means "bioes").

    "auto" is accepted only when ``allow_auto`` is true. Raises ConfigError on any other name.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in SCHEMES or (allow_auto and key == "auto"):
        return key
    valid = ", ".join((*SCHEMES, "iobes", *(("auto",) if allow_auto else ())))
    raise ConfigError(f"unknown tag scheme {name!r}: expected one of {valid}")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a span reading in MODES, else raise ConfigError."""
    if mode not in MODES:
        raise ConfigError(f"unknown scoring mode {mode!r}: expected one of {', '.join(MODES)}")
    return mode


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into (prefix, type), giving ``("O", "")`` for "O".

    The prefix is everything before the first dash, so types may contain dashes
    ("B-creative-work"). Raises ValueError naming the tag if it is empty, has no dash, has an empty
    type or a prefix other than B, I, E, S, L or U.
    """
    if tag == "O":
        return "O", ""
    if not tag:
        raise ValueError("invalid tag '': a tag is 'O' or <prefix>-<type>")
    prefix, dash, entity_type = tag.partition("-")
    if not dash:
        raise ValueError(f"invalid tag {tag!r}: expected 'O' or <prefix>-<type>, found no dash")
    if prefix not in _PREFIXES:
        raise ValueError(
            f"invalid tag {tag!r}: unknown prefix {prefix!r}, expected B, I, E, S, L or U"
        )
    if not entity_type:
        raise ValueError(f"invalid tag {tag!r}: the type after the dash is missing")
    return prefix, entity_type


def check_tag(tag: str, scheme: str) -> None:
    """Raise ValueError unless ``tag`` is "O" or has a prefix that ``scheme`` allows."""
    scheme = normalize_scheme(scheme)
    prefix, _ = split_tag(tag)
    allowed = _SCHEME_PREFIXES[scheme]
    if prefix != "O" and prefix not in allowed:
        expected = ", ".join(f"{p}-" for p in sorted(allowed))
        raise ValueError(f"invalid tag {tag!r}: scheme {scheme} allows only O and {expected}")


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme that tag sequences are written in.

    Rule: any E- or S- tag means "bioes" and any L- or U- tag means "bilou" (both kinds raise
    ValueError). Otherwise the tags are "iob1" if more entities open with I- (at sentence start,
    after O or after a tag of another type) than with a B- that follows no tag of its own type;
    in all other cases, including sequences without entities, they are "iob2". Counting instead
    of requiring every B- to sit between two entities keeps a few annotation errors (CoNLL-2003
    train has 2 such B- tags among 34,000 entities) from turning IOB1 into IOB2.
    """
    prefixes: set[str] = set()
    inside_opens = 0
    begin_opens = 0
    for tags in sequences:
        previous_type = ""
        for tag in tags:
            prefix, entity_type = split_tag(tag)
            prefixes.add(prefix)
            if prefix == "I" and entity_type != previous_type:
                inside_opens += 1
            if prefix == "B" and entity_type != previous_type:
                begin_opens += 1
            previous_type = entity_type

    has_bioes = bool(prefixes & {"E", "S"})
    has_bilou = bool(prefixes & {"L", "U"})
    if has_bioes and has_bilou:
        raise ValueError("tags mix BIOES (E-, S-) and BILOU (L-, U-) prefixes: use one scheme")
    if has_bioes:
        return "bioes"
    if has_bilou:
        return "bilou"
    if inside_opens > begin_opens:
        return "iob1"
    return "iob2"


def to_spans(tags: Sequence[str], scheme: str = "iob2", mode: str = "conlleval") -> list[Span]:
    """Return the half-open entity spans ``(start, end, type)`` of a tag sequence, in order.

    Every tag must be valid in ``scheme`` (ValueError otherwise). ``mode`` is "conlleval" or
    "strict", the two readings that the module docstring describes.
    """
    scheme = normalize_scheme(scheme)
    check_mode(mode)
    parsed = [_parse(tag, scheme) for tag in tags]
    if mode == "conlleval":
        return _conlleval_spans(parsed)
    return _strict_spans(parsed, scheme)


def from_spans(spans: Iterable[Span], length: int, scheme: str = "iob2") -> list[str]:
    """Write half-open spans as ``length`` tags in ``scheme``.

    In IOB1 every entity token gets I- except the first token of an entity that directly follows
    an entity of the same type, which gets B-. Raises ValueError on spans that are empty, overlap,
    have an invalid type or do not fit in ``length``.
    """
    scheme = normalize_scheme(scheme)
    if length < 0:
        raise ValueError(f"invalid length {length}: expected a count of tokens >= 0")
    tags = ["O"] * length
    previous: Span | None = None
    for span in sorted(spans):
        start, end, entity_type = span
        _check_span(span, length, previous)
        adjacent_same = previous is not None and previous[1] == start and previous[2] == entity_type
        for position, prefix in enumerate(_span_prefixes(end - start, scheme, adjacent_same)):
            tags[start + position] = f"{prefix}-{entity_type}"
        previous = span
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Rewrite a tag sequence from scheme ``source`` to scheme ``target`` via conlleval spans.

    The conversion is lossless in both directions between all four schemes for sequences that
    break no rule of ``source``. A broken sequence is first read the way conlleval.pl reads it.
    """
    return from_spans(to_spans(tags, source, "conlleval"), len(tags), target)


def count_violations(tags: Sequence[str], scheme: str) -> int:
    """Count the positions where ``tags`` breaks the rules of ``scheme``.

    A position counts when its tag may not follow the previous tag, or "O" for the first tag
    (see ``allowed_transition``). One more counts when the last tag may not end a sentence.
    """
    violations = 0
    previous = "O"
    for tag in tags:
        if not allowed_transition(previous, tag, scheme):
            violations += 1
        previous = tag
    if tags and not allowed_end(tags[-1], scheme):
        violations += 1
    return violations


# Reading a corpus checks every pair of neighbouring tags, and there are few distinct pairs.
@lru_cache(maxsize=65536)
def allowed_transition(prev: str, cur: str, scheme: str) -> bool:
    """Return whether the strict rules of ``scheme`` allow tag ``cur`` right after tag ``prev``.

    Pass "O" as ``prev`` for the first tag of a sentence. Both tags must be valid in the scheme.
    """
    scheme = normalize_scheme(scheme)
    previous = _parse(prev, scheme)
    current = _parse(cur, scheme)
    if _continues(previous, current, scheme):
        return True
    if current[0] == "O" or _opens(previous, current, scheme):
        return _may_end(previous, scheme)
    return False


@lru_cache(maxsize=4096)
def allowed_end(tag: str, scheme: str) -> bool:
    """Return whether a sentence may end on ``tag`` under ``scheme``."""
    scheme = normalize_scheme(scheme)
    return _may_end(_parse(tag, scheme), scheme)


@lru_cache(maxsize=4096)
def _parse(tag: str, scheme: str) -> tuple[str, str]:
    check_tag(tag, scheme)
    return split_tag(tag)


def _conlleval_spans(parsed: Sequence[tuple[str, str]]) -> list[Span]:
    spans: list[Span] = []
    start: int | None = None
    previous = ("O", "")
    # A final "O" closes the last chunk, as the blank line after a sentence does in conlleval.pl.
    for position, current in enumerate([*parsed, ("O", "")]):
        if start is not None and _chunk_ends(previous, current):
            spans.append((start, position, previous[1]))
            start = None
        if _chunk_starts(previous, current):
            start = position
        previous = current
    return spans


def _chunk_ends(previous: tuple[str, str], current: tuple[str, str]) -> bool:
    """conlleval.pl's endOfChunk, with E-/S- always ending a chunk and S- ending the one before."""
    prev_prefix = _AS_BIOES.get(previous[0], previous[0])
    prefix = _AS_BIOES.get(current[0], current[0])
    if prev_prefix == "O":
        return False
    if prev_prefix in ("E", "S") or previous[1] != current[1]:
        return True
    return prefix in ("B", "S", "O")


def _chunk_starts(previous: tuple[str, str], current: tuple[str, str]) -> bool:
    """conlleval.pl's startOfChunk, with S- always starting a chunk and B- starting one after E-."""
    prev_prefix = _AS_BIOES.get(previous[0], previous[0])
    prefix = _AS_BIOES.get(current[0], current[0])
    if prefix == "O":
        return False
    if prefix in ("B", "S") or previous[1] != current[1]:
        return True
    # Same type, prefix I or E: a chunk starts unless the previous tag left one open.
    return prev_prefix in ("O", "E", "S")


def _strict_spans(parsed: Sequence[tuple[str, str]], scheme: str) -> list[Span]:
    spans: list[Span] = []
    start: int | None = None
    previous = ("O", "")
    for position, current in enumerate(parsed):
        if start is not None and _continues(previous, current, scheme):
            previous = current
            continue
        if start is not None and _may_end(previous, scheme):
            spans.append((start, position, previous[1]))
        # A tag that neither continues the open entity nor opens one belongs to no entity.
        start = position if _opens(previous, current, scheme) else None
        previous = current
    if start is not None and _may_end(previous, scheme):
        spans.append((start, len(parsed), previous[1]))
    return spans


def _opens(previous: tuple[str, str], current: tuple[str, str], scheme: str) -> bool:
    prefix, entity_type = current
    if scheme == "iob1":
        if prefix == "I":
            return previous[0] == "O" or previous[1] != entity_type
        return prefix == "B" and previous[0] != "O" and previous[1] == entity_type
    return prefix in ("B", "S", "U")


def _continues(previous: tuple[str, str], current: tuple[str, str], scheme: str) -> bool:
    if previous[0] not in ("B", "I") or previous[1] != current[1]:
        return False
    inside = {"iob1": ("I",), "iob2": ("I",), "bioes": ("I", "E"), "bilou": ("I", "L")}
    return current[0] in inside[scheme]


def _may_end(tag: tuple[str, str], scheme: str) -> bool:
    if tag[0] == "O" or scheme in ("iob1", "iob2"):
        return True
    return tag[0] in ("E", "S", "L", "U")


def _check_span(span: Span, length: int, previous: Span | None) -> None:
    start, end, entity_type = span
    if not 0 <= start < end <= length:
        raise ValueError(f"invalid span {span!r}: expected 0 <= start < end <= {length}")
    if not entity_type:
        raise ValueError(f"invalid span {span!r}: the type is empty")
    if previous is not None and start < previous[1]:
        raise ValueError(f"span {span!r} overlaps span {previous!r}")


def _span_prefixes(size: int, scheme: str, adjacent_same: bool) -> list[str]:
    if scheme == "iob1":
        return ["B" if adjacent_same else "I"] + ["I"] * (size - 1)
    if scheme == "iob2":
        return ["B"] + ["I"] * (size - 1)
    single, last = ("S", "E") if scheme == "bioes" else ("U", "L")
    if size == 1:
        return [single]
    return ["B"] + ["I"] * (size - 2) + [last]
