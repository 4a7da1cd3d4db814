"""Error types raised on bad input.

Every error that a user can cause (a malformed corpus, an invalid setting, a damaged model
directory) is an ``ElmanError``. The command line prints its message and exits with status 2;
any other exception is a bug in ``elman``.
"""

from __future__ import annotations

from pathlib import Path


class ElmanError(Exception):
    """Base class of the errors that bad input, settings or files cause."""


class DataError(ElmanError):
    """A corpus or text file that cannot be read, with the place where reading failed."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class ConfigError(ElmanError):
    """An invalid configuration value, file or override."""


class ModelError(ElmanError):
    """A model directory or checkpoint that is missing, damaged or of an unknown format."""
