"""One training run per output folder at a time: an advisory lock on OUTPUT/.lock.

The operating system releases the lock when the last process that holds it ends, ``kill -9``
included, so a lock never outlives its run. ``elman train --nproc`` passes the lock on to
torchrun, whose life spans the training processes. A run removes the ``.lock`` file when it ends;
a killed one leaves it, unlocked.

NOTE: on systems without ``fcntl`` (Windows) the lock does nothing, and a torchrun started by
hand does not take it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elman.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


@contextmanager
def output_lock(directory: Path) -> Iterator[int | None]:
    """Hold the lock of ``directory``, created if missing, and yield its file descriptor.

    Raises ``ConfigError`` naming the process that holds the lock when another run does. The
    lock file is removed when the block ends.
    """
    if fcntl is None:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    descriptor = _acquire(path)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
        yield descriptor
    finally:
        # Removed while still held, so that a run that opens the file later finds another.
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _acquire(path: Path) -> int:
    """Open and lock ``path``; return the file descriptor, or raise ``ConfigError``.

    A holder that ended between this process's open and its lock has removed the file that was
    opened, so the lock is taken again on the file now at ``path``.
    """
    assert fcntl is not None
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise ConfigError(
                f"{path.parent} is in use by another training run{holder}; wait for it to end "
                f"or stop it, then resume with: elman train --resume {path.parent}"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def add_holder(descriptor: int, pid: int) -> None:
    """Record in the lock file another process that holds the lock: one that inherited it."""
    os.lseek(descriptor, 0, os.SEEK_END)
    os.write(descriptor, f"{pid}\n".encode("ascii"))


def _holder(descriptor: int) -> str:
    """Return " (process PID)" for the running processes recorded in the lock file, or ""."""
    text = os.pread(descriptor, 256, 0).decode("ascii", errors="replace")
    running = [pid for pid in text.split() if pid.isdigit() and _running(int(pid))]
    if not running:
        return ""
    return f" (process{'es' if len(running) > 1 else ''} {', '.join(running)})"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
