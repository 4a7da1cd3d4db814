"""Request limits of the HTTP service, read from environment variables.

=========================  ===========  ==============================================
Variable                   Default      Limit
=========================  ===========  ==============================================
``ELMAN_MAX_BODY_BYTES``   1048576      bytes in one request body (1 MiB)
``ELMAN_MAX_TEXTS``        64           texts in one ``"texts"`` list
``ELMAN_MAX_TEXT_CHARS``   100000       characters (code points) in one text
=========================  ===========  ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from elman.errors import ConfigError

MODEL_VARIABLE = "ELMAN_MODEL"
"""Environment variable with the model directory; ``elman serve --workers N`` sets it."""


@dataclass(frozen=True)
class ServeSettings:
    """Limits applied to every request; a request past one gets status 413."""

    max_body_bytes: int = 1024 * 1024
    max_texts: int = 64
    max_text_chars: int = 100_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{env_variable(field.name)}={value!r} is invalid; expected an integer >= 1"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Read the limits from ``environ`` (default ``os.environ``); unset ones keep defaults."""
        source = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for field in fields(cls):
            name = env_variable(field.name)
            raw = source.get(name)
            if raw is None or not raw.strip():
                continue
            try:
                values[field.name] = int(raw)
            except ValueError:
                raise ConfigError(
                    f"{name}={raw!r} is invalid; expected an integer >= 1 "
                    f"(unset it to use the default, {field.default})"
                ) from None
        return cls(**values)

    def limit_name(self, field_name: str) -> str:
        """Return ``VARIABLE=value`` for a limit, as error messages quote it."""
        return f"{env_variable(field_name)}={getattr(self, field_name)}"


def env_variable(field_name: str) -> str:
    """Return the environment variable that sets the field ``field_name``."""
    return f"ELMAN_{field_name.upper()}"
