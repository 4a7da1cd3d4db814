"""Pre-trained word vectors from word2vec (text or binary) and GloVe (text) files.

Formats, detected from the file's first bytes:

- word2vec text: a header line ``<count> <dim>``, then ``word v1 ... vdim`` per line;
- word2vec binary: the same header, then per word ``word<space>`` followed by ``dim``
  little-endian float32 values (and an optional newline);
- GloVe text: no header, ``word v1 ... vdim`` per line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from elman.data.vocab import Vocabularies
from elman.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


def read_vectors(path: str | Path, *, limit: int = 0) -> tuple[list[str], np.ndarray]:
    """Return the words and a (words, dim) float32 matrix; ``limit`` > 0 keeps the first N."""
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            first = handle.readline()
            header = first.split()
            if len(header) == 2 and all(part.isdigit() for part in header):
                rest = handle.read()
                if _looks_binary(rest):
                    return _read_binary(source, rest, int(header[0]), int(header[1]), limit)
                return _read_text(source, rest.decode("utf-8", "replace").splitlines(), 2, limit)
            lines = [
                first.decode("utf-8", "replace"),
                *handle.read().decode("utf-8", "replace").splitlines(),
            ]
            return _read_text(source, lines, 1, limit)
    except OSError as error:
        raise DataError(f"cannot read the vectors file ({error.strerror})", path=source) from error


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\x00" in sample


def _read_text(
    path: Path, lines: list[str], first_line: int, limit: int
) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    rows: list[list[float]] = []
    dim = 0
    for number, line in enumerate(lines, start=first_line):
        parts = line.rstrip().split(" ")
        if len(parts) < 2:
            continue
        if dim == 0:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise DataError(
                f"{len(parts) - 1} values, expected {dim} as on the first vector line",
                path=path,
                line=number,
            )
        try:
            rows.append([float(value) for value in parts[1:]])
        except ValueError as error:
            raise DataError(f"invalid number ({error})", path=path, line=number) from error
        words.append(parts[0])
        if limit and len(words) >= limit:
            break
    if not words:
        raise DataError("no vectors found; expected word2vec or GloVe text", path=path)
    return words, np.asarray(rows, dtype=np.float32)


def _read_binary(
    path: Path, data: bytes, count: int, dim: int, limit: int
) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    matrix = np.empty((min(count, limit) if limit else count, dim), dtype=np.float32)
    position = 0
    width = 4 * dim
    for row in range(matrix.shape[0]):
        space = data.find(b" ", position)
        if space < 0 or space + 1 + width > len(data):
            raise DataError(f"binary word2vec file ends after {row} of {count} vectors", path=path)
        words.append(data[position:space].decode("utf-8", "replace").lstrip("\n"))
        matrix[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        position = space + 1 + width
    return words, matrix


def extend_vocabulary(vocab: Vocabularies, words: list[str]) -> None:
    """Add the word forms of pre-trained words, so that they keep their vectors at test time."""
    for word in words:
        vocab.words.add(vocab.word_form(word))


def initialise_embeddings(
    embedding: torch.nn.Embedding,
    vocab: Vocabularies,
    words: list[str],
    vectors: np.ndarray,
    *,
    freeze: bool,
) -> int:
    """Copy vectors into the embedding rows of their word forms; return how many rows were set.

    When several pre-trained words share one form (``Paris`` and ``paris``), the first in the file
    wins, which in frequency-sorted files is the most frequent.
    """
    if vectors.shape[1] != embedding.embedding_dim:
        raise ConfigError(
            f"model.word_dim={embedding.embedding_dim} but the vectors have {vectors.shape[1]} "
            f"dimensions; set model.word_dim={vectors.shape[1]}"
        )
    filled: set[int] = set()
    with torch.no_grad():
        for word, vector in zip(words, vectors, strict=True):
            index = vocab.words.get(vocab.word_form(word), -1)
            if index > 1 and index not in filled:
                embedding.weight[index] = torch.from_numpy(vector)
                filled.add(index)
    embedding.weight.requires_grad_(not freeze)
    logger.info("pre-trained vectors for %d of %d words", len(filled), len(vocab.words))
    return len(filled)
