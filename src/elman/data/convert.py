"""Conversion of a corpus between formats: CoNLL, parallel folders, span files and spaCy DocBin.

The corpus is read with ``read_corpus`` (tags become IOB2) and written with the writer of the
target format, so entities, tokens and sentences survive every pair of formats. Documents
survive all but the parallel format, intents all but CoNLL, and the original text (of span
files and DocBin files) survives span files and DocBin files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elman.data import scheme as schemes
from elman.data.docbin import write_docbin
from elman.data.readers import (
    READERS,
    SUFFIX_FORMATS,
    detect_format,
    read_corpus,
    reader_settings,
    resolve_path,
)
from elman.data.sentence import Corpus
from elman.data.spans import check_mode
from elman.data.writers import write_conll, write_parallel, write_spans
from elman.errors import ConfigError

logger = logging.getLogger(__name__)

Writer = Callable[[Corpus, Path, str, str], None]
# Formats whose files store tags in a scheme. The other formats store spans.
TAGGED_FORMATS = ("conll", "parallel")


def _write_conll(corpus: Corpus, path: Path, scheme: str, sep: str) -> None:
    write_conll(corpus, path, scheme=scheme, sep=sep)


def _write_parallel(corpus: Corpus, path: Path, scheme: str, sep: str) -> None:
    write_parallel(corpus, path, scheme=scheme)


def _write_spans(corpus: Corpus, path: Path, scheme: str, sep: str) -> None:
    write_spans(corpus, path)


def _write_docbin(corpus: Corpus, path: Path, scheme: str, sep: str) -> None:
    write_docbin(corpus, path)


WRITERS: dict[str, Writer] = {
    "conll": _write_conll,
    "parallel": _write_parallel,
    "jsonl": _write_spans,
    "spacy": _write_docbin,
}


@dataclass(frozen=True)
class Conversion:
    """The result of ``convert``: the corpus read, and its input and output formats."""

    corpus: Corpus
    source_format: str
    target_format: str

    @property
    def entities(self) -> int:
        return sum(len(schemes.to_spans(sentence.tags or ())) for sentence in self.corpus.sentences)


def output_format(path: str | Path) -> str:
    """Return the format to write ``path`` in, from its name.

    ``.jsonl`` is a span file and ``.spacy`` a DocBin file. An existing directory, or a path
    written with a trailing slash, is a parallel folder. Anything else is a CoNLL file.
    """
    text = str(path)
    suffix_format = SUFFIX_FORMATS.get(Path(text).suffix.lower())
    if suffix_format is not None:
        return suffix_format
    if text.endswith(("/", "\\")) or Path(text).is_dir():
        return "parallel"
    return "conll"


def write_corpus(
    corpus: Corpus, path: str | Path, format: str, *, scheme: str = "auto", sep: str = "auto"
) -> None:
    """Write ``corpus`` to ``path`` in ``format``, atomically.

    ``scheme`` is the tag scheme of CoNLL and parallel output (``"auto"``: the scheme the corpus
    was read in), and ``sep`` the column separator of CoNLL output.
    """
    writer = WRITERS.get(format)
    if writer is None:
        raise ConfigError(
            f"unknown output format {format!r}; choose one of {', '.join(sorted(WRITERS))}"
        )
    if scheme != "auto":
        scheme = schemes.normalize_scheme(scheme)
        if format not in TAGGED_FORMATS:
            logger.warning(
                "ignoring the tag scheme %s: %s files store spans, not tags", scheme, format
            )
    writer(corpus, Path(path), scheme, sep)


def convert(
    source: str | Path,
    target: str | Path,
    *,
    from_format: str = "auto",
    to_format: str = "auto",
    from_scheme: str = "auto",
    to_scheme: str = "auto",
    sep: str = "auto",
    on_misaligned: str = "error",
) -> Conversion:
    """Read the corpus at ``source`` and write it to ``target`` in another format.

    ``from_format`` and ``to_format`` are format names or ``"auto"`` (detected from the input,
    and from the output name by ``output_format``). ``from_scheme`` is the tag scheme of
    the input, ``to_scheme`` that of CoNLL and parallel output (``"auto"`` keeps the input's).
    ``sep`` is the column separator of CoNLL input and output, and ``on_misaligned`` says what
    to do with entities off token boundaries in span files and DocBin files.
    """
    check_mode(on_misaligned)
    resolved = resolve_path(source)
    read_format = detect_format(resolved) if from_format == "auto" else from_format
    if read_format not in READERS:
        raise ConfigError(
            f"unknown input format {read_format!r}; choose one of {', '.join(sorted(READERS))}"
        )
    write_format = output_format(target) if to_format == "auto" else to_format
    accepted = reader_settings(READERS[read_format])
    settings: dict[str, Any] = {}
    if "sep" in accepted:
        settings["sep"] = sep
    elif sep != "auto" and write_format != "conll":
        logger.warning(
            "ignoring sep=%r: neither %s input nor %s output has columns",
            sep,
            read_format,
            write_format,
        )
    if "on_misaligned" in accepted:
        settings["on_misaligned"] = on_misaligned
    elif on_misaligned != "error":
        logger.warning(
            "ignoring on_misaligned=%r: %s input has no character spans", on_misaligned, read_format
        )

    corpus = read_corpus(resolved, read_format, scheme=from_scheme, **settings)
    write_corpus(corpus, target, write_format, scheme=to_scheme, sep=sep)
    logger.info(
        "converted %d sentences from %s (%s) to %s (%s)",
        len(corpus),
        source,
        read_format,
        target,
        write_format,
    )
    return Conversion(corpus, read_format, write_format)
