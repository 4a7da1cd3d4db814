"""Stopping a run from outside: SIGTERM as Ctrl-C, and ensemble members that stop with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from elman.train.signals import Terminated, sigterm_interrupts

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/self/task/{os.getpid()}/children").is_file(),
    reason="finds child processes through /proc/PID/task/TID/children (Linux)",
)

LONG_RUN = [
    "--train",
    "builtin:train",
    "--preset",
    "demo",
    "--set",
    "train.epochs=500",
    "--set",
    "train.patience=500",
    "--no-progress",
    "--no-tensorboard",
]

MARK = "ELMAN_SIGNAL_TEST"
"""An environment variable that every process of a run started here inherits."""


STARTED: list[subprocess.Popen[bytes]] = []
"""The runs that ``_start`` started, ended by ``_end_started_runs`` after each test."""


@pytest.fixture(autouse=True)
def _end_started_runs() -> Iterator[None]:
    """End the runs of a test that failed before they exited: they would train 500 epochs."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start(
    output: Path, log: Path, *settings: str, session: bool = False
) -> subprocess.Popen[bytes]:
    """Start a long ``elman train`` with SIGINT at its default action (see test_resume).

    Its processes carry ``MARK`` set to the output path in their environment.
    """
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "elman", "train", *LONG_RUN, *settings, "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            start_new_session=session,
            env={**os.environ, MARK: str(output)},
        )
    STARTED.append(process)
    return process


def _marked(output: Path) -> set[int]:
    """Return the running processes whose environment has ``MARK`` set to ``output``."""
    needle = f"{MARK}={output}".encode() + b"\0"
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # ended meanwhile, or not readable
            continue
        if needle in environment and _running(int(entry.name)):
            found.add(int(entry.name))
    return found


def _wait_for_log(process: subprocess.Popen[bytes], log: Path, *needles: str) -> None:
    deadline = time.monotonic() + 120
    while not all(needle in log.read_text() for needle in needles):
        assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{needles} not logged after 120 s:\n{log.read_text()}"
        time.sleep(0.05)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _descendants(pid: int) -> set[int]:
    found = _children(pid)
    for child in list(found):
        if _running(child):
            found |= _descendants(child)
    return found


