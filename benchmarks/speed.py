"""Tagging and training speed of elman next to spaCy and a CRF, on the CoNLL-2003 test set.

Run by hand on an otherwise idle machine (about 30 minutes on 2 cores):

    .venv/bin/pip install spacy sklearn-crfsuite     # the competitors, not elman dependencies
    .venv/bin/python benchmarks/speed.py

Every figure is the median of several runs after a warm-up. Tagging is measured from tokens to
tags (the CoNLL test tokens; for the CRF this includes feature extraction, for spaCy its whole
pipeline). The script writes its figures to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from corpora import corpus_paths, machine, replace_section

from elman.data.readers import read_corpus
from elman.evaluate.metrics import score
from elman.export.onnx import ONNX_FILE, export_onnx
from elman.model.config import ModelConfig
from elman.model.dropout import Dropout
from elman.model.recurrent import ElmanCell
from elman.model.unrolled import unrolled_layers
from elman.store import load_model
from elman.tag.predictor import Tagger, load
from elman.train.launch import launch_training

Sentences = list[list[str]]


def median_time(action: Callable[[], object], runs: int = 5) -> float:
    action()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def gemm_ceiling() -> dict[str, float]:
    """Measured float32 matrix-product speed in GFLOP/s: large, and one recurrent step."""
    results = {}
    for name, (m, k, n) in {"large": (2048, 2048, 2048), "step": (32, 256, 256)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        repeats = 5 if name == "large" else 20000
        seconds = median_time(lambda a=a, b=b, r=repeats: [a @ b for _ in range(r)], runs=5)
        results[name] = 2 * m * k * n * repeats / seconds / 1e9
    return results


def forward_flops_per_token(config: ModelConfig, num_tags: int) -> float:
    """Multiply-adds (x2) of one token's forward pass; embedding lookups are not counted.

    The character CNN runs once per distinct token of a batch, not per token, and is left out,
    so the count is a lower bound.
    """
    directions = 2 if config.bidirectional else 1
    token_size = config.word_dim + config.casing_dim
    flops = 0.0
    if config.char_encoder == "cnn":
        token_size += config.char_hidden
    gates = {"elman": 1, "jordan": 1, "gru": 3, "lstm": 4}[config.cell]
    size = token_size * config.window
    for _ in range(config.layers):
        flops += directions * gates * 2 * config.hidden * (size + config.hidden)
        size = config.hidden * directions
    flops += 2 * size * num_tags
    if config.output == "crf":
        flops += 2 * num_tags * num_tags
    return flops


def elman_figures(
    preset: str,
    train: str,
    dev: str,
    test: Sentences,
    gold: Sentences,
    documents: list[int],
    output: Path,
) -> dict[str, float]:
    started = time.perf_counter()
    saved = launch_training(train_path=train, dev=dev, output=output, preset=preset, progress=False)
    train_minutes = (time.perf_counter() - started) / 60
    tokens = sum(len(s) for s in test)
    # As `elman tag` does: one batch per core at a time, one PyTorch thread each.
    cores = torch.get_num_threads()
    tagger = Tagger(saved, workers=cores)
    torch.set_num_threads(1)
    f1 = score(gold, tagger.tag_sentences(test, documents)).f1

    batch_seconds = median_time(lambda: tagger.tag_sentences(test, documents))
    export_onnx(load_model(output), output / ONNX_FILE)
    onnx_tagger = load(output, backend="onnx")
    onnx_seconds = median_time(lambda: onnx_tagger.tag_sentences(test, documents))
    same = onnx_tagger.tag_sentences(test, documents) == tagger.tag_sentences(test, documents)

    export_onnx(load_model(output), output / "int8.onnx", quantize=True)
    int8_tagger = load(output, backend="onnx", onnx_file=output / "int8.onnx")
    int8_seconds = median_time(lambda: int8_tagger.tag_sentences(test, documents))
    int8_f1 = score(gold, int8_tagger.tag_sentences(test, documents)).f1

    sentence = (test[0] * 20)[:20]
    latencies = []
    for _ in range(300):
        begin = time.perf_counter()
        tagger.tag_tokens(sentence)
        latencies.append(time.perf_counter() - begin)

    torch.set_num_threads(cores)
    train_speed = training_speed(saved.scores)
    flops = 3 * forward_flops_per_token(saved.model_config, len(saved.vocab.tags))
    return {
        "f1": 100 * f1,
        "train_minutes": train_minutes,
        "epochs": saved.scores["epochs"],
        "tag_tokens_per_second": tokens / batch_seconds,
        "onnx_tokens_per_second": tokens / onnx_seconds,
        "onnx_same_tags": float(same),
        "int8_tokens_per_second": tokens / int8_seconds,
        "int8_f1": 100 * int8_f1,
        "latency_ms": 1000 * statistics.median(latencies[50:]),
        "train_tokens_per_second": train_speed,
        "train_flops_per_token": flops,
        "train_gflops": train_speed * flops / 1e9,
    }


def training_speed(scores: dict) -> float:
    """Return the median training tokens/s over epochs, summed over an ensemble's members.

    The members of an ensemble train at the same time, so their speeds add up.
    """
    members = scores.get("members")
    if not members:
        return statistics.median(h["tokens_per_second"] for h in scores["history"])
    total = 0.0
    for member in members:
        history = json.loads((Path(member["path"]) / "scores.json").read_text())["history"]
        total += statistics.median(h["tokens_per_second"] for h in history)
    return total


def recurrence_loops(batch: int = 32, time_steps: int = 30, size: int = 256) -> dict[str, float]:
    """Milliseconds of one forward and backward pass of an Elman layer, by implementation."""

    class HandLoop(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input = torch.nn.Linear(size, size)
            self.recurrent = torch.nn.Linear(size, size, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            projected = self.input(x)  # (batch, time, hidden), all steps in one product
            state = projected.new_zeros(x.size(0), size)
            outputs = []
            for t in range(x.size(1)):
                state = torch.tanh(projected[:, t] + self.recurrent(state))
                outputs.append(state)
            return torch.stack(outputs, dim=1)

    class TorchRNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.RNN(size, size, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0]

    class Unrolled(torch.nn.Module):
        """The training path of elman's Elman layers, on the same cell as torch.nn.RNN."""

        def __init__(self) -> None:
            super().__init__()
            self.cell = ElmanCell(size, size, "tanh")
            self.lengths = torch.full((batch,), time_steps)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return unrolled_layers([[self.cell]], Dropout(0.0), x, self.lengths)

    x = torch.randn(batch, time_steps, size)
    variants: dict[str, torch.nn.Module] = {
        "hand-written loop": HandLoop(),
        "torch.nn.RNN": TorchRNN(),
        "elman.model.unrolled (the training path)": Unrolled(),
    }
    try:
        variants["torch.compile(hand-written loop)"] = torch.compile(HandLoop())
    except Exception as error:  # torch.compile needs a C compiler; report, do not fail
        print(f"torch.compile unavailable: {error}")
    results = {}
    for name, module in variants.items():

        def step(module: torch.nn.Module = module) -> None:
            module(x).sum().backward()

        try:
            results[name] = 1000 * median_time(step, runs=20)
        except Exception as error:
            print(f"{name} failed: {error}")
    return results


