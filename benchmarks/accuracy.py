"""Train presets on the real corpora with several seeds and record test F1 in RESULTS.md.

Run by hand (it takes hours on 2 cores), for example:

    .venv/bin/python benchmarks/accuracy.py --corpus atis --preset atis --seeds 1 2 3
    .venv/bin/python benchmarks/accuracy.py --ablation --corpus conll --seeds 1

Each run appends one JSON line to benchmarks/results/accuracy.jsonl; the tables in RESULTS.md are
rebuilt from all lines of that file, so runs can be spread over several sessions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from corpora import REPO, corpus_paths, extra_paths, machine, replace_section

from elman.data.readers import read_corpus
from elman.evaluate.metrics import score
from elman.model.inference import predict_tags
from elman.store import SavedModel
from elman.train.launch import launch_training

LOG = REPO / "benchmarks" / "results" / "accuracy.jsonl"
PRESET_FOR = {"conll": "conll", "atis": "atis", "snips": "atis", "wnut": "wnut"}
ABLATIONS = {
    "full preset": [],
    "no context window": ["model.window=1"],
    "context window of 3": ["model.window=3"],
    "GRU instead of Elman": ["model.cell='gru'"],
    "LSTM instead of Elman": ["model.cell='lstm'"],
    "softmax instead of CRF": ["model.output='softmax'"],
    "no character features": ["model.char_encoder='none'"],
    "batches of 64, lr 0.004": ["train.batch_size=64", "train.lr=0.004"],
    "no weight averaging": ["train.average=0"],
    "an ensemble of two networks": ["model.members=2"],
    "without the extra corpus": [],
    "trained on train and dev, 14 epochs": ["train.with_dev=true", "train.epochs=14"],
    "trained on train and dev, 14 epochs, language-model objective": [
        "train.with_dev=true",
        "train.epochs=14",
        "model.lm_words=1000",
        "model.lm_weight=0.3",
    ],
    "trained on train and dev, 14 epochs, lowercased copies": [
        "train.with_dev=true",
        "train.epochs=14",
        "train.lowercase_copies=true",
    ],
    "four networks, trained on train and dev, 14 epochs": [
        "model.members=4",
        "train.with_dev=true",
        "train.epochs=14",
    ],
    "four networks, trained on train and dev, 14 epochs, lowercased copies": [
        "model.members=4",
        "train.with_dev=true",
        "train.epochs=14",
        "train.lowercase_copies=true",
    ],
    "lowercased copies": ["train.lowercase_copies=true"],
    "trained on train and dev, 14 epochs, lowercased copies, every CoNLL-2003 split": [
        "train.with_dev=true",
        "train.epochs=14",
        "train.lowercase_copies=true",
    ],
    "four networks, trained on train and dev, 14 epochs, lowercased copies, "
    "every CoNLL-2003 split": [
        "model.members=4",
        "train.with_dev=true",
        "train.epochs=14",
        "train.lowercase_copies=true",
    ],
    "eight networks, trained on train and dev, 14 epochs, lowercased copies, "
    "every CoNLL-2003 split": [
        "model.members=8",
        "train.with_dev=true",
        "train.epochs=14",
        "train.lowercase_copies=true",
    ],
}
NO_EXTRA = "without the extra corpus"
"""The variant that trains without the corpus's extra training corpora."""
MORE_EXTRA = "every CoNLL-2003 split"
"""Variants whose label ends with this train on the other splits of the extra corpus as well."""
ANCHORS = """\
Reference points on the same test sets (entity F1, conlleval):

| corpus | reference | F1 |
|---|---|---|
| ATIS | Elman RNN, context window (Mesnil et al. 2015, Table 3) | 94.98 |
| ATIS | CRF with classic word features, measured on a 2-core machine | 91.8 |
| CoNLL-2003 | spaCy 3.8 CPU `ner` trained from scratch (11 minutes), 2-core machine | 81.4 |
| CoNLL-2003 | CRF with classic word features, 2-core machine | 79.2 |
| WNUT-17 | best shared-task system | 41.9 |
"""


def run_one(corpus: str, preset: str, seed: int, overrides: list[str], label: str) -> dict:
    train, dev, test = corpus_paths(corpus)
    extra = [] if label == NO_EXTRA else extra_paths(corpus, more=label.endswith(MORE_EXTRA))
    with tempfile.TemporaryDirectory() as output:
        started = time.perf_counter()
        saved = launch_training(
            train_path=train,
            dev=dev,
            test=test,
            extra=extra,
            output=Path(output),
            preset=preset,
            overrides=overrides,
            seed=seed,
            progress=False,
        )
        seconds = time.perf_counter() - started
    record: dict = {
        "corpus": corpus,
        "preset": preset,
        "variant": label,
        "overrides": overrides,
        "extra": [Path(path).relative_to(REPO.parent).as_posix() for path in extra],
        "seed": seed,
        "test_f1": 100 * saved.scores["test"]["f1"],
        # No dev score when dev was trained on (train.with_dev).
        "dev_f1": 100 * saved.scores["dev"]["f1"] if "dev" in saved.scores else None,
        "epochs": saved.scores["epochs"],
        "best_epoch": saved.scores["best_epoch"],
        "seconds": seconds,
        "machine": machine(),
    }
    if saved.model_config.document_consistency:
        record.update(_consistency_steps(saved, test))
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    return record


