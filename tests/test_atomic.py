"""Interrupted writers leave the old file (or nothing), never a torn one.

Each writer is interrupted in one of two ways: the underlying write raises halfway, as a full disk
makes it, or the process is killed with SIGKILL while the new file is half written.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import typer

from elman import atomic
from elman.data import cache
from elman.errors import ModelError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.store import SavedModel, load_model, save_model, state_dict_equal, update_scores
from elman.train import checkpoint
from elman.train.config import TrainConfig
from elman.train.loop import Trainer

OLD = "old contents\n"
ELMAN = [sys.executable, "-m", "elman"]


class DiskFull(OSError):
    """The error that the patched writes raise after writing half of their data."""


def _half_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Path.write_bytes and Path.write_text write half of their data, then raise."""

    def write_bytes(self: Path, data: bytes) -> int:
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise DiskFull(28, "No space left on device")

    def write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        return write_bytes(self, data.encode("utf-8"))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(Path, "write_text", write_text)


def _leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _kill_when(process: subprocess.Popen[bytes], flag: Path) -> None:
    """SIGKILL ``process`` once it has created ``flag``."""
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert process.poll() is None, f"the writer exited with {process.returncode} too early"
        assert time.monotonic() < deadline, "the writer never reached the point to kill it at"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _python(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])


# elman.atomic


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD, encoding="utf-8")
    _half_writes(monkeypatch)
    with pytest.raises(DiskFull):
        atomic.write_text(target, "new contents\n" * 100)
    assert target.read_bytes() == OLD.encode()
    assert _leftovers(tmp_path, "out.txt") == []


def test_failed_write_of_new_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _half_writes(monkeypatch)
    with pytest.raises(DiskFull):
        atomic.write_bytes(tmp_path / "out.bin", b"x" * 1000)
    assert _leftovers(tmp_path) == []


def test_failed_chunks_keep_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD, encoding="utf-8")

    def chunks() -> Iterator[str]:
        yield "first new chunk\n"
        raise DiskFull(28, "No space left on device")

    with pytest.raises(DiskFull):
        atomic.write_chunks(target, chunks())
    assert target.read_text(encoding="utf-8") == OLD
    assert _leftovers(tmp_path, "out.txt") == []


def test_failed_rename_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD, encoding="utf-8")

    def replace(source: object, destination: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError):
        atomic.write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == OLD
    assert _leftovers(tmp_path, "out.txt") == []


def test_killed_writer_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text(OLD, encoding="utf-8")
    flag = tmp_path / "flag"
    process = _python(
        f"""
        import time
        from pathlib import Path
        from elman import atomic

        def chunks():
            yield "new contents\\n" * 10000
            Path({str(flag)!r}).touch()
            time.sleep(120)
            yield "never written\\n"

        atomic.write_chunks({str(target)!r}, chunks())
        """
    )
    _kill_when(process, flag)
    assert target.read_text(encoding="utf-8") == OLD
    # A killed writer cannot remove its temporary file, so a hidden .tmp file stays behind.
    temporary = _leftovers(tmp_path, "out.txt", "flag")
    assert [name.startswith(".out.txt.") and name.endswith(".tmp") for name in temporary] == [True]


# The model directory


@pytest.fixture()
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    return target


def _model_bytes(directory: Path) -> dict[str, bytes]:
    names = ("model.safetensors", "config.json", "vocab.json", "scores.json", "manifest.json")
    return {name: (directory / name).read_bytes() for name in names}


def _changed(directory: Path) -> SavedModel:
    """Return the model in ``directory`` with other weights, so that a save changes every byte."""
    saved = load_model(directory)
    for parameter in saved.model.parameters():
        parameter.data.add_(1.0)
    saved.scores = {"changed": True}
    return saved


