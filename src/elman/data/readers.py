"""The registry of corpus readers and ``read_corpus``, the one entry point for reading a corpus.

A reader turns a file or folder into a ``Corpus``. Each registered reader parses its format into
``RawSentence`` objects, and the base class checks the tags, picks the tag scheme, converts the tags
to IOB2 (the internal scheme) and counts scheme violations, so every format gets the same checks.
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from elman.data import scheme as schemes
from elman.data.sentence import Corpus, Sentence
from elman.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

INTERNAL_SCHEME = "iob2"
BUILTIN_PREFIX = "builtin:"
BUILTIN_SPLITS = ("train", "dev", "test")
MAX_REPORTED_LINES = 10
# Formats recognised by the file name alone. They are checked before the registry is asked,
# because the CoNLL reader accepts any file.
SUFFIX_FORMATS = {".jsonl": "jsonl", ".spacy": "spacy"}


@dataclass(frozen=True, slots=True)
class RawSentence:
    """One sentence as parsed, before its tags are checked and converted to IOB2.

    Token ``i`` was on line ``line + i * line_step``: a column file has one token per line
    (``line_step`` 1) and a parallel file has a whole sentence on one line (``line_step`` 0).
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None
    line: int
    document: int = 0
    intent: str | None = None
    line_step: int = 1

    def token_line(self, index: int) -> int:
        return self.line + index * self.line_step


@dataclass(slots=True)
class ParseResult:
    """The output of a reader's parser: the sentences read and the first lines of skipped ones."""

    sentences: list[RawSentence]
    documents: int = 1
    skipped_lines: list[int] = field(default_factory=list)


class Reader(ABC):
    """A loader for one corpus format.

    ``scheme`` is the tag scheme of the file (``"auto"`` detects it). With ``strict`` off, a
    sentence that cannot be read is skipped and its first line recorded in
    ``Corpus.skipped_lines``. Errors that concern the whole file are raised in both modes.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, *, scheme: str = "auto", strict: bool = True) -> None:
        self.scheme = schemes.normalize_scheme(scheme, allow_auto=True)
        self.strict = strict

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """Return whether ``path`` looks like a corpus in this reader's format."""

    @classmethod
    def source_files(cls, path: Path) -> list[Path]:
        """Return the files whose contents make up the corpus at ``path``."""
        return [path]

    @classmethod
    def tags_file(cls, path: Path) -> Path:
        """Return the file that contains the tags of the corpus at ``path``, for error messages."""
        return path

    @abstractmethod
    def parse(self, path: Path) -> ParseResult:
        """Parse the corpus at ``path`` into sentences whose tags are still unchecked."""

    def read(self, path: Path) -> Corpus:
        """Read the corpus at ``path``, with tags checked and converted to IOB2."""
        parsed = self.parse(path)
        return build_corpus(
            parsed, path, scheme=self.scheme, strict=self.strict, tags_path=self.tags_file(path)
        )


ReaderType = TypeVar("ReaderType", bound=type[Reader])

READERS: dict[str, type[Reader]] = {}


def register(cls: ReaderType) -> ReaderType:
    """Add a reader class to ``READERS`` under its ``name`` (a class decorator)."""
    READERS[cls.name] = cls
    return cls


def get_reader(name: str) -> type[Reader]:
    """Return the reader class registered as ``name``."""
    try:
        return READERS[name]
    except KeyError:
        known = ", ".join(sorted(READERS))
        raise ConfigError(f"unknown corpus format {name!r}; known formats: {known}") from None


def _format_list() -> str:
    return "; ".join(f"{name} ({cls.description})" for name, cls in sorted(READERS.items()))


def detect_format(path: Path) -> str:
    """Return the format of ``path``: from its suffix, else the first reader that detects it."""
    if not path.exists():
        raise DataError("file or directory not found", path=path)
    by_suffix = SUFFIX_FORMATS.get(path.suffix.lower())
    if by_suffix in READERS and path.is_file():
        return by_suffix
    for name, cls in READERS.items():
        if cls.detect(path):
            return name
    raise DataError(f"no corpus format matches this path; formats: {_format_list()}", path=path)


