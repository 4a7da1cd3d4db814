"""Paths of the real corpora the benchmarks use, and the results file they write to."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "RESULTS.md"

CORPORA = {
    "conll": ("conll2003/train.txt", "conll2003/dev.txt", "conll2003/test.txt"),
    "atis": ("atis/train", "atis/valid", "atis/test"),
    "snips": ("snips/train", "snips/valid", "snips/test"),
    "wnut": ("wnut17/train.conll", "wnut17/dev.conll", "wnut17/test.conll"),
}

EXTRA_CORPORA = {"wnut": ("conll2003/train.txt",)}
"""Annotated corpora added to a corpus's training data (``elman train --extra``)."""

MORE_EXTRA_CORPORA = {"wnut": ("conll2003/dev.txt", "conll2003/test.txt")}
"""The other splits of an extra corpus, which some variants add to the extra training data."""


def corpus_paths(name: str) -> tuple[str, str, str]:
    """Return the train, dev and test paths of a corpus, or exit if the data is absent."""
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: the benchmarks need the real corpora there")
    train, dev, test = CORPORA[name]
    return str(DATA / train), str(DATA / dev), str(DATA / test)


def extra_paths(name: str, *, more: bool = False) -> list[str]:
    """Return the paths of the extra training corpora of a corpus (often none).

    With ``more`` they include the other splits of the extra corpora (``MORE_EXTRA_CORPORA``).
    """
    paths = [*EXTRA_CORPORA.get(name, ()), *(MORE_EXTRA_CORPORA.get(name, ()) if more else ())]
    return [str(DATA / path) for path in paths]


def machine() -> str:
    """A one-line description of the machine and library versions."""
    return (
        f"{platform.machine()}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or 'unknown CPU'}, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def replace_section(name: str, body: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in RESULTS.md."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")
