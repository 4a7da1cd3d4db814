"""Logging helpers shared by the modules that call chatty libraries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def raised_level(logger: logging.Logger, level: int) -> Iterator[None]:
    """Within the block, log on ``logger`` at ``level`` and above only, then restore its level."""
    previous = logger.level
    logger.setLevel(max(previous, level))
    try:
        yield
    finally:
        logger.setLevel(previous)
