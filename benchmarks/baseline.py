"""Train the default model (one left-to-right Elman layer, softmax) on ATIS and CoNLL-2003.

This is what the README's `elman train` command does with no preset. Run by hand:

    .venv/bin/python benchmarks/baseline.py [--corpus atis conll] [--seed 13]

It writes test F1, training time and training and tagging throughput to RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

from corpora import CORPORA, corpus_paths, machine, replace_section

from elman.store import load_model


def run(corpus: str, seed: int) -> str:
    train, dev, test = corpus_paths(corpus)
    with tempfile.TemporaryDirectory() as output:
        command = [
            "elman", "train", "--train", train, "--dev", dev, "--test", test,
            "--output", output, "--seed", str(seed), "--no-progress",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "elman", *command[1:]], check=True, capture_output=True
        )
        minutes = (time.perf_counter() - started) / 60
        scores = load_model(output).scores
    history = scores["history"]
    train_speed = sum(h["tokens_per_second"] for h in history) / len(history)
    relative = [f"../shared/data/{path}" for path in CORPORA[corpus]]
    shown = (
        f"elman train --train {relative[0]} --dev {relative[1]} --test {relative[2]} "
        f"--output models/{corpus} --seed {seed}"
    )
    return (
        f"| {corpus} | {100 * scores['test']['f1']:.2f} | {100 * scores['dev']['f1']:.2f} | "
        f"{scores['epochs']} ({scores['best_epoch']}) | {minutes:.1f} | {train_speed:,.0f} | "
        f"{scores['test']['tagging_tokens_per_second']:,.0f} | `{shown}` |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", default=["atis", "conll"])
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rows = [run(corpus, args.seed) for corpus in args.corpus]
    body = "\n".join(
        [
            "## Default model",
            "",
            "One left-to-right Elman layer (tanh), window 3, casing feature, softmax with IOB2-"
            "constrained decoding; no CRF, no pre-trained vectors. Written by "
            "`benchmarks/baseline.py`.",
            "",
            "| corpus | test F1 | dev F1 | epochs (best) | minutes | train tokens/s | "
            "tag tokens/s | command |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Machine: {machine()}.",
        ]
    )
    replace_section("baseline", body)
    print(body)


if __name__ == "__main__":
    main()
