"""Time parsing a corpus against loading it from the binary corpus cache.

Usage: python benchmarks/cache_speed.py [--corpus PATH] [--repeats 5] [--min-ratio 10]

Each time is the median of ``--repeats`` runs, and a cache load includes hashing the file to find
its entry. The script exits with status 1 when parsing is less than ``--min-ratio`` times slower
than loading.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from elman.data.cache import load_cached
from elman.data.readers import read_corpus

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003"


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Return the median wall time of ``repeats`` calls of ``action``."""
    times = []
    for _ in range(repeats):
        # Collecting first keeps the garbage of one run from being collected in the next.
        gc.collect()
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS / "train.txt",
        help="corpus file or folder (default: CoNLL-2003 train in the data folder beside the repo)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (default 5)")
    parser.add_argument(
        "--min-ratio", type=float, default=10.0, help="minimum speed-up (default 10)"
    )
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2

    # The corpus's scheme warnings would repeat on every run.
    logging.getLogger("elman").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as cache_dir:
        directory = Path(cache_dir)
        corpus = load_cached(args.corpus, cache_dir=directory)  # fills the cache
        parse = median_seconds(lambda: read_corpus(args.corpus), args.repeats)
        load = median_seconds(lambda: load_cached(args.corpus, cache_dir=directory), args.repeats)

    ratio = parse / load
    print(f"corpus: {args.corpus} ({len(corpus)} sentences, {corpus.tokens} tokens)")
    print(f"parse:      {parse * 1000:8.1f} ms (median of {args.repeats})")
    print(f"cache load: {load * 1000:8.1f} ms (median of {args.repeats})")
    print(f"ratio:      {ratio:8.1f}x (minimum {args.min_ratio:g}x)")
    return 0 if ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
