"""Run the property-based tests in tests/fuzz with a large example budget and count the inputs.

This is what ``make fuzz`` runs, plus a summary. Run by hand:

    .venv/bin/python benchmarks/fuzz_run.py [--examples 10000] [-- extra pytest arguments]

It prints, per test and in total, the inputs tried (Hypothesis's passing, failing and invalid test
cases over all phases) and the failures found, then exits with pytest's status. The counts come
from ``pytest --hypothesis-show-statistics``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXAMPLES = 10000
TEST_HEADER = re.compile(r"^(tests/\S+::\S+):$")
CASES = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")


@dataclass
class Counts:
    """Test cases that Hypothesis ran for one test, summed over its phases."""

    passing: int = 0
    failing: int = 0
    invalid: int = 0

    @property
    def tried(self) -> int:
        return self.passing + self.failing + self.invalid


def parse_statistics(output: str) -> dict[str, Counts]:
    """Return the test cases per test from the "Hypothesis Statistics" section of pytest output."""
    counts: dict[str, Counts] = {}
    current: Counts | None = None
    for line in output.splitlines():
        header = TEST_HEADER.match(line.strip())
        if header:
            current = counts.setdefault(header.group(1), Counts())
            continue
        cases = CASES.search(line)
        if cases and current is not None:
            current.passing += int(cases.group(1))
            current.failing += int(cases.group(2))
            current.invalid += int(cases.group(3))
    return counts


def failed_tests(output: str) -> list[str]:
    """Return the node ids that pytest's short summary lists as failed or in error."""
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=DEFAULT_EXAMPLES, help="ELMAN_FUZZ_EXAMPLES to run with."
    )
    parser.add_argument("pytest_args", nargs="*", help="Extra arguments for pytest.")
    options = parser.parse_args()

    environment = {**os.environ, "ELMAN_FUZZ_EXAMPLES": str(options.examples)}
    command = [
        sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
        "--hypothesis-show-statistics", "tests/fuzz", *options.pytest_args,
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=REPO, env=environment, capture_output=True, text=True, check=False
    )
    minutes = (time.perf_counter() - started) / 60
    output = result.stdout + result.stderr
    counts = parse_statistics(output)
    failures = failed_tests(output)

    status = f"pytest exit {result.returncode}"
    print(f"ELMAN_FUZZ_EXAMPLES={options.examples}, {minutes:.1f} minutes, {status}")
    for name, count in sorted(counts.items()):
        print(f"  {name}: {count.tried} inputs, {count.failing} failing")
    print(f"total: {sum(c.tried for c in counts.values())} inputs tried in {len(counts)} tests")
    print(
        f"failures: {len(failures)} test(s) failed"
        + (": " + ", ".join(failures) if failures else "")
    )
    if failures:
        print(output[-20000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
