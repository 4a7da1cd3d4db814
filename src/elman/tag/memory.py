"""Keep a long tagging run's memory close to what it uses at any one moment.

Tagging allocates tensors of many sizes, one batch after another. Each time glibc frees a block
that had its own memory map, it raises the size from which it maps blocks, so later large blocks
come from the heap, where freed space is kept and fragments. Tagging a 50 MB document with the
`demo` model peaked at 764 MB that way and at 486 MB with a fixed threshold of 1 MiB, which
returns every large block to the system when it is freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter: the block size from which blocks get their own memory map."""
LARGE_BLOCK_BYTES = 1 << 20


def return_large_blocks() -> bool:
    """Return blocks of ``LARGE_BLOCK_BYTES`` or more to the system when they are freed.

    The setting applies to the whole process, so the command line calls this, not the library.
    Returns False and changes nothing where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        # musl and other C libraries have no mallopt.
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    changed = bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
    logger.debug("memory map threshold set to %d bytes: %s", LARGE_BLOCK_BYTES, changed)
    return changed
