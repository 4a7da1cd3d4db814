"""Atomic file writes: a reader sees the old file or the new one, never a torn one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path`` in one rename.

    The temporary file is flushed to disk before the rename. If the block raises, the temporary file
    is removed and ``path`` is left as it was. Raises ``IsADirectoryError`` up front when ``path``
    is a folder, ``NotADirectoryError`` when a file is in the way of its folder, and an ``OSError``
    naming ``path`` when its folder cannot hold a new file.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file", str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:
        # A file sits where a folder on the way to ``path`` should be.
        raise NotADirectoryError(
            errno.ENOTDIR, "is a file, expected a directory", error.filename
        ) from error
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        # Name the file that was asked for, not the temporary file that could not be created.
        raise OSError(
            error.errno, f"cannot create the file ({error.strerror})", str(target)
        ) from error
    os.close(handle)
    temporary = Path(name)
    # mkstemp creates the file readable by its owner only; give it the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in UTF-8 atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_chunks(path: str | Path, chunks: Iterable[str]) -> None:
    """Replace ``path`` with the concatenated ``chunks`` in UTF-8, written as they come.

    Only one chunk is in memory at a time. If ``chunks`` raises, ``path`` is left as it was.
    """
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as out:
        for chunk in chunks:
            out.write(chunk)


def move_into_place(staging: str | Path, target: str | Path, names: Sequence[str]) -> None:
    """Move the files ``names`` from folder ``staging`` over those in ``target``, in that order.

    Every file is flushed to disk before the first rename, so a failure while the files were
    being written never reaches ``target``. Each rename is atomic, but the group is not: a crash
    between two renames leaves some files new and some old, so readers must be able to detect
    that (the model directory's manifest, moved last, does).
    """
    source, destination = Path(staging), Path(target)
    for name in names:
        with open(source / name, "rb+") as written:
            os.fsync(written.fileno())
    for name in names:
        os.replace(source / name, destination / name)
    _fsync_directory(destination)


def _fsync_directory(path: Path) -> None:
    # Makes the renames durable on POSIX; other systems cannot open a directory, and skip it.
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
