"""Checkpoints that resume a run exactly, stored without pickle.

A checkpoint is a folder::

    model.safetensors       current weights
    best.safetensors        weights of the best epoch so far
    optimizer.safetensors   the optimizer's tensors (moments, step counts, momentum buffers)
    average.safetensors     the running average of the weights, when ``train.average`` is on
    rng.safetensors         torch's random-number generator state
    state.json              the run's specification, counters, history, learning rate, the
                            optimizer's other fields and the Python and NumPy generator states

The folder is written under a temporary name and renamed into place, so a crash leaves the previous
checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from elman.errors import ModelError
from elman.train.loop import Trainer, TrainState

CHECKPOINT_VERSION = 1
CHANGED_INPUTS = (
    "a corpus or the model.pretrained file changed since the run started, so restore it, or "
    "start a new run into this folder with --overwrite instead of --resume"
)
STATE_KEYS = ("run", "trainer", "optimizer", "numpy_rng", "global_python_rng")


def save_checkpoint(trainer: Trainer, directory: Path, run: dict[str, Any]) -> None:
    """Write the trainer's full state to ``directory``, replacing any checkpoint there."""
    staging = directory.with_name(f".{directory.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)

    save_file(_contiguous(trainer.model.state_dict()), str(staging / "model.safetensors"))
    save_file(_contiguous(trainer.best_weights), str(staging / "best.safetensors"))
    tensors, optimizer_meta = _flatten_optimizer(trainer.optimizer.state_dict())
    save_file(tensors, str(staging / "optimizer.safetensors"))
    save_file({"torch": torch.get_rng_state()}, str(staging / "rng.safetensors"))
    if trainer.average is not None:
        save_file(_contiguous(trainer.average.state()), str(staging / "average.safetensors"))

    trainer.state.python_rng = _encode_random_state(trainer.rng.getstate())
    numpy_state: tuple[Any, ...] = tuple(np.random.get_state())
    state = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "run": run,
        "trainer": trainer.state.to_dict(),
        "optimizer": optimizer_meta,
        "numpy_rng": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "global_python_rng": _encode_random_state(random.getstate()),
        "vocab_sha256": trainer.vocab.digest(),
    }
    (staging / "state.json").write_text(json.dumps(state), encoding="utf-8")
    _swap_into_place(staging, directory)


def read_run(directory: Path) -> dict[str, Any]:
    """Return the run specification stored in a checkpoint."""
    source = _existing(directory)
    run = _read_state(source)["run"]
    if not isinstance(run, dict):
        raise ModelError(f"{source / 'state.json'}: damaged checkpoint ('run' is not an object)")
    return dict(run)


def load_checkpoint(trainer: Trainer, directory: Path) -> None:
    """Restore weights, optimizer, counters and every random-number generator from a checkpoint."""
    source = _existing(directory)
    state = _read_state(source)
    digest = trainer.vocab.digest()
    if state.get("vocab_sha256", digest) != digest:
        raise ModelError(
            f"{source}: the vocabularies built from the corpora now differ from those the run "
            f"started with; {CHANGED_INPUTS}"
        )
    try:
        weights = load_file(str(source / "model.safetensors"))
        _check_shapes(source, weights, trainer.model.state_dict())
        trainer.model.load_state_dict(weights)
        trainer.best_weights = load_file(str(source / "best.safetensors"))
        tensors = load_file(str(source / "optimizer.safetensors"))
        rng = load_file(str(source / "rng.safetensors"))
        if trainer.average is not None:
            trainer.average.load(load_file(str(source / "average.safetensors")))
    except (SafetensorError, RuntimeError, OSError, KeyError) as error:
        raise ModelError(f"{source}: damaged checkpoint ({error}); start a new run") from error
    try:
        _restore(trainer, state, tensors, rng)
    # state.json parsed, but its fields do not fit this trainer or have the wrong types.
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as error:
        raise ModelError(
            f"{source}: damaged checkpoint ({type(error).__name__}: {error}); start a new run"
        ) from error


