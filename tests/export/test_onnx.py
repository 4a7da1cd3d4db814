"""The ONNX export gives the same scores and tags as PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from elman.data.batch import encode_batch
from elman.data.readers import read_corpus
from elman.errors import ModelError
from elman.export.onnx import ONNX_FILE, OnnxEmissions, export_onnx
from elman.store import load_model
from elman.tag.predictor import load
from elman.train.launch import launch_training

ARCHITECTURES = {
    "elman-softmax": ["model.char_encoder='none'"],
    "bielman-cnn-crf": [
        "model.bidirectional=true",
        "model.char_encoder='cnn'",
        "model.output='crf'",
    ],
    "bielman-language-model": ["model.bidirectional=true", "model.lm_words=40"],
    "lstm-charrnn": ["model.cell='lstm'", "model.char_encoder='rnn'", "model.bidirectional=true"],
    "ensemble-crf-documents": [
        "model.members=2",
        "model.bidirectional=true",
        "model.output='crf'",
        "model.document_consistency=true",
    ],
}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp(request.param) / "model"
    launch_training(
        train_path="builtin:train",
        dev=None,
        output=output,
        overrides=[
            *ARCHITECTURES[request.param],
            "model.hidden=32",
            "model.word_dim=16",
            "train.epochs=1",
            "train.threads=1",
        ],
        progress=False,
    )
    export_onnx(load_model(output), output / ONNX_FILE)
    return output


def test_onnx_scores_match_torch(model_dir: Path) -> None:
    saved = load_model(model_dir)
    sentences = [["Mara", "Quist", "flew", "to", "Lund", "."], ["Hi"], ["A", "b", "c", "d"]]
    chars = saved.model_config.char_encoder != "none"
    batch = encode_batch(saved.vocab, sentences, chars=chars)
    with torch.inference_mode():
        expected = saved.model.emissions(batch)
    computed = OnnxEmissions(model_dir / ONNX_FILE)(batch)
    mask = batch.mask.unsqueeze(-1)
    assert torch.allclose(computed * mask, expected * mask, atol=1e-4)


def test_onnx_tags_equal_torch_on_corpus(model_dir: Path) -> None:
    sentences = [list(s.tokens) for s in read_corpus("builtin:train").sentences]
    assert len(sentences) >= 300
    torch_tags = load(model_dir).tag_sentences(sentences)
    onnx_tags = load(model_dir, backend="onnx").tag_sentences(sentences)
    assert onnx_tags == torch_tags


def test_missing_onnx_file_names_export_command(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"create it with: elman export {tiny_model} --onnx"):
        load(tiny_model, backend="onnx")
    elsewhere = tmp_path / "none.onnx"
    with pytest.raises(ModelError, match=f"elman export {tiny_model} --onnx {elsewhere}"):
        load(tiny_model, backend="onnx", onnx_file=elsewhere)


class _OldCharInput(torch.nn.Module):
    """A graph with the per-position character input of exports by earlier versions."""

    def forward(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        return words.float().unsqueeze(-1) + chars.float().sum(-1, keepdim=True)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_char_input_asks_for_export(tmp_path: Path) -> None:
    path = tmp_path / "old.onnx"
    words, chars = torch.zeros((1, 2), dtype=torch.long), torch.zeros((1, 2, 3), dtype=torch.long)
    torch.onnx.export(
        _OldCharInput(), (words, chars), str(path), input_names=["words", "chars"], dynamo=False
    )
    with pytest.raises(ModelError, match="export it again"):
        OnnxEmissions(path)


@pytest.mark.parametrize(
    "settings",
    [["model.cell='jordan'"], ["model.nonlinearity='sigmoid'"]],
    ids=["jordan", "sigmoid"],
)
def test_export_rejects_python_loop_cells(settings: list[str], tmp_path: Path) -> None:
    output = tmp_path / "model"
    launch_training(
        train_path="builtin:train",
        dev=None,
        output=output,
        overrides=[*settings, "model.hidden=8", "model.word_dim=8", "train.epochs=1"],
        progress=False,
        tensorboard=False,
    )
    with pytest.raises(ModelError, match="its recurrence is a Python loop"):
        export_onnx(load_model(output), output / ONNX_FILE)
    assert not (output / ONNX_FILE).exists()


def _elman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "elman", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_tag_reads_the_onnx_file_given(tiny_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "doc.txt"
    text.write_text("Jonas Feld visited Bergen.\nMara Quist left Oslo.\n", encoding="utf-8")
    exported = _elman("export", str(tiny_model), "--onnx", str(tmp_path / "other.onnx"))
    assert exported.returncode == 0, exported.stderr
    quantized = _elman(
        "export", str(tiny_model), "--onnx", str(tmp_path / "small.onnx"), "--quantize"
    )
    assert quantized.returncode == 0, quantized.stderr
    assert quantized.stderr == ""  # no onnxruntime advice at WARNING under -q

    by_torch = _elman("tag", str(tiny_model), str(text))
    by_file = _elman("tag", str(tiny_model), str(text), "--onnx", str(tmp_path / "other.onnx"))
    by_small = _elman("tag", str(tiny_model), str(text), "--onnx", str(tmp_path / "small.onnx"))

    assert by_file.returncode == 0, by_file.stderr
    assert by_small.returncode == 0, by_small.stderr
    assert not (tiny_model / ONNX_FILE).exists()
    entities = [json.loads(line)["entities"] for line in by_file.stdout.splitlines()]
    expected = [json.loads(line)["entities"] for line in by_torch.stdout.splitlines()]
    assert [[(e["start"], e["end"], e["label"]) for e in row] for row in entities] == [
        [(e["start"], e["end"], e["label"]) for e in row] for row in expected
    ]
    assert len(by_small.stdout.splitlines()) == len(expected)


def test_onnx_file_of_another_model_rejected(tmp_path: Path) -> None:
    # Two models of one corpus differ in their weights only: the seed.
    for seed in (1, 2):
        launch_training(
            train_path="builtin:train",
            dev=None,
            output=tmp_path / f"seed{seed}",
            overrides=["model.hidden=8", "model.word_dim=8", "train.epochs=1", "train.threads=1"],
            seed=seed,
            progress=False,
            tensorboard=False,
        )
    other = tmp_path / "seed2.onnx"
    exported = _elman("export", str(tmp_path / "seed2"), "--onnx", str(other))
    assert exported.returncode == 0, exported.stderr

    rejected = _elman("tag", str(tmp_path / "seed1"), "--onnx", str(other))
    accepted = _elman("tag", str(tmp_path / "seed2"), "--onnx", str(other))

    assert rejected.returncode == 2
    assert "Traceback" not in rejected.stderr
    assert rejected.stderr == (
        f"error: {other}: exported from another model or another version of this one; export "
        f"{tmp_path / 'seed1'} to a file of its own with: elman export {tmp_path / 'seed1'} and "
        "tag with --backend onnx\n"
    )
    assert accepted.returncode == 0, accepted.stderr
