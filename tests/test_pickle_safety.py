"""Model and checkpoint files cannot run code: a pickle in their place is rejected, never loaded."""

from __future__ import annotations

import ast
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import elman
from elman.errors import ModelError
from elman.store import MODEL_FILES, _sha256
from elman.tag.predictor import load

ELMAN = [sys.executable, "-m", "elman"]
SOURCE = Path(elman.__file__).resolve().parent
UNSAFE_MODULES = frozenset(["pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib"])
UNSAFE_MODULES |= {"shelve", "marshal"}


class _CreatesMarker:
    """An object whose unpickling creates the file ``marker``, as a malicious model file would."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _write_payload(path: Path, marker: Path) -> None:
    """Write a torch.save file (a zip with a pickle inside) that creates ``marker`` on load."""
    torch.save({"weight": _CreatesMarker(marker)}, path)


def _rewrite_manifest(directory: Path) -> None:
    """Record the current files in manifest.json, as an author who also edits the manifest would."""
    manifest = {name: _sha256(directory / name) for name in MODEL_FILES}
    (directory / "manifest.json").write_text(json.dumps({"sha256": manifest}), encoding="utf-8")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ELMAN, *args], input="Oslo\n", capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture()
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    return target


def test_public_load_is_checked() -> None:
    assert elman.load is load


def test_payload_runs_code_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = tmp_path / "payload.pt"
    _write_payload(payload, marker)
    torch.load(payload, weights_only=False)  # the unsafe load that elman never does
    assert marker.exists()


def test_pickled_weights_rejected_by_load(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "model.safetensors", marker)
    _rewrite_manifest(model_copy)
    with pytest.raises(ModelError, match=r"model\.safetensors: cannot load the weights"):
        load(model_copy)
    assert not marker.exists()


def test_pickled_weights_fail_manifest_check(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "model.safetensors", marker)
    with pytest.raises(ModelError, match=r"SHA-256 differs from manifest\.json"):
        load(model_copy)
    assert not marker.exists()


def test_pickled_weights_rejected_by_tag_command(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "model.safetensors", marker)
    _rewrite_manifest(model_copy)
    result = _run("tag", str(model_copy))
    assert result.returncode == 2
    assert "model.safetensors: cannot load the weights" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_pt_file_instead_of_safetensors(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (model_copy / "model.safetensors").unlink()
    _write_payload(model_copy / "model.pt", marker)
    result = _run("tag", str(model_copy))
    assert result.returncode == 2
    assert "model.safetensors: missing from the model directory" in result.stderr
    assert not marker.exists()


def test_pt_file_beside_weights_is_ignored(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "model.pt", marker)
    _write_payload(model_copy / "pytorch_model.bin", marker)
    tagger = load(model_copy)
    assert len(tagger.tag_tokens(["Oslo"])) == 1
    assert not marker.exists()


def test_pickled_onnx_file_rejected(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "model.onnx", marker)
    with pytest.raises(ModelError, match=r"model\.onnx: cannot load the ONNX file"):
        load(model_copy, backend="onnx")
    assert not marker.exists()


@pytest.mark.parametrize(
    "name", ["model.safetensors", "best.safetensors", "optimizer.safetensors", "rng.safetensors"]
)
def test_pickled_checkpoint_rejected(model_copy: Path, tmp_path: Path, name: str) -> None:
    from elman.train.launch import launch_training

    marker = tmp_path / "marker"
    _write_payload(model_copy / "checkpoints" / "last" / name, marker)
    with pytest.raises(ModelError, match="damaged checkpoint"):
        launch_training(
            train_path=None, dev=None, output=None, resume=model_copy, progress=False,
            tensorboard=False,
        )  # fmt: skip
    assert not marker.exists()


def test_pickled_checkpoint_rejected_by_resume_command(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _write_payload(model_copy / "checkpoints" / "last" / "model.safetensors", marker)
    result = _run("train", "--resume", str(model_copy), "--no-progress", "--no-tensorboard")
    assert result.returncode == 2
    assert "damaged checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def _unsafe_calls(source: str, name: str) -> list[str]:
    """List the code in ``source`` that could unpickle or evaluate data, as 'name:line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            found += [f"{where}: imports {m}" for m in modules if m.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        call = ast.unparse(node.func)
        keywords = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}
        if call in ("eval", "exec"):
            found.append(f"{where}: calls {call}")
        if call.endswith(("torch.load", "jit.load")) and keywords.get("weights_only") != "True":
            found.append(f"{where}: {call} without weights_only=True")
        if call in ("np.load", "numpy.load") and keywords.get("allow_pickle") != "False":
            found.append(f"{where}: {call} without allow_pickle=False")
        if keywords.get("allow_pickle") == "True":
            found.append(f"{where}: allow_pickle=True")
        if call.endswith("yaml.load"):
            found.append(f"{where}: yaml.load (use yaml.safe_load)")
    return found


def test_scanner_finds_unsafe_code() -> None:
    sample = (
        "import pickle\nimport numpy as np\nimport torch\n"
        "torch.load(p)\nnp.load(p)\nnp.load(p, allow_pickle=True)\neval(s)\n"
    )
    assert len(_unsafe_calls(sample, "sample.py")) == 6


def test_source_never_unpickles() -> None:
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 20
    found = []
    for path in files:
        found += _unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(SOURCE)))
    assert found == []


def test_payload_is_a_real_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_CreatesMarker(marker)))
    assert marker.exists()
