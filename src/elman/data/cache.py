"""A binary cache of parsed corpora, so that a large corpus is parsed once and then loaded fast.

Each entry is one ``.npz`` file of plain numpy arrays with no pickled objects. Its name is a SHA-256
key over the contents of the corpus files, the reader and its settings, and the source code of the
modules that parse corpora. Editing a file, a setting or the parser therefore makes a new entry.
Entries are written to a temporary file in the cache directory and then renamed, so a reader never
sees a half-written entry. An entry that cannot be loaded anyway is rebuilt with a warning.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import json
import logging
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from elman.atomic import atomic_path
from elman.data.readers import Reader, log_skipped, log_violations, make_reader, resolve_path
from elman.data.sentence import Corpus, Sentence
from elman.errors import DataError

logger = logging.getLogger(__name__)

# Bump when the layout of the arrays below changes.
CACHE_VERSION = 1
CACHE_DIR_VARIABLE = "ELMAN_CACHE_DIR"
# The key covers the code of these modules and of the reader's own module, because that code
# decides what a corpus file parses to.
PARSER_MODULES = ("elman.data.readers", "elman.data.scheme", "elman.data.sentence", __name__)
HASH_BLOCK = 1 << 20
SEPARATOR = "\n"


class CacheFormatError(ValueError):
    """A cache entry whose arrays are missing, of the wrong type or inconsistent."""


def default_cache_dir() -> Path:
    """Return ``$ELMAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/elman``, else ``~/.cache/elman``."""
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "elman"


def file_digest(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's contents."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def _code_digest(modules: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in modules:
        source = getattr(sys.modules[name], "__file__", None)
        if source is not None:
            digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def cache_key(reader: type[Reader], path: Path, settings: dict[str, Any]) -> str:
    """Return the SHA-256 key of the corpus at ``path`` read by ``reader`` with ``settings``."""
    files = []
    for file in reader.source_files(path):
        try:
            digest = file_digest(file)
        except FileNotFoundError:
            raise DataError("file not found", path=file) from None
        except OSError as exc:
            raise DataError(f"cannot read the file: {exc.strerror}", path=file) from None
        # The files of a folder are keyed by name and contents, a single file by contents only.
        files.append(["" if file == path else file.name, digest])
    description = {
        "version": CACHE_VERSION,
        "reader": reader.name,
        "settings": settings,
        "files": files,
        "code": _code_digest((*PARSER_MODULES, reader.__module__)),
    }
    text = json.dumps(description, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_cached(
    path: str | Path,
    format: str = "auto",
    settings: dict[str, Any] | None = None,
    *,
    cache_dir: Path | None = None,
) -> Corpus:
    """Return the corpus at ``path`` from the cache, parsing and storing it on a miss.

    ``path``, ``format`` and ``settings`` are those of ``read_corpus``. ``cache_dir`` defaults to
    ``default_cache_dir()``. A cache directory that cannot be written only costs the speed-up.
    """
    path = resolve_path(path)
    settings = dict(settings or {})
    reader = make_reader(format, path, settings)
    entry = (cache_dir or default_cache_dir()) / f"{cache_key(type(reader), path, settings)}.npz"

    if entry.is_file():
        try:
            corpus = load_entry(entry, str(path))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            logger.warning(
                "ignoring the damaged corpus cache file %s (%s); rebuilding it", entry, exc
            )
        else:
            logger.debug("loaded %s from the corpus cache %s", path, entry)
            log_skipped(corpus.path, corpus.skipped_lines)
            log_violations(corpus.path, corpus.violations, corpus.scheme)
            return corpus

    corpus = reader.read(path)
    try:
        save_entry(corpus, entry)
    except OSError as exc:
        logger.warning(
            "cannot write the corpus cache file %s (%s); continuing without it", entry, exc
        )
    return corpus


def save_entry(corpus: Corpus, entry: Path) -> None:
    """Write ``corpus`` to ``entry`` atomically: into a temporary file, then renamed."""
    arrays = corpus_to_arrays(corpus)
    with atomic_path(entry) as temporary, temporary.open("wb") as stream:
        # A file object, because given a path np.savez appends ".npz" to the temporary name.
        np.savez(stream, **arrays)  # type: ignore[arg-type]


def load_entry(entry: Path, path: str) -> Corpus:
    """Load a cache entry as the ``Corpus`` of ``path``; CacheFormatError when inconsistent."""
    with np.load(entry, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    # Building some 10^5 tuples would trigger several garbage-collector passes over them, which
    # took about half of the load time; none of these objects can form a reference cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return arrays_to_corpus(arrays, path)
    finally:
        if enabled:
            gc.enable()


def _pack(strings: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """Return strings as one UTF-8 blob, their character offsets and the separator between them.

    The offsets ``[start, end)`` index the concatenation without separators. When no string
    contains a newline, the blob puts one between strings, so loading is one fast ``str.split``.
    Otherwise the separator is -1 and loading slices the text at the offsets.
    """
    plain = "".join(strings)
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    separator = -1 if SEPARATOR in plain else ord(SEPARATOR)
    text = plain if separator < 0 else SEPARATOR.join(strings)
    return {
        "blob": np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
        "offsets": offsets,
        "separator": np.array([separator], dtype=np.int64),
    }


def _unpack(blob: npt.NDArray[Any], offsets: npt.NDArray[Any], separator: int) -> list[str]:
    """Return the strings that ``_pack`` stored; CacheFormatError when they do not fit."""
    text = blob.tobytes().decode("utf-8")
    count = offsets.size - 1
    if separator < 0:
        _check_offsets(offsets, len(text), "string")
        return [text[start:end] for start, end in itertools.pairwise(offsets.tolist())]

    _check_offsets(offsets, len(text) - max(count - 1, 0), "string")
    strings = text.split(chr(separator)) if count > 0 else []
    if len(strings) != count:
        raise CacheFormatError(f"the blob has {len(strings)} strings, expected {count}")
    return strings


def _index(strings: list[str]) -> tuple[list[str], dict[str, int]]:
    names = sorted(set(strings))
    return names, {name: index for index, name in enumerate(names)}


def corpus_to_arrays(corpus: Corpus) -> dict[str, npt.NDArray[Any]]:
    """Return the arrays of a cache entry for ``corpus``.

    Tags and intents are stored as ids into sorted name lists. A token of a sentence without
    tags has tag id -1, and a sentence without an intent has intent id -1.
    """
    sentences = corpus.sentences
    tokens = [token for sentence in sentences for token in sentence.tokens]
    tags = [tag for sentence in sentences if sentence.tags for tag in sentence.tags]
    tag_names, tag_index = _index(tags)
    tag_ids: list[int] = []
    for sentence in sentences:
        if sentence.tags is None:
            tag_ids.extend([-1] * len(sentence))
        else:
            tag_ids.extend(tag_index[tag] for tag in sentence.tags)
    intents = [sentence.intent for sentence in sentences if sentence.intent is not None]
    intent_names, intent_index = _index(intents)
    intent_ids = [-1 if s.intent is None else intent_index[s.intent] for s in sentences]
    lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int64)

    arrays: dict[str, npt.NDArray[Any]] = {"version": np.array(CACHE_VERSION, dtype=np.int64)}
    _store(arrays, "token", tokens)
    _store(arrays, "tag", tag_names)
    arrays["tag_ids"] = np.array(tag_ids, dtype=np.int32)
    arrays["sentence_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays["labelled"] = np.array([s.tags is not None for s in sentences], dtype=np.bool_)
    arrays["documents"] = np.array([s.document for s in sentences], dtype=np.int64)
    arrays["lines"] = np.array([s.line for s in sentences], dtype=np.int64)
    _store(arrays, "intent", intent_names)
    arrays["intent_ids"] = np.array(intent_ids, dtype=np.int32)
    _store(arrays, "scheme", [corpus.scheme])
    arrays["counts"] = np.array([corpus.documents, corpus.violations], dtype=np.int64)
    arrays["skipped_lines"] = np.array(corpus.skipped_lines, dtype=np.int64)
    return arrays


def _get(
    arrays: dict[str, npt.NDArray[Any]], name: str, kind: str, size: int | None = None
) -> npt.NDArray[Any]:
    """Return the 1-d array ``name`` after checking its dtype kind and, if given, its size."""
    if name not in arrays:
        raise CacheFormatError(f"the array {name!r} is missing")
    array = arrays[name]
    if array.dtype.kind != kind or array.ndim != 1:
        raise CacheFormatError(f"the array {name!r} has dtype {array.dtype} and {array.ndim} dims")
    if size is not None and array.size != size:
        raise CacheFormatError(f"the array {name!r} has {array.size} items, expected {size}")
    return array


def _check_offsets(offsets: npt.NDArray[Any], end: int, kind: str) -> None:
    if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != end or np.any(np.diff(offsets) < 0):
        raise CacheFormatError(f"the {kind} offsets do not run from 0 to {end}")


def _check_ids(ids: npt.NDArray[Any], names: list[str], kind: str) -> None:
    if ids.size and (ids.min() < -1 or ids.max() >= len(names)):
        raise CacheFormatError(f"a {kind} id is outside -1 to {len(names) - 1}")


def _strings(arrays: dict[str, npt.NDArray[Any]], name: str) -> list[str]:
    separator = _get(arrays, f"{name}_separator", "i", 1)
    offsets = _get(arrays, f"{name}_offsets", "i")
    return _unpack(_get(arrays, f"{name}_blob", "u"), offsets, int(separator[0]))


def _store(arrays: dict[str, npt.NDArray[Any]], name: str, strings: Sequence[str]) -> None:
    for part, array in _pack(strings).items():
        arrays[f"{name}_{part}"] = array


def arrays_to_corpus(arrays: dict[str, npt.NDArray[Any]], path: str) -> Corpus:
    """Rebuild the ``Corpus`` of ``path`` from the arrays of a cache entry."""
    version = arrays.get("version")
    if version is None or version.shape != () or int(version) != CACHE_VERSION:
        raise CacheFormatError(f"the cache version is {version}, expected {CACHE_VERSION}")
    tokens = _strings(arrays, "token")
    tag_names = _strings(arrays, "tag")
    intent_names = _strings(arrays, "intent")
    schemes = _strings(arrays, "scheme")
    counts = _get(arrays, "counts", "i", 2).tolist()

    offsets = _get(arrays, "sentence_offsets", "i")
    _check_offsets(offsets, len(tokens), "sentence")
    count = offsets.size - 1
    tag_ids = _get(arrays, "tag_ids", "i", len(tokens))
    intent_ids = _get(arrays, "intent_ids", "i", count)
    _check_ids(tag_ids, tag_names, "tag")
    _check_ids(intent_ids, intent_names, "intent")
    if len(schemes) != 1:
        raise CacheFormatError(f"{len(schemes)} scheme names, expected 1")

    labelled = _get(arrays, "labelled", "b", count)
    # A token has no tag (id -1) exactly when its sentence is unlabelled.
    untagged = np.repeat(~labelled, np.diff(offsets))
    if not np.array_equal(tag_ids == -1, untagged):
        raise CacheFormatError("the tag ids do not match the labelled flags of the sentences")

    # Id -1 picks the None appended to the names: a token or sentence without a tag or intent.
    tags = tuple(np.array([*tag_names, None], dtype=object)[tag_ids].tolist())
    intents = np.array([*intent_names, None], dtype=object)[intent_ids].tolist()
    token_tuple = tuple(tokens)
    starts = offsets[:-1].tolist()
    ends = offsets[1:].tolist()
    # Slicing one tuple yields each sentence's tuple without copying through a list.
    sentence_tokens = [token_tuple[start:end] for start, end in zip(starts, ends, strict=True)]
    sentence_tags = [
        tags[start:end] if is_labelled else None
        for start, end, is_labelled in zip(starts, ends, labelled.tolist(), strict=True)
    ]
    documents = _get(arrays, "documents", "i", count).tolist()
    lines = _get(arrays, "lines", "i", count).tolist()
    sentences = list(map(Sentence, sentence_tokens, sentence_tags, documents, lines, intents))
    return Corpus(
        sentences=sentences,
        path=path,
        scheme=schemes[0],
        documents=counts[0],
        violations=counts[1],
        skipped_lines=_get(arrays, "skipped_lines", "i").tolist(),
    )