def _wait_until_gone(pids: set[int], seconds: float) -> set[int]:
    """Return the processes of ``pids`` still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _running(pid)}
        time.sleep(0.05)
    return alive


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _last_epoch(member: Path) -> int:
    state = json.loads((member / "checkpoints" / "last" / "state.json").read_text())
    return int(state["trainer"]["epoch"])


def _start_ensemble(
    tmp_path: Path, *, session: bool = False
) -> tuple[subprocess.Popen[bytes], set[int]]:
    """Start a two-member ensemble; return it once both members have saved their first epoch.

    An epoch's checkpoint is written after its log line, so the second epoch's line is awaited.
    """
    log = tmp_path / "log.txt"
    process = _start(tmp_path / "model", log, "--set", "model.members=2", session=session)
    _wait_for_log(process, log, "member 0: epoch 2:", "member 1: epoch 2:")
    children = _children(process.pid)
    assert len(children) >= 2, children  # the members, and multiprocessing's resource tracker
    return process, children


def _stopped_cleanly(tmp_path: Path, process: subprocess.Popen[bytes], children: set[int]) -> None:
    returncode = process.wait(timeout=60)
    log = (tmp_path / "log.txt").read_text()
    assert returncode == 2, log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: interrupted; each member resumes from its last completed epoch with: "
        f"elman train --resume {tmp_path / 'model'}"
    ], log
    assert "Traceback" not in log
    assert _wait_until_gone(children, 10) == set()
    for member in ("0", "1"):
        assert _last_epoch(tmp_path / "model" / "members" / member) >= 1


@pytest.mark.slow
def test_sigterm_stops_ensemble_members(tmp_path: Path) -> None:
    process, children = _start_ensemble(tmp_path)
    process.send_signal(signal.SIGTERM)
    _stopped_cleanly(tmp_path, process, children)


@pytest.mark.slow
def test_sigterm_to_one_member_stops_all(tmp_path: Path) -> None:
    process, children = _start_ensemble(tmp_path)
    members = [
        pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(members) == 2, members
    os.kill(members[1], signal.SIGTERM)
    _stopped_cleanly(tmp_path, process, children)


@pytest.mark.slow
def test_ctrl_c_to_process_group(tmp_path: Path) -> None:
    process, children = _start_ensemble(tmp_path, session=True)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: the parent and the members
    _stopped_cleanly(tmp_path, process, children)


@pytest.mark.slow
def test_members_exit_after_parent_sigkill(tmp_path: Path) -> None:
    process, children = _start_ensemble(tmp_path)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert _wait_until_gone(children, 10) == set()
    for member in ("0", "1"):
        assert _last_epoch(tmp_path / "model" / "members" / member) >= 1


@pytest.mark.slow
def test_members_starting_after_parent_sigkill_exit(tmp_path: Path) -> None:
    output, log = tmp_path / "model", tmp_path / "log.txt"
    process = _start(output, log, "--set", "model.members=2")
    _wait_for_log(process, log, "training 2 members,")
    time.sleep(0.3)  # the members are still starting: importing torch takes about a second
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL

    deadline = time.monotonic() + 30
    while _marked(output) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _marked(output) == set()
    assert "epoch 1:" not in log.read_text()


@pytest.mark.slow
def test_sigterm_stops_single_network(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    process = _start(tmp_path / "model", log)
    _wait_for_log(process, log, "epoch 2:")  # the first epoch's checkpoint is on disk
    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=60) == 2, log.read_text()
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    # A signal between an epoch's checkpoint and the next epoch gives "after epoch N".
    assert errors[0].startswith(("error: interrupted in epoch ", "error: interrupted after epoch "))
    assert errors[0].endswith(f"elman train --resume {tmp_path / 'model'}")
    assert _last_epoch(tmp_path / "model") >= 1


@pytest.mark.slow
@pytest.mark.parametrize("target", ["sigterm-parent", "sigint-parent", "ctrl-c-group"])
def test_signal_stops_torchrun_processes(tmp_path: Path, target: str) -> None:
    log = tmp_path / "log.txt"
    group = target == "ctrl-c-group"
    process = _start(tmp_path / "model", log, "--nproc", "2", session=group)
    _wait_for_log(process, log, "epoch 2:")
    descendants = _descendants(process.pid)
    assert len(descendants) >= 3, descendants  # torchrun and two training processes
    if group:
        os.killpg(process.pid, signal.SIGINT)  # as a terminal does: every process of the run
    else:
        process.send_signal(signal.SIGTERM if target == "sigterm-parent" else signal.SIGINT)

    assert process.wait(timeout=120) == 2, log.read_text()
    text = log.read_text()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: interrupted; resume from the last completed epoch with: "
        f"elman train --resume {tmp_path / 'model'} --nproc 2"
    ]
    assert "Traceback" not in text
    assert "closing signal" not in text
    assert _wait_until_gone(descendants, 30) == set()
    assert _last_epoch(tmp_path / "model") >= 1


@pytest.mark.slow
def test_resume_refused_while_torchrun_outlives_parent(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    process = _start(tmp_path / "model", log, "--nproc", "2")
    _wait_for_log(process, log, "epoch 2:")
    descendants = _descendants(process.pid)
    torchrun = [
        pid
        for pid in _children(process.pid)
        if b"elman.distributed.torchrun" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(torchrun) == 1, torchrun
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)

    try:
        resumed = subprocess.run(
            [sys.executable, "-m", "elman", "-q", "train", "--resume", str(tmp_path / "model")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert resumed.returncode == 2
        assert resumed.stderr.startswith(
            f"error: {tmp_path / 'model'} is in use by another training run "
            f"(process {torchrun[0]}); wait for it to end or stop it"
        )
    finally:
        os.kill(torchrun[0], signal.SIGTERM)  # torchrun stops its training processes
        assert _wait_until_gone(descendants, 60) == set()


def test_member_process_of_ended_parent_exits() -> None:
    # A process whose parent is not the one named has been orphaned before its set-up ran.
    code = (
        "import multiprocessing, os\n"
        "from elman.train.signals import start_member_process\n"
        "start_member_process(multiprocessing.Event(), os.getppid() + 1)\n"
        "print('still running')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "still running" not in result.stdout


def test_sigterm_interrupts_block_only() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts the sleep
    assert signal.getsignal(signal.SIGTERM) is before
    assert issubclass(Terminated, KeyboardInterrupt)