def _restore(
    trainer: Trainer,
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    rng: dict[str, torch.Tensor],
) -> None:
    trainer.optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
    trainer.state = TrainState.from_dict(state["trainer"])
    for group in trainer.optimizer.param_groups:
        group["lr"] = trainer.state.lr
    trainer.rng.setstate(_decode_random_state(trainer.state.python_rng))
    random.setstate(_decode_random_state(state["global_python_rng"]))
    numpy_state = state["numpy_rng"]
    np.random.set_state(
        (numpy_state[0], np.array(numpy_state[1], dtype=np.uint32), *numpy_state[2:])
    )
    torch.set_rng_state(rng["torch"])


def interruption_hint(output: Path, options: str = "") -> str:
    """Return the message of a run in ``output`` interrupted outside the epochs.

    It names ``elman train --resume OUTPUT`` (followed by ``options``) when a checkpoint exists,
    or the same command again when none was written.
    """
    last = output / "checkpoints" / "last"
    try:
        _existing(last)
    except ModelError:
        return f"interrupted before the first checkpoint in {output}; run the same command again"
    return (
        f"interrupted; resume from the last completed epoch with: elman train --resume "
        f"{output}{options}"
    )


def _existing(directory: Path) -> Path:
    """Return the checkpoint folder, or the previous one if a swap was interrupted."""
    if (directory / "state.json").exists():
        return directory
    previous = directory.with_name(f".{directory.name}.previous")
    if (previous / "state.json").exists():
        return previous
    raise ModelError(f"{directory}: no checkpoint to resume from; start the run without --resume")


def _check_shapes(
    source: Path, weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> None:
    """Raise ``ModelError`` when the network built for the resumed run has other tensor shapes.

    The vocabularies, and with them the embedding tables, are built again from the corpora at
    the run's paths, so a corpus edited since the run started changes the shapes. Checkpoints
    with a ``vocab_sha256`` are checked by that digest first, which also catches an edit that
    keeps every vocabulary's size.
    """
    for name, tensor in weights.items():
        if name in expected and tensor.shape != expected[name].shape:
            raise ModelError(
                f"{source}: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                f"{tuple(expected[name].shape)} in the network built from the corpora now; "
                f"{CHANGED_INPUTS}"
            )


def _read_state(directory: Path) -> dict[str, Any]:
    path = directory / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: damaged checkpoint ({error})") from error
    if not isinstance(state, dict):
        raise ModelError(f"{path}: damaged checkpoint (expected a JSON object); start a new run")
    version = state.get("checkpoint_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelError(
            f"{path}: damaged checkpoint (checkpoint_version {version!r} is not a whole number)"
        )
    if version > CHECKPOINT_VERSION:
        raise ModelError(
            f"{directory}: checkpoint version {version} is newer than this "
            f"elman reads (up to {CHECKPOINT_VERSION}); upgrade elman to resume it"
        )
    missing = [key for key in STATE_KEYS if key not in state]
    if missing:
        raise ModelError(
            f"{path}: damaged checkpoint (missing {', '.join(missing)}); start a new run"
        )
    return state


def _swap_into_place(staging: Path, directory: Path) -> None:
    previous = directory.with_name(f".{directory.name}.previous")
    if previous.exists() and not directory.exists():
        # An earlier swap stopped between its two renames: ``previous`` is the only complete
        # checkpoint, so put it back instead of deleting it.
        previous.rename(directory)
    if previous.exists():
        shutil.rmtree(previous)
    if directory.exists():
        directory.rename(previous)
    staging.rename(directory)
    if previous.exists():
        shutil.rmtree(previous)


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().contiguous().cpu() for name, tensor in state.items()}


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into named tensors and a JSON-ready remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    # safetensors refuses an empty file's metadata-only dict on some versions; keep one entry.
    tensors.setdefault("__empty__", torch.zeros(0))
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name == "__empty__":
            continue
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _encode_random_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_random_state(encoded: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = encoded
    return (version, tuple(internal), gauss)