def crf_figures(train: Sentences, train_tags: Sentences, test: Sentences, gold: Sentences) -> dict:
    import sklearn_crfsuite

    def features(tokens: list[str]) -> list[dict[str, object]]:
        rows = []
        for i, word in enumerate(tokens):
            row: dict[str, object] = {
                "w": word.lower(), "suf3": word[-3:], "suf2": word[-2:], "pre3": word[:3],
                "upper": word.isupper(), "title": word.istitle(), "digit": word.isdigit(),
            }  # fmt: skip
            for offset in (-2, -1, 1, 2):
                j = i + offset
                if 0 <= j < len(tokens):
                    row[f"{offset}:w"] = tokens[j].lower()
                    row[f"{offset}:title"] = tokens[j].istitle()
                else:
                    row[f"{offset}:edge"] = True
            rows.append(row)
        return rows

    started = time.perf_counter()
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100)
    crf.fit([features(s) for s in train], train_tags)
    minutes = (time.perf_counter() - started) / 60
    tokens = sum(len(s) for s in test)
    seconds = median_time(lambda: crf.predict([features(s) for s in test]), runs=3)
    predicted = crf.predict([features(s) for s in test])
    return {
        "f1": 100 * score(gold, predicted).f1,
        "train_minutes": minutes,
        "tag_tokens_per_second": tokens / seconds,
    }


