"""JSON Lines span files: one JSON object per line with a text and its entities as character spans.

The keys of a record, as annotation tools such as doccano and Prodigy export them:

- ``text`` (required): the text of the record.
- ``entities``, ``spans`` or ``label`` (the first present is used): the entities, as
  ``[start, end, label]`` lists or as objects with ``start`` and ``end`` (or ``start_offset`` and
  ``end_offset``) and ``label``. Offsets are half-open ``[start, end)`` indices of Unicode code
  points in ``text``. A record with none of these keys is unlabelled (its sentences have no tags).
- ``tokens`` (optional): the tokenization, as a list of strings (one sentence), a list of lists of
  strings (one list per sentence) or a list of objects with ``text``, ``start`` and ``end`` (one
  sentence, as Prodigy writes them). String tokens must appear in ``text`` in order, with only
  whitespace between them. Without ``tokens``, the text is split into sentences and tokens by
  ``elman.tag.tokenize.tokenize_document``.
- ``document`` (optional): consecutive records with equal values belong to one document. A record
  without it is a document of its own.
- ``intent`` (optional): a sentence-level label given to every sentence of the record.

Entities become IOB2 tags on the tokens. The ``on_misaligned`` setting selects what happens to
an entity that does not start and end on token boundaries, that overlaps another one or whose
offsets lie outside the text. ``"error"`` raises a DataError that names the record and shows the
text around the span, ``"expand"`` widens an entity to the tokens it touches, and ``"skip"`` drops
it. ``"expand"`` drops what it cannot widen (an entity over whitespace only, an entity outside the
text) and the later of two overlapping entities, as ``"skip"`` does. Sentences that one entity
spans are joined into one sentence, so that no entity is cut.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elman.data import scheme as schemes
from elman.data.readers import (
    INTERNAL_SCHEME,
    ParseResult,
    RawSentence,
    Reader,
    log_skipped,
    read_text_lines,
    register,
)
from elman.data.sentence import Corpus, Sentence
from elman.errors import ConfigError, DataError
from elman.tag.tokenize import SEPARATOR_CHARACTERS, Token, tokenize_document

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
ENTITY_KEYS = ("entities", "spans", "label")
MISALIGNED_MODES = ("error", "expand", "skip")
CONTEXT_CHARACTERS = 20

TokenSpan = tuple[int, int, str]
Offsets = tuple[tuple[int, int], ...]

MISALIGNED_HINT = (
    "fix the offsets, or widen entities to whole tokens with on_misaligned='expand' when "
    "reading from Python, or with 'elman convert FILE FIXED.jsonl --on-misaligned expand' "
    "('skip' drops them instead)"
)
OVERLAP_HINT = (
    "one tag per token cannot express overlapping entities; remove one of them, or drop the "
    "later one with on_misaligned='skip' when reading from Python, or with 'elman convert FILE "
    "FIXED.jsonl --on-misaligned skip'"
)
RANGE_HINT = (
    "offsets are half-open indices of Unicode code points in 'text' (a tool that counts UTF-16 "
    "units or bytes gives larger offsets); fix them, or drop such entities with "
    "on_misaligned='skip' when reading from Python, or with 'elman convert FILE FIXED.jsonl "
    "--on-misaligned skip'"
)


# The document key of a record that has none: equal to no value that JSON can hold.
_NO_DOCUMENT = object()


class RecordError(ValueError):
    """A record that cannot be read. The reader adds the file and line to the message."""


@dataclass(frozen=True, slots=True)
class CharSpan:
    """An entity as a half-open character span ``[start, end)`` of a record's text."""

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Misaligned:
    """An entity that does not fit the tokens, why, and what the user can do about it."""

    span: CharSpan
    reason: str
    hint: str


@dataclass(frozen=True, slots=True)
class SourceText:
    """The text of the record a sentence was read from, and the span of each token in it.

    Sentences of one record share ``record`` (its 0-based index) and the same ``text`` object.
    """

    record: int
    text: str
    offsets: Offsets


