"""Logging helpers shared by several modules."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def raised_level(logger: logging.Logger, level: int) -> Iterator[None]:
    """Raise the level of ``logger`` to at least ``level`` within the block, then restore it."""
    previous = logger.level
    logger.setLevel(max(previous, level))
    try:
        yield
    finally:
        logger.setLevel(previous)
