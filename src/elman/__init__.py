"""elman: find names and other labelled spans in text with an Elman recurrent network."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Tagger", "__version__", "load"]


def __getattr__(name: str) -> object:
    # The tagger pulls in torch; import it on first use so that `import elman` stays cheap.
    if name in ("load", "Tagger"):
        from elman.tag import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'elman' has no attribute {name!r}")