@dataclass(slots=True)
class TextCorpus(Corpus):
    """A ``Corpus`` that keeps the source text of each sentence, so writers can reproduce it.

    ``sources[i]`` belongs to ``sentences[i]``. Code that changes ``sentences`` should drop
    the sources, and writers check that the tokens still match them.
    """

    sources: list[SourceText] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TextRecord:
    """A run of sentences that share one text: one span-file record or one spaCy ``Doc``."""

    text: str
    sentences: list[Sentence]
    offsets: list[Offsets]


_DROP_SEPARATORS = str.maketrans("", "", SEPARATOR_CHARACTERS)


def is_separator(text: str) -> bool:
    """Return whether ``text`` consists only of characters that the tokenizer treats as spaces."""
    return not text.translate(_DROP_SEPARATORS).strip()


# ---------------------------------------------------------------------------------------------
# Records: JSON to text, tokens and character spans


def parse_record(line: str) -> dict[str, Any]:
    """Parse one line of a span file into a JSON object, or raise RecordError."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise RecordError(
            f"expected a JSON object with 'text' and 'entities', found {type(record).__name__}"
        )
    return record


def record_text(record: dict[str, Any]) -> str:
    """Return the ``text`` of a record, or raise RecordError when it is not a string."""
    text = record.get("text")
    if not isinstance(text, str):
        found = "no 'text' key" if text is None else f"'text' of type {type(text).__name__}"
        raise RecordError(f"{found}; each record needs its text as a string under 'text'")
    return text


def record_intent(record: dict[str, Any]) -> str | None:
    """Return the ``intent`` of a record, or None when it has none."""
    intent = record.get("intent")
    if intent is not None and (not isinstance(intent, str) or not intent.strip()):
        raise RecordError(f"invalid intent {intent!r}: expected a non-empty string")
    return None if intent is None else intent.strip()


def record_entities(record: dict[str, Any]) -> list[CharSpan] | None:
    """Return the entities of a record, or None when it has no entity key (unlabelled)."""
    key = next((name for name in ENTITY_KEYS if name in record), None)
    if key is None:
        return None
    value = record[key]
    if not isinstance(value, list):
        raise RecordError(
            f"{key!r} is a {type(value).__name__}; expected a list of [start, end, label] or of "
            "objects with 'start', 'end' and 'label'"
        )
    return [_char_span(item, key, index) for index, item in enumerate(value)]


def _char_span(item: object, key: str, index: int) -> CharSpan:
    where = f"{key}[{index}]"
    if isinstance(item, list):
        if len(item) != 3:
            raise RecordError(f"{where} has {len(item)} items; expected [start, end, label]")
        start, end, label = item
    elif isinstance(item, dict):
        start = item.get("start", item.get("start_offset"))
        end = item.get("end", item.get("end_offset"))
        label = item.get("label")
    else:
        raise RecordError(
            f"{where} is a {type(item).__name__}; expected [start, end, label] or an object "
            "with 'start', 'end' and 'label'"
        )
    for name, offset in (("start", start), ("end", end)):
        # bool is a subclass of int, but true and false are no offsets.
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise RecordError(f"{where}: the {name} offset {offset!r} is not an integer")
    if not isinstance(label, str) or not label.strip():
        raise RecordError(f"{where}: invalid label {label!r}; expected a non-empty string")
    return CharSpan(start, end, label.strip())


def record_sentences(record: dict[str, Any], text: str) -> list[list[Token]]:
    """Return the sentences of tokens of a record: its ``tokens`` key, else the tokenizer's."""
    value = record.get("tokens")
    if value is None:
        return tokenize_document(text)
    if not isinstance(value, list) or not value:
        raise RecordError(
            f"'tokens' must be a non-empty list of strings, lists of strings or objects with "
            f"'text', 'start' and 'end', found {value!r}"
        )
    if all(isinstance(item, str) for item in value):
        tokens, _ = _align_words(value, text, 0)
        return [tokens]
    if all(isinstance(item, list) for item in value):
        sentences = []
        position = 0
        for words in value:
            tokens, position = _align_words(words, text, position)
            sentences.append(tokens)
        return [sentence for sentence in sentences if sentence]
    if all(isinstance(item, dict) for item in value):
        return [_offset_tokens(value, text)]
    raise RecordError(
        "'tokens' mixes kinds of items; use only strings, only lists of strings or only objects"
    )


