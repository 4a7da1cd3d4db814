"""The model directory: weights in safetensors, everything else in JSON, and a manifest.

Layout of a model directory::

    model.safetensors   the network's tensors (no pickle)
    config.json         format version, model and training settings, the source tag scheme
    vocab.json          word, character and tag vocabularies
    scores.json         dev and test scores and the per-epoch history of the run
    manifest.json       the SHA-256 of each file above, checked on every load

A save writes every file into a hidden staging folder inside the directory first, then renames
the files into place with the manifest last. A save that fails while writing leaves the old model
untouched. Only a crash during the final renames can leave a mix of two models, and the manifest
check rejects that on load instead of loading it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from elman import __version__, atomic
from elman.data.vocab import Vocabularies
from elman.errors import ConfigError, ModelError
from elman.model.config import ModelConfig
from elman.model.ensemble import Network, build_network
from elman.train.config import TrainConfig

FORMAT_VERSION = 1
MODEL_FILES = ("model.safetensors", "config.json", "vocab.json", "scores.json")
MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".saving-"


@dataclass
class SavedModel:
    """A loaded model directory."""

    model: Network
    vocab: Vocabularies
    model_config: ModelConfig
    train_config: TrainConfig
    scheme: str = "iob2"
    scores: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_model(saved: SavedModel, directory: str | Path) -> Path:
    """Write ``saved`` to ``directory`` (created if needed) and return the directory."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=target) as folder:
        staging = Path(folder)
        state = {n: t.detach().contiguous().cpu() for n, t in saved.model.state_dict().items()}
        metadata = {"format": "elman", "version": __version__}
        save_file(state, str(staging / "model.safetensors"), metadata=metadata)
        config = {
            "format_version": FORMAT_VERSION,
            "elman_version": __version__,
            "scheme": saved.scheme,
            "model": asdict(saved.model_config),
            "train": asdict(saved.train_config),
        }
        _write_json(staging / "config.json", config)
        _write_json(staging / "vocab.json", saved.vocab.to_dict())
        _write_json(staging / "scores.json", saved.scores)
        _write_manifest(staging, staging)
        atomic.move_into_place(staging, target, [*MODEL_FILES, MANIFEST_FILE])
    return target


def update_scores(directory: str | Path, scores: dict[str, Any]) -> None:
    """Replace the scores of a saved model and refresh its manifest."""
    target = Path(directory)
    verify_manifest(target)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=target) as folder:
        staging = Path(folder)
        _write_json(staging / "scores.json", scores)
        _write_manifest(target, staging, replaced=staging)
        atomic.move_into_place(staging, target, ["scores.json", MANIFEST_FILE])


def _write_manifest(source: Path, staging: Path, *, replaced: Path | None = None) -> None:
    """Write staging/manifest.json with the SHA-256 of the model files in ``source``.

    A file that exists in ``replaced`` is hashed from there, because it will replace the one in
    ``source``.
    """
    manifest = {}
    for name in MODEL_FILES:
        path = replaced / name if replaced and (replaced / name).exists() else source / name
        manifest[name] = _sha256(path)
    _write_json(staging / MANIFEST_FILE, {"sha256": manifest})


def _write_json(path: Path, data: Any) -> None:
    path.write_bytes(_dumps(data).encode("utf-8"))


def load_model(directory: str | Path) -> SavedModel:
    """Load a model directory written by ``save_model``; nothing is unpickled."""
    source = Path(directory)
    if not source.is_dir():
        raise ModelError(f"{source}: model directory not found; pass the --output of elman train")
    verify_manifest(source)
    config = read_json_object(source / "config.json")
    model_config, train_config = _read_settings(config, source / "config.json")
    vocab = _read_vocab(source / "vocab.json")
    model = _read_weights(model_config, vocab, source / "model.safetensors")
    model.eval()
    return SavedModel(
        model=model,
        vocab=vocab,
        model_config=model_config,
        train_config=train_config,
        scheme=str(config.get("scheme", "iob2")),
        scores=read_json_object(source / "scores.json"),
        path=source,
    )


def _read_settings(config: dict[str, Any], path: Path) -> tuple[ModelConfig, TrainConfig]:
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(
            f"{path}: format_version {version!r} is invalid: expected a whole number of 1 or more; "
            "the file was not written by elman or was edited"
        )
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: format_version {version!r} is newer than this version of "
            f"elman reads (up to {FORMAT_VERSION}); upgrade elman to load this model"
        )
    try:
        return ModelConfig(**config["model"]), TrainConfig(**config["train"])
    except KeyError as error:
        raise ModelError(f"{path}: invalid settings: the {error} table is missing") from error
    except (TypeError, ConfigError) as error:
        raise ModelError(f"{path}: invalid settings: {error}") from error


def _read_vocab(path: Path) -> Vocabularies:
    try:
        return Vocabularies.from_dict(read_json_object(path))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(
            f"{path}: invalid vocabularies ({type(error).__name__}: {error}); restore the file "
            "or retrain the model"
        ) from error


def _read_weights(model_config: ModelConfig, vocab: Vocabularies, path: Path) -> Network:
    try:
        model = build_network(model_config, len(vocab.words), len(vocab.chars), vocab.tags)
        model.load_state_dict(load_file(str(path)), strict=True)
    # An empty or inconsistent vocabulary makes the network's construction fail with IndexError.
    except (SafetensorError, RuntimeError, OSError, IndexError, ValueError) as error:
        raise ModelError(
            f"{path}: cannot load the weights ({error}); the file does "
            "not match config.json and vocab.json. Re-save or retrain the model"
        ) from error
    return model


def verify_manifest(directory: Path) -> None:
    """Raise ``ModelError`` unless every file matches the SHA-256 recorded in manifest.json."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise ModelError(
            f"{manifest_path}: missing; this is not a complete elman model directory "
            "(was the save interrupted?)"
        )
    recorded = read_json_object(manifest_path).get("sha256")
    if not isinstance(recorded, dict):
        raise ModelError(f"{manifest_path}: expected an object of SHA-256 digests under 'sha256'")
    for name in MODEL_FILES:
        path = directory / name
        if not path.exists():
            raise ModelError(f"{path}: missing from the model directory; retrain or restore it")
        if recorded.get(name) != _sha256(path):
            raise ModelError(
                f"{path}: SHA-256 differs from manifest.json; the file was truncated or altered "
                "after saving. Restore the directory from a backup or retrain"
            )


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON file that must contain an object; ModelError names the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: cannot read JSON ({error})") from error
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def state_dict_equal(left: nn.Module, right: nn.Module) -> bool:
    """Return whether two models have bit-identical tensors under the same names."""
    a, b = left.state_dict(), right.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
