"""Corpus writers: CoNLL columns, parallel folders (``seq.in``, ``seq.out``, ``label``) and
JSON Lines span files. Each writes atomically, so a reader sees the old file or the new one.

The spaCy DocBin writer is ``elman.data.docbin.write_docbin``.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elman import atomic
from elman.data import scheme as schemes
from elman.data.conll import DOCSTART
from elman.data.parallel import INTENTS_FILE, TAGS_FILE, TOKENS_FILE
from elman.data.readers import INTERNAL_SCHEME
from elman.data.sentence import Corpus, Sentence
from elman.data.spans import TextRecord, record_spans, text_records
from elman.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

CONLL_SEPARATORS = {"space": " ", "tab": "\t"}


def _where(sentence: Sentence) -> str:
    """Name a sentence in an error message: its input line when known, and its first tokens."""
    start = " ".join(sentence.tokens)[:40]
    line = f" (input line {sentence.line})" if sentence.line else ""
    return f"the sentence {start!r}{line}"


def sentence_tags(sentence: Sentence, scheme: str) -> list[str]:
    """Return the tags of a sentence in ``scheme``, or raise DataError when it has none."""
    if sentence.tags is None:
        raise DataError(
            f"{_where(sentence)} has no tags, but this format needs tags on every sentence; "
            "a corpus of text to tag can be written as CoNLL (one column) or as a span file"
        )
    return schemes.convert(sentence.tags, INTERNAL_SCHEME, scheme)


def _target_scheme(corpus: Corpus, scheme: str) -> str:
    if scheme == "auto":
        return corpus.scheme
    return schemes.normalize_scheme(scheme)


def _check_field(field: str, separator: str, kind: str, sentence: Sentence) -> None:
    forbidden = {"\n", "\r", "\t"} if separator == "tab" else None
    bad = any(char in forbidden for char in field) if forbidden else _has_space(field)
    if bad or not field:
        fix = "" if separator == "tab" else ", or write with sep='tab' (--sep tab)"
        raise DataError(
            f"{kind} {field!r} in {_where(sentence)} is empty or contains a character that "
            f"separates columns in {separator}-separated files; replace it (for example with "
            f"'_'){fix}"
        )


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def conll_separator(corpus: Corpus, sep: str) -> str:
    """Return ``sep``, resolving ``"auto"`` to tab when a token contains whitespace, else space."""
    if sep == "auto":
        spaced = any(
            _has_space(field)
            for sentence in corpus.sentences
            for field in (*sentence.tokens, *(sentence.tags or ()))
        )
        return "tab" if spaced else "space"
    if sep not in CONLL_SEPARATORS:
        raise ConfigError(f"invalid separator {sep!r}; choose one of auto, space, tab")
    return sep


def conll_lines(corpus: Corpus, *, scheme: str = "auto", sep: str = "auto") -> Iterator[str]:
    """Yield the lines of ``corpus`` in CoNLL columns: token and tag, a blank line after each
    sentence.

    ``scheme`` is the tag scheme to write (``"auto"``: the scheme the corpus was read in). A
    corpus with more than one document gets a ``-DOCSTART-`` line before each document. A
    corpus without tags is written as one token column.
    """
    target = _target_scheme(corpus, scheme)
    separator = conll_separator(corpus, sep)
    joiner = CONLL_SEPARATORS[separator]
    labelled = any(sentence.tags is not None for sentence in corpus.sentences)
    documents = {sentence.document for sentence in corpus.sentences}
    intents = sum(sentence.intent is not None for sentence in corpus.sentences)
    if intents:
        logger.warning("CoNLL files have no place for intents: %d intents are dropped", intents)

    previous_document: int | None = None
    for sentence in corpus.sentences:
        if len(documents) > 1 and sentence.document != previous_document:
            yield f"{DOCSTART}{joiner}O\n\n" if labelled else f"{DOCSTART}\n\n"
        previous_document = sentence.document
        tags = sentence_tags(sentence, target) if labelled else None
        for index, token in enumerate(sentence.tokens):
            _check_field(token, separator, "token", sentence)
            if token == DOCSTART:
                raise DataError(
                    f"the token {DOCSTART} in {_where(sentence)} would be read back as a "
                    "document start; replace it before writing"
                )
            if tags is None:
                yield token + "\n"
                continue
            _check_field(tags[index], separator, "tag", sentence)
            yield f"{token}{joiner}{tags[index]}\n"
        yield "\n"


def write_conll(
    corpus: Corpus, path: str | Path, *, scheme: str = "auto", sep: str = "auto"
) -> None:
    """Write ``corpus`` as a CoNLL file (see ``conll_lines``), atomically."""
    atomic.write_text(path, "".join(conll_lines(corpus, scheme=scheme, sep=sep)))


def parallel_files(corpus: Corpus, *, scheme: str = "auto") -> dict[str, str]:
    """Return the contents of ``seq.in``, ``seq.out`` and, when sentences have intents, ``label``.

    Every sentence needs tags, and either all sentences have an intent or none has.
    """
    target = _target_scheme(corpus, scheme)
    token_lines: list[str] = []
    tag_lines: list[str] = []
    for sentence in corpus.sentences:
        tags = sentence_tags(sentence, target)
        for token in sentence.tokens:
            _check_field(token, "space", "token", sentence)
        for tag in tags:
            _check_field(tag, "space", "tag", sentence)
        token_lines.append(" ".join(sentence.tokens) + "\n")
        tag_lines.append(" ".join(tags) + "\n")
    files = {TOKENS_FILE: "".join(token_lines), TAGS_FILE: "".join(tag_lines)}

    intents = [sentence.intent for sentence in corpus.sentences]
    missing = sum(intent is None for intent in intents)
    if 0 < missing < len(intents):
        raise DataError(
            f"{len(intents) - missing} sentences have an intent but {missing} do not; the "
            f"{INTENTS_FILE} file needs one intent per sentence, so give every sentence one"
        )
    if missing == 0:
        files[INTENTS_FILE] = "".join(f"{intent}\n" for intent in intents)
    return files


def write_parallel(corpus: Corpus, folder: str | Path, *, scheme: str = "auto") -> None:
    """Write ``corpus`` as a parallel folder, each file atomically.

    A ``label`` file left from an earlier corpus is removed when this corpus has no intents,
    because its lines would not match the new sentences.
    """
    directory = Path(folder)
    if directory.exists() and not directory.is_dir():
        raise DataError("exists and is not a directory; a parallel corpus is a folder", path=folder)
    files = parallel_files(corpus, scheme=scheme)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        atomic.write_text(directory / name, text)
    stale = directory / INTENTS_FILE
    if INTENTS_FILE not in files and stale.is_file():
        logger.warning("removing %s: the corpus written has no intents", stale)
        stale.unlink()


def span_record(
    record: TextRecord, *, tokens: bool = True, document: int | None = None
) -> dict[str, Any]:
    """Return the JSON object of one span-file record.

    ``tokens`` adds the tokenization (a list, or a list per sentence when the record has
    several), so that reading the file back gives the same tokens and sentences.
    """
    result: dict[str, Any] = {"text": record.text}
    entities = record_spans(record)
    if entities is not None:
        result["entities"] = [[span.start, span.end, span.label] for span in entities]
    intent = record.sentences[0].intent
    if intent is not None:
        result["intent"] = intent
    if document is not None:
        result["document"] = document
    if tokens:
        words = [list(sentence.tokens) for sentence in record.sentences]
        result["tokens"] = words[0] if len(words) == 1 else words
    return result


def span_lines(corpus: Corpus, *, tokens: bool = True) -> Iterator[str]:
    """Yield the lines of ``corpus`` as a JSON Lines span file.

    A record is a text that the corpus was read from, else one sentence with its tokens joined
    by single spaces. Records get a ``document`` key when two neighbours share a document.
    """
    records = text_records(corpus)
    documents = [record.sentences[0].document for record in records]
    shared = any(a == b for a, b in itertools.pairwise(documents))
    for record, document in zip(records, documents, strict=True):
        data = span_record(record, tokens=tokens, document=document if shared else None)
        yield json.dumps(data, ensure_ascii=False) + "\n"


def write_spans(corpus: Corpus, path: str | Path, *, tokens: bool = True) -> None:
    """Write ``corpus`` as a JSON Lines span file (see ``span_lines``), atomically."""
    atomic.write_text(path, "".join(span_lines(corpus, tokens=tokens)))