def _align_words(words: list[Any], text: str, position: int) -> tuple[list[Token], int]:
    """Find ``words`` in ``text`` from ``position`` on, in order, with only spaces between them."""
    tokens = []
    for index, word in enumerate(words):
        if not isinstance(word, str):
            raise RecordError(f"token {index} is {word!r}; expected a string")
        if is_separator(word):
            continue
        while position < len(text) and is_separator(text[position]):
            position += 1
        if not text.startswith(word, position):
            raise RecordError(
                f"token {index} {word!r} does not match the text at character {position} "
                f"({_context(text, position, position)}); the tokens must appear in 'text' in "
                "order, separated only by whitespace"
            )
        tokens.append(Token(word, position, position + len(word)))
        position += len(word)
    return tokens, position


def _offset_tokens(items: list[dict[str, Any]], text: str) -> list[Token]:
    """Read tokens given as objects with ``start``, ``end`` and optionally ``text``."""
    tokens: list[Token] = []
    for index, item in enumerate(items):
        start, end = item.get("start"), item.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            raise RecordError(f"tokens[{index}] needs integer 'start' and 'end', found {item!r}")
        previous_end = tokens[-1].end if tokens else 0
        if not previous_end <= start < end <= len(text):
            raise RecordError(
                f"tokens[{index}] [{start}, {end}) does not fit: tokens must be in order, "
                f"non-empty and within the text of {len(text)} characters"
            )
        word = text[start:end]
        if "text" in item and item["text"] != word:
            raise RecordError(
                f"tokens[{index}] has text {item['text']!r} but its offsets [{start}, {end}) "
                f"select {word!r}"
            )
        if not is_separator(word):
            tokens.append(Token(word, start, end))
    return tokens