def _consistency_steps(saved: SavedModel, test: str) -> dict[str, float]:
    """Return the test F1 with the votes alone and with the network's own tags alone."""
    corpus = read_corpus(test)
    tokens = [sentence.tokens for sentence in corpus.sentences]
    gold = [sentence.tags or () for sentence in corpus.sentences]
    documents = [sentence.document for sentence in corpus.sentences]
    full = saved.model.config
    results = {}
    try:
        for name, config in (
            ("test_f1_votes_only", dataclasses.replace(full, document_evidence=0.0)),
            ("test_f1_without_consistency", dataclasses.replace(full, document_consistency=False)),
        ):
            saved.model.config = config
            predicted = predict_tags(saved.model, saved.vocab, tokens, documents=documents)
            results[name] = 100 * score(gold, predicted, "iob2").f1
    finally:
        saved.model.config = full
    return results


def render() -> None:
    logged = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    # A later run of the same seed and settings replaces the earlier one.
    latest = {(r["corpus"], r["preset"], r["variant"], r["seed"]): r for r in logged}
    records = list(latest.values())
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for record in records:
        groups[(record["corpus"], record["preset"], record["variant"])].append(record)

    def row(key: tuple[str, str, str], runs: list[dict]) -> str:
        scores = [r["test_f1"] for r in runs]
        spread = f"{statistics.stdev(scores):.2f}" if len(scores) > 1 else "n/a"
        minutes = statistics.mean(r["seconds"] for r in runs) / 60
        epochs = statistics.mean(r["epochs"] for r in runs)
        return (
            f"| {key[0]} | {key[1]} | {key[2]} | {statistics.mean(scores):.2f} ± {spread} | "
            f"{len(scores)} | {minutes:.1f} | {epochs:.1f} |"
        )

    header = (
        "| corpus | preset | variant | test F1 (mean ± sd) | seeds | minutes | epochs |\n"
        "|---|---|---|---|---|---|---|"
    )
    main = [row(k, v) for k, v in sorted(groups.items()) if k[2] == "full preset"]
    ablation = _ablation_rows(groups, row)
    sentence_level = _sentence_level_rows(groups)
    machines = sorted({r["machine"] for r in records})
    body = "\n".join(
        [
            "## Accuracy",
            "",
            "Written by `benchmarks/accuracy.py`; minutes are wall-clock time of the whole run "
            "(training, dev evaluation each epoch, saving). The runs recorded so far used one "
            "thread each, two runs at a time on a 2-core machine that was also running tests, "
            "so their minutes are upper bounds. Runs of an ensemble (`model.members=2`) train "
            "their two members at the same time, one thread each, one run at a time on the same "
            "machine. A row may mix runs from before and after changes "
            "that compute the same function faster (characters encoded once per distinct token, "
            "the fused Adam kernel, the character CNN as summed table rows, dropout masks drawn "
            "from uniform samples, Elman layers unrolled in time-major order for training). Some "
            "runs predate a change that draws the same random quantities from other streams "
            "(dropout masks cut from 64-bit draws, rare-word replacement drawn per batch with "
            "NumPy). "
            "Rows of the preset `atis, window 3` are runs of the `atis` preset from before its "
            "context window changed from 3 to 1 and before it averaged its weights. Rows of "
            "`atis, no averaging` are runs of the `atis` preset from before it averaged its "
            "weights (`train.average=0.998`), the only setting that changed since. Rows of "
            "`conll, hidden 256, batch 16` are runs of the `conll` preset from before it changed "
            "to 320 units, batches of 128 sentences and a learning rate of 0.004 (from 0.002). "
            "Rows of `conll, 320 units, no averaging or consistency` are runs of the `conll` "
            "preset from before it averaged its weights (`train.average=0.998`) and voted on "
            "labels within documents (`model.document_consistency=true`). Rows of "
            "`conll, up to 60 epochs, patience 10` are runs of the current preset with up to 60 "
            "epochs, a patience of 10 epochs and a learning-rate patience of 3 epochs (40, 6 and "
            "2 in the preset), from before it added the evidence of other mentions. Rows of "
            "`conll, votes only` are runs of the `conll` preset from before it added the evidence "
            "of other mentions before decoding (`model.document_evidence`, 4 by default). Rows of "
            "`conll, one network` are runs of the `conll` preset from before it became an "
            "ensemble of two networks (`model.members=2`). Rows of `wnut, one network` are runs of "
            "the `wnut` preset from before it became an ensemble of two networks, and rows of "
            "`wnut, no extra corpus` runs with `model.members=2` from before that setting joined "
            "the preset. Both predate training on an extra corpus: the `wnut` rows train on the "
            "CoNLL-2003 training set as well (`elman train --extra`), its types renamed by the "
            "preset's `train.extra_types`, and the variant `without the extra corpus` trains "
            "without it. Rows of `wnut, MISC dropped` are runs of the `wnut` preset from before "
            "its map renamed CoNLL-2003's MISC to group (it dropped MISC entities). "
            "The WNUT-17 variants `trained on train and dev` train on the dev sentences as well "
            "(`train.with_dev=true`) for 14 epochs, the median best epoch of the three runs of "
            "the preset scored on dev (9, 14 and 30), and have no dev F1. The runs of the "
            "variant with four networks trained all four at the same time, one thread each, on "
            "the 2 cores. Those with four or eight networks and lowercased copies train two at "
            "a time, one per core. The variant with the language-model objective sets "
            "`model.lm_words=1000` and `model.lm_weight=0.3`. The variants with lowercased "
            "copies set `train.lowercase_copies=true`, which copies the training and extra "
            "sentences but not the dev sentences. The log keeps earlier runs from before it "
            "left the dev sentences out. The variants on every CoNLL-2003 split add its dev and "
            "test sets to its training set as extra corpora. "
            "A later run of the same seed replaces an earlier one in the tables; "
            "`benchmarks/results/accuracy.jsonl` keeps every run.",
            "",
            header,
            *main,
            "",
            "### Ablation",
            "",
            header,
            *(ablation or ["| | | no ablation run yet | | | | |"]),
            "",
            "### Document-level label consistency",
            "",
            "The same models as in the rows above, scored on the test set with both steps of "
            "document-level label consistency (the evidence of other mentions before decoding, "
            "then the votes), with the votes alone (`model.document_evidence=0`), and with the "
            "network's own tags. Runs from before the evidence step existed have no votes-only "
            "score (n/a); their F1 with consistency is with the votes alone.",
            "",
            "| corpus | preset | variant | with consistency | votes only | without | seeds |",
            "|---|---|---|---|---|---|---|",
            *(sentence_level or ["| | | no run with consistency yet | | | | |"]),
            "",
            ANCHORS,
            "Machines: " + "; ".join(machines),
        ]
    )
    replace_section("accuracy", body)