@pytest.mark.parametrize("failing", ["save_file", "write_bytes"])
def test_failed_save_keeps_old_model(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = _model_bytes(model_copy)
    saved = _changed(model_copy)

    def fail(*args: object, **kwargs: object) -> None:
        raise DiskFull(28, "No space left on device")

    if failing == "save_file":
        monkeypatch.setattr("elman.store.save_file", fail)
    else:
        monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(DiskFull):
        save_model(saved, model_copy)
    assert _model_bytes(model_copy) == before
    assert not list(model_copy.glob(".saving-*"))
    load_model(model_copy)


def test_killed_save_keeps_old_model(model_copy: Path, tmp_path: Path) -> None:
    before = _model_bytes(model_copy)
    flag = tmp_path / "flag"
    process = _python(
        f"""
        import time
        from pathlib import Path
        import elman.store as store

        original = store.save_file

        def slow_save_file(*args, **kwargs):
            original(*args, **kwargs)
            Path({str(flag)!r}).touch()
            time.sleep(120)

        store.save_file = slow_save_file
        saved = store.load_model({str(model_copy)!r})
        for parameter in saved.model.parameters():
            parameter.data.add_(1.0)
        store.save_model(saved, {str(model_copy)!r})
        """
    )
    _kill_when(process, flag)
    assert _model_bytes(model_copy) == before
    load_model(model_copy)


def test_crash_between_renames_is_detected(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = _changed(model_copy)
    original = os.replace
    calls = []

    def replace_once(source: str | Path, destination: str | Path) -> None:
        calls.append(destination)
        if len(calls) > 1:
            raise OSError(5, "Input/output error")
        original(source, destination)

    monkeypatch.setattr(os, "replace", replace_once)
    with pytest.raises(OSError, match="Input/output error"):
        save_model(saved, model_copy)
    monkeypatch.undo()
    with pytest.raises(ModelError, match="SHA-256 differs from manifest"):
        load_model(model_copy)


def test_successful_save_replaces_every_file(model_copy: Path) -> None:
    saved = _changed(model_copy)
    save_model(saved, model_copy)
    loaded = load_model(model_copy)
    assert state_dict_equal(loaded.model, saved.model)
    assert loaded.scores == {"changed": True}
    assert not list(model_copy.glob(".saving-*"))


def test_failed_score_update_keeps_old_model(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _model_bytes(model_copy)
    _half_writes(monkeypatch)
    with pytest.raises(DiskFull):
        update_scores(model_copy, {"dev": {"f1": 0.5}})
    assert _model_bytes(model_copy) == before


# Checkpoints


def _checkpoint_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_failed_checkpoint_keeps_old_one(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = model_copy / "checkpoints" / "last"
    before = _checkpoint_bytes(last)
    trainer = _trainer(model_copy)
    written = []

    def save_file(tensors: object, path: str, *args: object, **kwargs: object) -> None:
        written.append(path)
        if len(written) == 3:
            raise DiskFull(28, "No space left on device")
        Path(path).write_bytes(b"partial")

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    with pytest.raises(DiskFull):
        checkpoint.save_checkpoint(trainer, last, checkpoint.read_run(last))
    assert _checkpoint_bytes(last) == before


def test_interrupted_swap_resumes_previous(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = model_copy / "checkpoints" / "last"
    before = _checkpoint_bytes(last)
    trainer = _trainer(model_copy)
    original = Path.rename
    renames = []

    def rename(self: Path, target: Path) -> Path:
        renames.append(target)
        if len(renames) == 2:  # the staging folder's rename into place
            raise OSError(5, "Input/output error")
        return original(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="Input/output error"):
        checkpoint.save_checkpoint(trainer, last, checkpoint.read_run(last))
    monkeypatch.undo()
    assert not last.exists()
    assert _checkpoint_bytes(last.with_name(".last.previous")) == before
    checkpoint.load_checkpoint(trainer, last)  # falls back to the previous checkpoint
    checkpoint.save_checkpoint(trainer, last, checkpoint.read_run(last))
    assert (last / "state.json").exists()
    assert not last.with_name(".last.previous").exists()


def _trainer(model_dir: Path) -> Trainer:
    """Return a Trainer for the model and run recorded in ``model_dir``."""
    run = checkpoint.read_run(model_dir / "checkpoints" / "last")
    saved = load_model(model_dir)
    vocab = saved.vocab
    model = ElmanTagger(ModelConfig(**run["model"]), len(vocab.words), len(vocab.chars), vocab.tags)
    pairs = ([("Oslo",)], [("B-LOC",)])
    return Trainer(model, vocab, pairs, None, TrainConfig(**run["training"]))


# Command-line outputs and the corpus cache


def _document(path: Path, sentences: int) -> Path:
    text = " ".join(
        ["Mara Quist joined Pellucid Labs in Oslo. Jonas Feld visited Bergen."] * sentences
    )
    path.write_text(text, encoding="utf-8")
    return path


def test_killed_tag_keeps_old_output(tiny_model: Path, tmp_path: Path) -> None:
    document = _document(tmp_path / "doc.txt", 20000)
    output = tmp_path / "out.conll"
    output.write_text(OLD, encoding="utf-8")
    command = [*ELMAN, "-q", "tag", str(tiny_model), str(document), "--format", "conll"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*command, "--output", str(output)], env=environment)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".out.conll.*.tmp")):
        assert process.poll() is None, f"elman tag exited with {process.returncode} too early"
        assert time.monotonic() < deadline, "no output written after 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert output.read_text(encoding="utf-8") == OLD


def test_failed_predictions_keep_old_file(
    tiny_model: Path, tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elman import cli

    predictions = tmp_path / "predictions.txt"
    predictions.write_text(OLD, encoding="utf-8")
    _half_writes(monkeypatch)
    with pytest.raises(typer.Exit) as exit:
        cli.evaluate(
            tiny_model, str(tiny_corpus), cli.Format.auto, cli.Scheme.auto, cli.Separator.auto,
            cli.Mode.conlleval, json_=True, predictions=predictions,
        )  # fmt: skip
    assert exit.value.exit_code == 2
    assert predictions.read_text(encoding="utf-8") == OLD
    assert _leftovers(tmp_path, "predictions.txt", "tiny.conll") == []


def test_failed_cache_write_leaves_no_entry(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"

    def savez(stream: object, **arrays: object) -> None:
        stream.write(b"PK\x03\x04 half an archive")  # type: ignore[attr-defined]
        raise DiskFull(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez)
    corpus = cache.load_cached(tiny_corpus, "auto", {}, cache_dir=folder)
    assert len(corpus) == 4
    assert list(folder.iterdir()) == []


def test_killed_cache_write_is_rebuilt(tiny_corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    flag = tmp_path / "flag"
    process = _python(
        f"""
        import time
        from pathlib import Path
        import numpy as np
        from elman.data import cache

        def savez(stream, **arrays):
            stream.write(b"PK\\x03\\x04 half an archive")
            stream.flush()
            Path({str(flag)!r}).touch()
            time.sleep(120)

        np.savez = savez
        cache.load_cached(Path({str(tiny_corpus)!r}), "auto", {{}}, cache_dir=Path({str(folder)!r}))
        """
    )
    _kill_when(process, flag)
    assert list(folder.glob("*.npz")) == []
    corpus = cache.load_cached(tiny_corpus, "auto", {}, cache_dir=folder)
    assert len(corpus) == 4
    assert len(list(folder.glob("*.npz"))) == 1