# ---------------------------------------------------------------------------------------------
# Alignment of character spans to tokens


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a valid ``on_misaligned`` value, else raise ConfigError."""
    if mode not in MISALIGNED_MODES:
        raise ConfigError(
            f"invalid on_misaligned value {mode!r}; choose one of {', '.join(MISALIGNED_MODES)}"
        )
    return mode


def align_spans(
    text: str, tokens: Sequence[Token], spans: Iterable[CharSpan], mode: str
) -> tuple[list[TokenSpan], list[Misaligned]]:
    """Map character spans onto ``tokens`` as half-open token spans ``(first, last, label)``.

    Returns the token spans that fit, sorted, and the spans that did not with the reason. In
    mode ``"expand"`` a span that starts or ends inside a token or in whitespace is widened to
    the tokens it touches. In the other modes such a span is returned as a problem. Exact duplicates
    count once. Of two overlapping spans, the one that starts later in the text (or, from the
    same start, is shorter) is a problem. The caller decides whether a problem is raised or
    dropped.
    """
    starts = [token.start for token in tokens]
    ends = [token.end for token in tokens]
    first_at = {token.start: index for index, token in enumerate(tokens)}
    last_at = {token.end: index + 1 for index, token in enumerate(tokens)}
    problems: list[Misaligned] = []
    placed: list[tuple[TokenSpan, CharSpan]] = []

    for span in sorted(set(spans), key=lambda s: (s.start, -s.end, s.label)):
        problem = _range_problem(span, len(text))
        if problem is not None:
            problems.append(problem)
            continue
        first, last = first_at.get(span.start), last_at.get(span.end)
        if first is None or last is None:
            if mode != "expand":
                reason = _boundary_reason(span, tokens, starts, ends)
                problems.append(Misaligned(span, reason, MISALIGNED_HINT))
                continue
            # The tokens that overlap [start, end): the first that ends after start, up to the
            # last that starts before end.
            first, last = bisect_right(ends, span.start), bisect_left(starts, span.end)
            if first >= last:
                problems.append(Misaligned(span, "covers no token", MISALIGNED_HINT))
                continue
            logger.debug("widened span %s to tokens [%d, %d)", span, first, last)
        placed.append(((first, last, span.label), span))

    # Widening keeps the order of the starts, so in text order the last kept span ends last.
    aligned: list[TokenSpan] = []
    previous: CharSpan | None = None
    for token_span, span in placed:
        if aligned and token_span[0] < aligned[-1][1] and previous is not None:
            reason = f"overlaps the entity [{previous.start}, {previous.end}) {previous.label!r}"
            problems.append(Misaligned(span, reason, OVERLAP_HINT))
            continue
        aligned.append(token_span)
        previous = span
    return aligned, problems


def _range_problem(span: CharSpan, length: int) -> Misaligned | None:
    if span.end <= span.start:
        return Misaligned(span, "is empty: its end must be greater than its start", RANGE_HINT)
    if span.start < 0:
        return Misaligned(span, "starts before the text", RANGE_HINT)
    if span.end > length:
        return Misaligned(span, f"runs past the end of the text ({length} characters)", RANGE_HINT)
    return None


def _boundary_reason(
    span: CharSpan, tokens: Sequence[Token], starts: list[int], ends: list[int]
) -> str:
    """Say where a span's start and end fall when they are not token boundaries."""
    parts = []
    if span.start not in starts:
        index = bisect_right(ends, span.start)
        if index == len(tokens):
            parts.append("starts after the last token")
        elif tokens[index].start < span.start:
            parts.append(f"starts inside the token {_describe(tokens[index])}")
        else:
            parts.append(f"starts in the whitespace before the token {_describe(tokens[index])}")
    if span.end not in ends:
        index = bisect_left(starts, span.end) - 1
        if index < 0:
            parts.append("ends before the first token")
        elif tokens[index].end > span.end:
            parts.append(f"ends inside the token {_describe(tokens[index])}")
        else:
            parts.append(f"ends in the whitespace after the token {_describe(tokens[index])}")
    return "is not on token boundaries: it " + " and ".join(parts)


def _describe(token: Token) -> str:
    return f"{token.text!r} [{token.start}, {token.end})"


