"""Speed of `elman tag --input-dir` on a local Dask cluster of 1 and of 2 worker processes.

The collection is the CoNLL-2003 test set, split into its documents at ``-DOCSTART-`` lines.
Each document is detokenized by joining its tokens with spaces and written as one ``.txt`` file,
and ``--copies`` repeats the set to make the run longer. Run by hand:

    .venv/bin/python benchmarks/collection_speed.py [--model DIR] [--copies 4]

Without ``--model`` it first trains a small model (the demo preset, 3 epochs, on the shipped
corpus). Every worker loads the model before the timed run, so the figures leave out the
cluster's start-up, which the script prints separately. It prints documents and tokens per second
for each cluster size and the speed-up of 2 workers over 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpora import corpus_paths, machine
from dask.distributed import Client, LocalCluster

from elman.distributed.collection import CollectionSummary, cached_tagger, tag_collection

DOCUMENTS_PER_PARTITION = 16


def write_collection(conll: Path, folder: Path, copies: int) -> int:
    """Write each CoNLL document as one text file, ``copies`` times; return the file count."""
    documents: list[list[str]] = []
    tokens: list[str] = []
    for line in conll.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "-DOCSTART-":
            if tokens:
                documents.append(tokens)
            tokens = []
        elif fields:
            tokens.append(fields[0])
    if tokens:
        documents.append(tokens)
    for copy in range(copies):
        for number, document in enumerate(documents):
            path = folder / f"copy{copy}" / f"doc{number:04d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(" ".join(document), encoding="utf-8")
    return copies * len(documents)


def train_small_model(output: Path) -> None:
    command = [
        sys.executable, "-m", "elman", "-q", "train", "--train", "builtin:train",
        "--dev", "builtin:dev", "--output", str(output), "--preset", "demo",
        "--set", "train.epochs=3", "--no-progress", "--no-tensorboard",
    ]  # fmt: skip
    subprocess.run(command, check=True)


def load_model_on_worker(model: str) -> None:
    cached_tagger(model)


def timed_run(
    collection: Path, model: Path, workers: int, scratch: Path
) -> tuple[float, CollectionSummary]:
    """Start a cluster, load the model on every worker, tag the collection.

    Returns the seconds until the workers were ready, and the summary of the timed run.
    """
    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        client.run(load_model_on_worker, str(model.resolve()))
        start_up = time.perf_counter() - started
        summary = tag_collection(
            collection,
            scratch / f"out-{workers}",
            model,
            client=client,
            documents_per_partition=DOCUMENTS_PER_PARTITION,
            progress=False,
        )
    return start_up, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="Model directory (default: train one).")
    parser.add_argument("--copies", type=int, default=4, help="Copies of the test set.")
    args = parser.parse_args()
    _, _, test = corpus_paths("conll")

    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        model = args.model
        if model is None:
            model = scratch / "model"
            train_small_model(model)
        collection = scratch / "collection"
        documents = write_collection(Path(test), collection, args.copies)
        described = args.model or "the demo preset trained for 3 epochs"
        print(f"{documents} documents ({args.copies} copies of {test}); model: {described}")
        print(f"{DOCUMENTS_PER_PARTITION} documents per partition; machine: {machine()}")
        print("| workers | start-up s | seconds | documents/s | tokens/s |")
        print("|---|---|---|---|---|")
        rates: dict[int, float] = {}
        for workers in (1, 2):
            start_up, summary = timed_run(collection, model, workers, scratch)
            rates[workers] = summary.documents / summary.seconds
            print(
                f"| {workers} | {start_up:.1f} | {summary.seconds:.1f} | "
                f"{rates[workers]:,.1f} | {summary.tokens / summary.seconds:,.0f} |"
            )
        print(f"speed-up of 2 workers over 1: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
