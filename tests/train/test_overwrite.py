"""A new training run does not replace an earlier run's model unless asked to."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from elman.errors import ConfigError
from elman.train.launch import launch_training
from tests.train import elman_train

SETTINGS = ["model.hidden=8", "model.word_dim=8", "train.epochs=1", "train.threads=1"]


def _train(corpus: Path, output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    settings = [part for setting in SETTINGS for part in ("--set", setting)]
    return elman_train("--train", str(corpus), "--output", str(output), *settings, *options)


@pytest.fixture()
def trained(tiny_corpus: Path, tmp_path: Path) -> Path:
    output = tmp_path / "model"
    result = _train(tiny_corpus, output, "--dev", str(tiny_corpus))
    assert result.returncode == 0, result.stderr
    assert (output / "report" / "confusion.json").is_file()
    return output


def test_second_run_exits_2(tiny_corpus: Path, trained: Path) -> None:
    weights = (trained / "model.safetensors").read_bytes()

    result = _train(tiny_corpus, trained, "--seed", "99")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{trained} already contains a model or a training run" in result.stderr
    assert f"--resume {trained}" in result.stderr
    assert "--overwrite" in result.stderr
    assert (trained / "model.safetensors").read_bytes() == weights


def test_overwrite_replaces_earlier_run(tiny_corpus: Path, trained: Path) -> None:
    weights = (trained / "model.safetensors").read_bytes()
    stale = trained / "checkpoints" / "stale.txt"
    stale.write_text("from the earlier run\n", encoding="utf-8")
    events = sorted((trained / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1

    result = _train(tiny_corpus, trained, "--seed", "99", "--overwrite")

    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert (trained / "checkpoints" / "last").is_dir()
    new_events = sorted((trained / "tensorboard").glob("events.out.tfevents.*"))
    assert len(new_events) == 1
    assert new_events != events
    assert (trained / "model.safetensors").read_bytes() != weights
    # The earlier run's dev confusion matrix is not shown in the report of a run without dev.
    assert not (trained / "report" / "confusion.json").exists()


def test_overwrite_checks_corpora_first(tiny_corpus: Path, trained: Path) -> None:
    bad = trained.parent / "bad.conll"
    bad.write_text("Oslo X-LOC\n", encoding="utf-8")

    result = _train(bad, trained, "--overwrite")

    assert result.returncode == 2
    assert "invalid tag 'X-LOC'" in result.stderr
    assert (trained / "checkpoints" / "last").is_dir()
    assert (trained / "report" / "confusion.json").is_file()
    assert any((trained / "tensorboard").glob("events.out.tfevents.*"))


def test_output_file_exits_2(tiny_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    output.write_text("not a folder\n", encoding="utf-8")

    result = _train(tiny_corpus, output, "--overwrite")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"--output {output} is a file; give a folder for the model" in result.stderr
    assert output.read_text(encoding="utf-8") == "not a folder\n"


def test_folder_without_a_run_is_used(tiny_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    output.mkdir()
    (output / "notes.txt").write_text("kept\n", encoding="utf-8")

    result = _train(tiny_corpus, output)

    assert result.returncode == 0, result.stderr
    assert (output / "notes.txt").read_text(encoding="utf-8") == "kept\n"
    assert (output / "model.safetensors").is_file()


def test_other_tools_files_are_no_run(tiny_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "project"
    (output / "checkpoints").mkdir(parents=True)
    (output / "checkpoints" / "epoch3.pt").write_text("another tool\n", encoding="utf-8")
    (output / "config.json").write_text("{}\n", encoding="utf-8")

    result = _train(tiny_corpus, output)

    assert result.returncode == 0, result.stderr
    assert (output / "checkpoints" / "epoch3.pt").is_file()
    assert (output / "checkpoints" / "last" / "state.json").is_file()


def test_torchrun_rank_0_checks(
    tiny_corpus: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")

    with pytest.raises(ConfigError, match="already contains a model"):
        launch_training(train_path=str(tiny_corpus), dev=None, output=trained, progress=False)


def test_api_takes_output_as_str(tiny_corpus: Path, trained: Path) -> None:
    with pytest.raises(ConfigError, match="already contains a model"):
        launch_training(train_path=str(tiny_corpus), dev=None, output=str(trained), progress=False)

    saved = launch_training(
        train_path=str(tiny_corpus),
        dev=None,
        output=str(trained),
        overrides=SETTINGS,
        overwrite=True,
        progress=False,
        tensorboard=False,
    )

    assert saved.path == trained


def test_resume_with_overwrite_rejected(trained: Path) -> None:
    with pytest.raises(ConfigError, match="--overwrite starts a new run"):
        launch_training(
            train_path=None, dev=None, output=None, resume=trained, overwrite=True, progress=False
        )