def _context(text: str, start: int, end: int) -> str:
    """Return the text around ``[start, end)``, with the span in brackets, as a quoted string."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    left = max(0, start - CONTEXT_CHARACTERS)
    right = min(len(text), end + CONTEXT_CHARACTERS)
    before = ("..." if left > 0 else "") + text[left:start]
    after = text[end:right] + ("..." if right < len(text) else "")
    return repr(f"{before}[{text[start:end]}]{after}")


def describe_problem(problem: Misaligned, text: str) -> str:
    """Return the error message for an entity that does not fit the tokens."""
    span = problem.span
    return (
        f"entity [{span.start}, {span.end}) {span.label!r} {problem.reason}, in "
        f"{_context(text, span.start, span.end)}; {problem.hint}"
    )


# ---------------------------------------------------------------------------------------------
# Sentences and tags


def label_sentences(
    sentences: Sequence[Sequence[Token]], spans: Sequence[TokenSpan] | None
) -> list[tuple[list[Token], tuple[str, ...] | None]]:
    """Return each sentence's tokens with IOB2 tags from ``spans``, indices over all tokens.

    ``spans`` must be sorted and free of overlaps, and None means unlabelled. Sentences that one
    span crosses are joined, and empty sentences are dropped.
    """
    flat = [token for sentence in sentences for token in sentence]
    bounds = []
    position = 0
    for sentence in sentences:
        if sentence:
            bounds.append(position)
        position += len(sentence)
    crossed = {b for first, last, _ in spans or () for b in bounds if first < b < last}
    starts = [b for b in bounds if b not in crossed]
    if crossed:
        logger.debug("joined %d sentence(s) that an entity crosses", len(crossed))

    result: list[tuple[list[Token], tuple[str, ...] | None]] = []
    pending = list(spans or ())
    pending.reverse()
    for begin, end in zip(starts, [*starts[1:], len(flat)], strict=True):
        inside = []
        while pending and pending[-1][0] < end:
            first, last, label = pending.pop()
            inside.append((first - begin, last - begin, label))
        tags = None
        if spans is not None:
            tags = tuple(schemes.from_spans(inside, end - begin, INTERNAL_SCHEME))
        result.append((flat[begin:end], tags))
    return result


# ---------------------------------------------------------------------------------------------
# The reader


@register
class SpansReader(Reader):
    """Reader of JSON Lines span files (``.jsonl``) as annotation tools export them.

    ``on_misaligned`` is ``"error"``, ``"expand"`` or ``"skip"``: what to do with an entity that
    is not on token boundaries, overlaps another or lies outside the text (see the module
    docstring). The tags are always IOB2, so ``scheme`` has no effect here. With ``strict`` off,
    a record that cannot be read is skipped and its line recorded in ``Corpus.skipped_lines``.
    """

    name = "jsonl"
    description = (
        "a JSON Lines file (.jsonl) with one object per line: 'text' and 'entities' as "
        "[start, end, label] character spans"
    )

    def __init__(
        self, *, scheme: str = "auto", strict: bool = True, on_misaligned: str = "error"
    ) -> None:
        super().__init__(scheme=scheme, strict=strict)
        self.on_misaligned = check_mode(on_misaligned)

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == SUFFIX

    def parse(self, path: Path) -> ParseResult:
        return self._parse(path)[0]

    def read(self, path: Path) -> TextCorpus:
        parsed, sources = self._parse(path)
        return text_corpus(parsed, sources, path)

    def _parse(self, path: Path) -> tuple[ParseResult, list[SourceText]]:
        builder = CorpusBuilder(path, self.on_misaligned)
        skipped: list[int] = []
        document_key: object = _NO_DOCUMENT
        records = 0
        for number, line in enumerate(read_text_lines(path), start=1):
            if not line.strip():
                continue
            records += 1
            try:
                record = parse_record(line)
                text = record_text(record)
                sentences = record_sentences(record, text)
                entities = record_entities(record)
                intent = record_intent(record)
            except RecordError as exc:
                if self.strict:
                    raise DataError(f"document {records}: {exc}", path=path, line=number) from None
                skipped.append(number)
                continue
            same_document = "document" in record and record["document"] == document_key
            document_key = record.get("document", _NO_DOCUMENT)
            try:
                builder.add(
                    text,
                    sentences,
                    entities,
                    line=number,
                    number=records,
                    intent=intent,
                    same_document=same_document,
                )
            except DataError:
                if self.strict:
                    raise
                skipped.append(number)
        builder.log_summary()
        return builder.result(skipped), builder.sources


class CorpusBuilder:
    """Turns records (a text, its sentences of tokens and its entities) into raw sentences.

    Shared by the span-file and spaCy DocBin readers. Each ``add`` call is one record, and its
    errors name ``path`` and the record's line.
    """

    def __init__(self, path: Path, on_misaligned: str) -> None:
        self.path = path
        self.on_misaligned = check_mode(on_misaligned)
        self.sentences: list[RawSentence] = []
        self.sources: list[SourceText] = []
        self.records = 0
        self.document = -1
        self.dropped = 0
        self.empty = 0

    def add(
        self,
        text: str,
        sentences: Sequence[Sequence[Token]],
        entities: Sequence[CharSpan] | None,
        *,
        line: int,
        number: int,
        intent: str | None = None,
        same_document: bool = False,
    ) -> None:
        """Add one record whose tokens are ``sentences`` and whose entities are ``entities``.

        ``number`` is the 1-based number of the record (document) that error messages show, and
        ``same_document`` continues the document of the previous record.
        """
        record = self.records
        self.records += 1
        flat = [token for sentence in sentences for token in sentence]
        spans: list[TokenSpan] | None = None
        if entities is not None:
            spans, problems = align_spans(text, flat, entities, self.on_misaligned)
            if problems and self.on_misaligned == "error":
                message = describe_problem(problems[0], text)
                raise DataError(f"document {number}: {message}", path=self.path, line=line)
            self.dropped += len(problems)
        if not flat:
            self.empty += 1
            return
        if not same_document or self.document < 0:
            self.document += 1
        for tokens, tags in label_sentences(sentences, spans):
            words = tuple(token.text for token in tokens)
            offsets = tuple((token.start, token.end) for token in tokens)
            raw = RawSentence(words, tags, line, self.document, intent, line_step=0)
            self.sentences.append(raw)
            self.sources.append(SourceText(record, text, offsets))

    def log_summary(self) -> None:
        """Log one warning each for dropped entities and records without tokens."""
        if self.dropped:
            logger.warning(
                "%s: dropped %d entities that did not fit the tokens (on_misaligned=%s)",
                self.path,
                self.dropped,
                self.on_misaligned,
            )
        if self.empty:
            logger.warning("%s: skipped %d record(s) with no tokens", self.path, self.empty)

    def result(self, skipped: list[int]) -> ParseResult:
        """Return the parsed sentences with the lines of skipped records."""
        return ParseResult(self.sentences, self.document + 1, sorted(skipped))


def text_corpus(parsed: ParseResult, sources: list[SourceText], path: Path) -> TextCorpus:
    """Build a ``TextCorpus`` from sentences whose tags are already valid IOB2."""
    if not parsed.sentences:
        raise DataError(
            "no sentences: every record was empty or skipped; read the file with strict=True "
            "to see the first error",
            path=path,
        )
    sentences = [
        Sentence(raw.tokens, raw.tags, raw.document, raw.line, raw.intent)
        for raw in parsed.sentences
    ]
    log_skipped(path, parsed.skipped_lines)
    return TextCorpus(
        sentences=sentences,
        path=str(path),
        scheme=INTERNAL_SCHEME,
        documents=parsed.documents,
        skipped_lines=list(parsed.skipped_lines),
        sources=sources,
    )


# ---------------------------------------------------------------------------------------------
# Records for writers


def text_records(corpus: Corpus) -> list[TextRecord]:
    """Group a corpus into texts: the records it was read from, or one text per sentence.

    A sentence read with its source text (``TextCorpus``) keeps that text, so writing it back
    reproduces the input. Any other sentence gets its tokens joined by single spaces.
    """
    sources = corpus.sources if isinstance(corpus, TextCorpus) else []
    if len(sources) != len(corpus.sentences):
        sources = []
    records: list[TextRecord] = []
    previous: SourceText | None = None
    for index, sentence in enumerate(corpus.sentences):
        source = sources[index] if sources else None
        if source is not None and not _matches(sentence, source):
            source = None
        if source is None:
            records.append(_joined_record(sentence))
        elif previous is not None and previous.record == source.record and records:
            records[-1].sentences.append(sentence)
            records[-1].offsets.append(source.offsets)
        else:
            records.append(TextRecord(source.text, [sentence], [source.offsets]))
        previous = source
    return records


def _matches(sentence: Sentence, source: SourceText) -> bool:
    if len(source.offsets) != len(sentence.tokens):
        return False
    return all(
        source.text[start:end] == token
        for token, (start, end) in zip(sentence.tokens, source.offsets, strict=True)
    )


def _joined_record(sentence: Sentence) -> TextRecord:
    offsets = []
    position = 0
    for token in sentence.tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return TextRecord(" ".join(sentence.tokens), [sentence], [tuple(offsets)])


def record_spans(record: TextRecord) -> list[CharSpan] | None:
    """Return the entities of a record as character spans, or None if it has no tags."""
    if all(sentence.tags is None for sentence in record.sentences):
        return None
    spans = []
    for sentence, offsets in zip(record.sentences, record.offsets, strict=True):
        for first, last, label in schemes.to_spans(sentence.tags or (), INTERNAL_SCHEME):
            spans.append(CharSpan(offsets[first][0], offsets[last - 1][1], label))
    return spans