def resolve_path(path: str | Path) -> Path:
    """Return the filesystem path of ``path``, resolving ``builtin:SPLIT`` to the shipped corpus."""
    text = str(path)
    if not text.startswith(BUILTIN_PREFIX):
        return Path(path)
    split = text[len(BUILTIN_PREFIX) :]
    if split not in BUILTIN_SPLITS:
        choices = ", ".join(BUILTIN_PREFIX + name for name in BUILTIN_SPLITS)
        raise ConfigError(f"unknown built-in corpus {text!r}; choose one of {choices}")
    # The shipped corpus is a plain file inside the installed package, so a real path exists.
    return Path(str(resources.files("elman").joinpath("resources", "corpus", f"{split}.conll")))


def reader_settings(cls: type[Reader]) -> dict[str, Any]:
    """Return the settings that a reader's constructor accepts, with their defaults."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _settings_for(cls: type[Reader], settings: dict[str, Any], detected: bool) -> dict[str, Any]:
    """Return the settings meant for ``cls``, raising ConfigError on unknown ones.

    When the format was detected, the caller could not know which reader it gets, so a setting
    of another registered reader is dropped, with a warning unless it has that reader's default.
    """
    accepted = reader_settings(cls)
    kept = {}
    for name, value in settings.items():
        if name in accepted:
            kept[name] = value
            continue
        others = [other for other in READERS.values() if name in reader_settings(other)]
        if not detected or not others:
            raise ConfigError(
                f"unknown setting {name!r} for the {cls.name} reader; "
                f"it accepts: {', '.join(sorted(accepted))}"
            )
        if any(reader_settings(other)[name] != value for other in others):
            logger.warning(
                "ignoring %s=%r: the %s reader has no such setting", name, value, cls.name
            )
    return kept


def make_reader(format: str, path: Path, settings: dict[str, Any]) -> Reader:
    """Return a reader for ``format`` (``"auto"``: detected from ``path``) with ``settings``."""
    detected = format == "auto"
    cls = get_reader(detect_format(path) if detected else format)
    return cls(**_settings_for(cls, settings, detected))


def read_corpus(
    path: str | Path, format: str = "auto", *, cache: bool = False, **settings: Any
) -> Corpus:
    """Read a corpus file or folder, or ``builtin:train|dev|test``, into a ``Corpus``.

    ``format`` names a registered reader or is ``"auto"``; ``settings`` go to the reader's
    constructor. With ``cache`` on, the parsed corpus is stored in and loaded from the binary
    cache, keyed by the file contents and the settings.
    """
    resolved = resolve_path(path)
    if cache:
        # Imported here because the cache module itself reads corpora through this module.
        from elman.data.cache import load_cached

        return load_cached(resolved, format, settings)
    return make_reader(format, resolved, settings).read(resolved)


def read_text_lines(path: Path) -> list[str]:
    """Return the lines of a UTF-8 text file, without line endings and without a leading BOM.

    Lines end at ``\\n``, and a ``\\r`` before it is dropped, so LF, CRLF and mixed files read
    the same. Only ``\\n`` splits lines: other Unicode line separators stay inside the text.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end]
        raise DataError(
            f"invalid UTF-8 byte(s) {bad!r}: the file must be UTF-8; re-encode it, for example "
            f"with `iconv -f latin1 -t utf-8`",
            path=path,
            line=line,
        ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _tag_error(tag: str, scheme: str) -> str | None:
    """Return why ``tag`` is invalid in ``scheme`` (any scheme when ``"auto"``), or None."""
    try:
        if scheme == "auto":
            schemes.split_tag(tag)
        else:
            schemes.check_tag(tag, scheme)
    except ValueError as exc:
        return str(exc)
    return None


def log_skipped(path: str | Path, skipped_lines: Sequence[int]) -> None:
    """Log one warning with the number of skipped sentences and the first lines of some."""
    if not skipped_lines:
        return
    shown = ", ".join(str(line) for line in skipped_lines[:MAX_REPORTED_LINES])
    more = ", ..." if len(skipped_lines) > MAX_REPORTED_LINES else ""
    logger.warning(
        "%s: skipped %d sentence(s) that could not be read, starting on lines %s%s",
        path,
        len(skipped_lines),
        shown,
        more,
    )


def log_violations(path: str | Path, violations: int, scheme: str) -> None:
    """Log one warning with the number of tags that break the rules of ``scheme``."""
    if violations > 0:
        logger.warning(
            "%s: %d tag(s) break the rules of the %s scheme; their entities were read the way "
            "conlleval reads them",
            path,
            violations,
            scheme,
        )


def _keep_valid(
    sentences: list[RawSentence], scheme: str, strict: bool, path: Path, skipped: list[int]
) -> list[RawSentence]:
    """Return the sentences whose tags are all valid in ``scheme``.

    A sentence with an invalid tag raises DataError when ``strict``, else its first line is
    added to ``skipped``.
    """
    # A corpus has few distinct tags, so each is checked once rather than once per token.
    distinct = {tag for sentence in sentences if sentence.tags is not None for tag in sentence.tags}
    errors = {tag: error for tag in distinct if (error := _tag_error(tag, scheme)) is not None}
    if not errors:
        return sentences

    kept = []
    for sentence in sentences:
        tags = sentence.tags or ()
        bad = next((index for index, tag in enumerate(tags) if tag in errors), None)
        if bad is None:
            kept.append(sentence)
        elif strict:
            raise DataError(errors[tags[bad]], path=path, line=sentence.token_line(bad))
        else:
            skipped.append(sentence.line)
    return kept


def _detect_scheme(sequences: list[list[str]], path: Path) -> str:
    if not sequences:
        return INTERNAL_SCHEME
    try:
        return schemes.detect_scheme(sequences)
    except ValueError as exc:
        raise DataError(
            f"{exc}, or set the scheme with scheme=... (--scheme on the command line)", path=path
        ) from None


def _require_sentences(kept: list[RawSentence], path: Path) -> None:
    if not kept:
        raise DataError(
            "all sentences were skipped because none could be read; read the file with "
            "strict=True to see the first error",
            path=path,
        )


def build_corpus(
    parsed: ParseResult,
    path: Path,
    *,
    scheme: str,
    strict: bool,
    tags_path: Path | None = None,
) -> Corpus:
    """Check the tags of parsed sentences, convert them to IOB2 and return the ``Corpus``.

    ``scheme`` is the scheme the tags are written in, or ``"auto"`` to detect it from the tags.
    Tag errors name ``tags_path`` (default ``path``) and the line of the tag.
    """
    tags_path = path if tags_path is None else tags_path
    skipped = list(parsed.skipped_lines)
    kept = _keep_valid(parsed.sentences, scheme, strict, tags_path, skipped)
    _require_sentences(kept, path)

    sequences = [list(sentence.tags) for sentence in kept if sentence.tags is not None]
    if scheme == "auto":
        source = _detect_scheme(sequences, tags_path)
        # A prefix that is valid in some scheme can still be foreign to the detected one.
        kept = _keep_valid(kept, source, strict, tags_path, skipped)
        _require_sentences(kept, path)
    else:
        source = scheme

    violations = 0
    sentences = []
    for raw in kept:
        tags = None
        if raw.tags is not None:
            violations += schemes.count_violations(list(raw.tags), source)
            tags = tuple(schemes.convert(list(raw.tags), source, INTERNAL_SCHEME))
        sentence = Sentence(raw.tokens, tags, raw.document, raw.line, raw.intent)
        sentences.append(sentence)

    skipped.sort()
    log_skipped(path, skipped)
    log_violations(path, violations, source)
    return Corpus(
        sentences=sentences,
        path=str(path),
        scheme=source,
        documents=parsed.documents,
        violations=violations,
        skipped_lines=skipped,
    )


# The built-in readers register themselves on import; they import this module, so they come last.
from elman.data import conll, docbin, parallel, spans  # noqa: E402, F401