def spacy_figures(
    train: Sentences, train_tags: Sentences, test: Sentences, gold: Sentences, minutes: float
) -> dict:
    import spacy
    from spacy.cli.init_config import init_config
    from spacy.tokens import Doc
    from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo
    from spacy.util import minibatch

    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)

    def example(tokens: list[str], tags: list[str]) -> Example:
        doc = Doc(nlp.vocab, words=tokens)
        reference = Doc(nlp.vocab, words=tokens)
        reference.ents = biluo_tags_to_spans(reference, iob_to_biluo(tags))
        return Example(doc, reference)

    examples = [example(t, g) for t, g in zip(train, train_tags, strict=True)]
    optimizer = nlp.initialize(lambda: examples)
    started = time.perf_counter()
    while time.perf_counter() - started < minutes * 60:
        for batch in minibatch(examples, size=64):
            nlp.update(batch, sgd=optimizer, drop=0.1)
            if time.perf_counter() - started > minutes * 60:
                break

    def tag() -> Sentences:
        docs = nlp.pipe((Doc(nlp.vocab, words=s) for s in test), batch_size=256)
        return [[f"{t.ent_iob_}-{t.ent_type_}" if t.ent_type_ else "O" for t in d] for d in docs]

    tokens = sum(len(s) for s in test)
    seconds = median_time(tag, runs=3)
    return {
        "f1": 100 * score(gold, tag()).f1,
        "train_minutes": minutes,
        "tag_tokens_per_second": tokens / seconds,
    }


def collection_memory(model: Path, megabytes: int) -> float:
    """Peak resident memory in MB of `elman tag` on one text file of the given size."""
    test = read_corpus(corpus_paths("conll")[2])
    text = "\n".join(" ".join(s.tokens) for s in test.sentences) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "collection.txt"
        with open(document, "w", encoding="utf-8") as handle:
            written = 0
            while written < megabytes * 1_000_000:
                handle.write(text)
                written += len(text)
        command = [sys.executable, "-m", "elman", "-q", "tag", str(model), str(document),
                   "--output", str(Path(folder) / "out.jsonl")]  # fmt: skip
        # A fresh parent process, so that the peak covers `elman tag` alone and not earlier
        # children of this script (torch.compile's worker processes, for one).
        probe = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True
        )
    return int(result.stdout.split()[-1]) / 1024


