"""The model directory: round trip, manifest checks, format version, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from elman.errors import ModelError
from elman.store import FORMAT_VERSION, load_model, state_dict_equal
from elman.tag.predictor import load


def _copy(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model, target)
    return target


def test_round_trip_gives_identical_tensors(tiny_model: Path, tmp_path: Path) -> None:
    from elman.store import save_model

    first = load_model(tiny_model)
    save_model(first, tmp_path / "again")
    second = load_model(tmp_path / "again")
    assert state_dict_equal(first.model, second.model)
    assert first.vocab.tags == second.vocab.tags


def test_round_trip_gives_identical_tags(tiny_model: Path, tmp_path: Path) -> None:
    from elman.store import save_model

    save_model(load_model(tiny_model), tmp_path / "again")
    sentences = [["Mara", "Quist", "visited", "Oslo", "."], ["Pellucid", "hired", "Jonas"]]
    assert load(tiny_model).tag_sentences(sentences) == load(tmp_path / "again").tag_sentences(
        sentences
    )


def test_model_directory_has_no_pickle(tiny_model: Path) -> None:
    names = sorted(p.name for p in tiny_model.iterdir() if p.is_file())
    assert {"model.safetensors", "config.json", "vocab.json", "scores.json"} <= set(names)
    assert not [n for n in names if n.endswith((".pt", ".pth", ".pkl", ".bin"))]


@pytest.mark.parametrize("name", ["model.safetensors", "vocab.json", "config.json"])
def test_missing_file_is_reported(tiny_model: Path, tmp_path: Path, name: str) -> None:
    copy = _copy(tiny_model, tmp_path)
    (copy / name).unlink()
    with pytest.raises(ModelError, match=f"{name}: missing"):
        load_model(copy)


def test_truncated_weights_are_reported(tiny_model: Path, tmp_path: Path) -> None:
    copy = _copy(tiny_model, tmp_path)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="SHA-256 differs"):
        load_model(copy)


def test_altered_weights_are_reported(tiny_model: Path, tmp_path: Path) -> None:
    copy = _copy(tiny_model, tmp_path)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="truncated or altered"):
        load_model(copy)


def test_missing_manifest_is_reported(tiny_model: Path, tmp_path: Path) -> None:
    copy = _copy(tiny_model, tmp_path)
    (copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"manifest\.json: missing"):
        load_model(copy)


def test_newer_format_is_reported(tiny_model: Path, tmp_path: Path) -> None:
    from elman.store import MODEL_FILES, _sha256

    copy = _copy(tiny_model, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = FORMAT_VERSION + 1
    (copy / "config.json").write_text(json.dumps(config))
    manifest = {name: _sha256(copy / name) for name in MODEL_FILES}
    (copy / "manifest.json").write_text(json.dumps({"sha256": manifest}))
    with pytest.raises(ModelError, match="newer than this version of elman reads"):
        load_model(copy)


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model directory not found"):
        load_model(tmp_path / "nothing")