def _sentence_level_rows(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Return table rows that compare test F1 with and without the steps of label consistency."""
    rows = []
    for key, runs in sorted(groups.items()):
        both = [run for run in runs if "test_f1_without_consistency" in run]
        if not both:
            continue
        with_votes = statistics.mean(run["test_f1"] for run in both)
        without = statistics.mean(run["test_f1_without_consistency"] for run in both)
        votes = [run["test_f1_votes_only"] for run in both if "test_f1_votes_only" in run]
        votes_only = f"{statistics.mean(votes):.2f}" if len(votes) == len(both) else "n/a"
        rows.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {with_votes:.2f} | {votes_only} | {without:.2f} "
            f"| {len(both)} |"
        )
    return rows


def _ablation_rows(
    groups: dict[tuple[str, str, str], list[dict]],
    row: Callable[[tuple[str, str, str], list[dict]], str],
) -> list[str]:
    """Rows of the ablation table: per corpus, the full preset on the variants' seeds first."""
    variants = sorted(key for key in groups if key[2] != "full preset")
    rows = []
    for corpus, preset in sorted({key[:2] for key in variants}):
        own = [key for key in variants if key[:2] == (corpus, preset)]
        seeds = {run["seed"] for key in own for run in groups[key]}
        full = [
            run for run in groups.get((corpus, preset, "full preset"), []) if run["seed"] in seeds
        ]
        if full:
            rows.append(row((corpus, preset, "full preset, the same seeds"), full))
        rows.extend(row(key, groups[key]) for key in own)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=[*PRESET_FOR, "all"], default="all")
    parser.add_argument("--preset", help="preset name (default: the corpus's own)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--ablation", action="store_true", help="run the ablation variants")
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        choices=list(ABLATIONS),
        help="with --ablation, run only this variant (repeatable)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()

    if not args.render_only:
        corpora = list(PRESET_FOR) if args.corpus == "all" else [args.corpus]
        variants = ABLATIONS if args.ablation else {"full preset": []}
        if args.ablation and args.variants:
            variants = {name: ABLATIONS[name] for name in args.variants}
        for corpus in corpora:
            preset = args.preset or PRESET_FOR[corpus]
            for label, overrides in variants.items():
                for seed in args.seeds:
                    run_one(corpus, preset, seed, [*overrides, *args.overrides], label)
    render()


if __name__ == "__main__":
    main()
