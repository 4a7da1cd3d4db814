"""One run per output folder: a second run or resume into a folder in use stops with its holder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from elman.errors import ConfigError
from elman.train.launch import launch_training
from elman.train.lock import LOCK_FILE, output_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lock needs fcntl")

HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from elman.train.lock import output_lock\n"
    "with output_lock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(120)\n"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A process that holds the lock of tmp_path/model."""
    folder = tmp_path / "model"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "locked\n"
    yield folder, process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_lock_names_holder_and_frees_on_kill(holder: tuple[Path, subprocess.Popen[str]]) -> None:
    folder, process = holder
    expected = rf"in use by another training run \(process {process.pid}\)"
    with pytest.raises(ConfigError, match=expected), output_lock(folder):
        pass

    process.send_signal(signal.SIGKILL)
    process.wait()

    with output_lock(folder) as descriptor:
        assert descriptor is not None
        assert (folder / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    assert not (folder / LOCK_FILE).exists()


def test_resume_of_folder_in_use_rejected(holder: tuple[Path, subprocess.Popen[str]]) -> None:
    folder, _ = holder
    with pytest.raises(ConfigError, match=f"resume with: elman train --resume {folder}"):
        launch_training(train_path=None, dev=None, output=None, resume=folder, progress=False)


def test_overwrite_of_folder_in_use_keeps_it(
    holder: tuple[Path, subprocess.Popen[str]], tiny_model: Path, tiny_corpus: Path
) -> None:
    folder, _ = holder
    assert not (tiny_model / LOCK_FILE).exists()
    shutil.copytree(tiny_model, folder, dirs_exist_ok=True)
    before = sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))

    with pytest.raises(ConfigError, match="in use by another training run"):
        launch_training(
            train_path=str(tiny_corpus),
            dev=None,
            output=folder,
            overwrite=True,
            progress=False,
            tensorboard=False,
        )

    assert sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) == before


def test_cli_new_run_into_folder_in_use(
    holder: tuple[Path, subprocess.Popen[str]], tiny_corpus: Path
) -> None:
    folder, process = holder
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "elman",
            "-q",
            "train",
            "--train",
            str(tiny_corpus),
            "--output",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {folder} is in use by another training run (process {process.pid}); wait for it "
        f"to end or stop it, then resume with: elman train --resume {folder}\n"
    )


def test_new_run_into_trained_folder_in_use(
    holder: tuple[Path, subprocess.Popen[str]], tiny_model: Path, tiny_corpus: Path
) -> None:
    folder, process = holder
    shutil.copytree(tiny_model / "checkpoints", folder / "checkpoints")

    with pytest.raises(
        ConfigError, match=rf"in use by another training run \(process {process.pid}\)"
    ):
        launch_training(train_path=str(tiny_corpus), dev=None, output=folder, progress=False)

    assert (folder / LOCK_FILE).is_file()


def test_failed_checks_leave_no_lock_file(tiny_model: Path, tiny_corpus: Path) -> None:
    with pytest.raises(ConfigError, match="already contains a model"):
        launch_training(train_path=str(tiny_corpus), dev=None, output=tiny_model, progress=False)

    assert not (tiny_model / LOCK_FILE).exists()


def test_run_leaves_no_lock_file(tiny_corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    launch_training(
        train_path=str(tiny_corpus),
        dev=None,
        output=folder,
        overrides=["train.epochs=1", "model.hidden=8", "model.word_dim=8"],
        progress=False,
        tensorboard=False,
    )

    assert not (folder / LOCK_FILE).exists()
    with output_lock(folder) as descriptor:
        assert descriptor is not None