def _check_competitors() -> None:
    """Exit before any training when spaCy or sklearn-crfsuite is not installed."""
    import importlib.util

    missing = [name for name in ("spacy", "sklearn_crfsuite") if not importlib.util.find_spec(name)]
    if missing:
        raise SystemExit(
            f"missing competitors: {', '.join(missing)}; install them with "
            ".venv/bin/pip install spacy sklearn-crfsuite, or pass --skip-competitors"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fast", "conll"])
    parser.add_argument("--spacy-minutes", type=float, default=11.0)
    parser.add_argument("--skip-competitors", action="store_true")
    parser.add_argument("--memory-mb", type=int, default=50)
    args = parser.parse_args()
    if not args.skip_competitors:
        _check_competitors()

    train_path, dev_path, test_path = corpus_paths("conll")
    train = read_corpus(train_path)
    test = read_corpus(test_path)
    test_tokens = [list(s.tokens) for s in test.sentences]
    gold = [list(s.tags or ()) for s in test.sentences]
    documents = [s.document for s in test.sentences]
    ceiling = gemm_ceiling()
    print("GEMM GFLOP/s", ceiling, flush=True)
    loops = recurrence_loops()
    print("recurrence ms", loops, flush=True)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets:
            output = Path(folder) / preset
            results[f"elman {preset}"] = elman_figures(
                preset, train_path, dev_path, test_tokens, gold, documents, output
            )
            print(preset, json.dumps(results[f"elman {preset}"]), flush=True)
        memory = collection_memory(Path(folder) / args.presets[0], args.memory_mb)
    if not args.skip_competitors:
        train_tokens = [list(s.tokens) for s in train.sentences]
        train_tags = [list(s.tags or ()) for s in train.sentences]
        results["CRF (sklearn-crfsuite)"] = crf_figures(train_tokens, train_tags, test_tokens, gold)
        print("crf", json.dumps(results["CRF (sklearn-crfsuite)"]), flush=True)
        results["spaCy ner"] = spacy_figures(
            train_tokens, train_tags, test_tokens, gold, args.spacy_minutes
        )
        print("spacy", json.dumps(results["spaCy ner"]), flush=True)
    write_results(results, ceiling, loops, memory, args)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def write_results(
    results: dict[str, dict], ceiling: dict, loops: dict[str, float], memory: float, args
) -> None:
    rows = []
    spacy_speed = results.get("spaCy ner", {}).get("tag_tokens_per_second")
    crf_speed = results.get("CRF (sklearn-crfsuite)", {}).get("tag_tokens_per_second")
    for name, figures in results.items():
        speed = figures["tag_tokens_per_second"]
        ratios = " / ".join(
            f"{speed / other:.1f}x" if other else "-" for other in (spacy_speed, crf_speed)
        )
        rows.append(
            f"| {name} | {figures['f1']:.2f} | {figures['train_minutes']:.1f} | {speed:,.0f} | "
            f"{_number(figures.get('onnx_tokens_per_second'), ',.0f')} | "
            f"{_number(figures.get('latency_ms'), '.2f')} | {ratios} |"
        )
    training = [
        f"| {name} | {f['train_tokens_per_second']:,.0f} | "
        f"{f['train_flops_per_token'] / 1e6:.2f} | {f['train_gflops']:.1f} | "
        f"{100 * f['train_gflops'] / ceiling['large']:.1f}% |"
        for name, f in results.items()
        if "train_flops_per_token" in f
    ]
    quantized = [
        f"| {name} | {f['f1']:.2f} | {f['int8_f1']:.2f} | {f['int8_f1'] - f['f1']:+.2f} | "
        f"{f['onnx_tokens_per_second']:,.0f} | {f['int8_tokens_per_second']:,.0f} |"
        for name, f in results.items()
        if "int8_f1" in f
    ]
    body = "\n".join(
        [
            "## Speed",
            "",
            "Written by `benchmarks/speed.py` on the CoNLL-2003 test set (46,435 tokens), from "
            "tokens to tags; medians of several runs after a warm-up. elman tags as `elman tag` "
            "does by default: one batch per core at a time, one PyTorch thread each. A preset "
            "with document-level label consistency (`conll`) gets each sentence's document and "
            "its time includes both steps. The `conll` preset is an ensemble of two networks "
            "(`model.members=2`), which tags with both.",
            "",
            "| tagger | test F1 | training minutes | tokens/s (torch) | tokens/s (onnx) | "
            "latency of a 20-token sentence (ms) | speed vs spaCy / CRF |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Training throughput; FLOPs per token count forward and backward (3x the forward "
            "multiply-adds, times 2) of the recurrence and the projections. The character CNN "
            "runs once per distinct token of a batch and is not counted, so the shares are lower "
            "bounds. An ensemble's throughput is the sum of its members', which train at the "
            "same time, and its FLOPs per token are those of one member:",
            "",
            "| model | training tokens/s | MFLOP per token | GFLOP/s | share of GEMM ceiling |",
            "|---|---|---|---|---|",
            *training,
            "",
            "Dynamic int8 quantization of the ONNX weights (`elman export --quantize`):",
            "",
            "| model | F1 float32 | F1 int8 | change | tokens/s float32 | tokens/s int8 |",
            "|---|---|---|---|---|---|",
            *quantized,
            "",
            "One forward and backward pass of an Elman layer (batch 32, 30 steps, 256 units):",
            "",
            "| implementation | milliseconds |",
            "|---|---|",
            *(f"| {name} | {ms:.2f} |" for name, ms in loops.items()),
            "",
            f"GEMM ceiling: {ceiling['large']:.1f} GFLOP/s for 2048x2048 products, "
            f"{ceiling['step']:.1f} GFLOP/s for 32x256 by 256x256 (one recurrent step).",
            f"Peak memory tagging a {args.memory_mb} MB text file with `elman tag`: "
            f"{memory:.0f} MB.",
            f"spaCy trained for {args.spacy_minutes:g} minutes. Machine: {machine()}.",
        ]
    )
    replace_section("speed", body)
    print(body)


if __name__ == "__main__":
    main()
