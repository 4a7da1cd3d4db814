"""Reading word2vec and GloVe files, and starting the embeddings from them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from elman.data.vocab import Vocabularies
from elman.errors import ConfigError, DataError
from elman.model.pretrained import extend_vocabulary, initialise_embeddings, read_vectors

WORDS = ["Paris", "is", "big", "Oslo"]
VECTORS = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


def _glove(path: Path) -> Path:
    lines = [f"{w} {' '.join(str(v) for v in row)}" for w, row in zip(WORDS, VECTORS, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _word2vec_text(path: Path) -> Path:
    _glove(path)
    path.write_text(f"4 3\n{path.read_text()}", encoding="utf-8")
    return path


def _word2vec_binary(path: Path) -> Path:
    data = b"4 3\n"
    for word, row in zip(WORDS, VECTORS, strict=True):
        data += word.encode() + b" " + struct.pack("<3f", *row) + b"\n"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("writer", [_glove, _word2vec_text, _word2vec_binary])
def test_formats_read_the_same_vectors(writer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    words, vectors = read_vectors(writer(tmp_path / "vectors"))
    assert words == WORDS
    assert np.allclose(vectors, VECTORS)


def test_limit_keeps_first_vectors(tmp_path: Path) -> None:
    words, vectors = read_vectors(_glove(tmp_path / "v.txt"), limit=2)
    assert words == WORDS[:2]
    assert vectors.shape == (2, 3)


def test_ragged_line_names_line(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"v.txt:2: 2 values, expected 3"):
        read_vectors(path)


def test_truncated_binary_is_reported(tmp_path: Path) -> None:
    path = _word2vec_binary(tmp_path / "v.bin")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="ends after 3 of 4 vectors"):
        read_vectors(path)


def test_embeddings_start_from_vectors(tmp_path: Path) -> None:
    vocab = Vocabularies.build([["paris", "is", "nice"]], [["B-LOC", "O", "O"]])
    words, vectors = read_vectors(_glove(tmp_path / "v.txt"))
    extend_vocabulary(vocab, words)
    embedding = torch.nn.Embedding(len(vocab.words), 3, padding_idx=0)
    filled = initialise_embeddings(embedding, vocab, words, vectors, freeze=True)
    assert filled == 4
    assert torch.allclose(embedding.weight[vocab.words.get("oslo")], torch.tensor(VECTORS[3]))
    assert not embedding.weight.requires_grad


def test_dimension_mismatch_names_setting(tmp_path: Path) -> None:
    vocab = Vocabularies.build([["paris"]], [["O"]])
    words, vectors = read_vectors(_glove(tmp_path / "v.txt"))
    embedding = torch.nn.Embedding(len(vocab.words), 5)
    with pytest.raises(ConfigError, match=r"set model\.word_dim=3"):
        initialise_embeddings(embedding, vocab, words, vectors, freeze=False)


def test_training_with_vectors_keeps_them_frozen(tiny_corpus: Path, tmp_path: Path) -> None:
    from elman.store import load_model
    from elman.train.launch import launch_training

    vectors = _glove(tmp_path / "v.txt")
    output = tmp_path / "model"
    launch_training(
        train_path=str(tiny_corpus),
        dev=None,
        output=output,
        overrides=[
            f"model.pretrained='{vectors}'",
            "model.freeze_pretrained=true",
            "model.word_dim=3",
            "model.hidden=8",
            "train.epochs=2",
        ],
        progress=False,
    )
    saved = load_model(output)
    row = saved.model.features.words.weight[saved.vocab.words.get("oslo")]
    assert torch.allclose(row, torch.tensor(VECTORS[3]))
