"""Train on the shipped corpus with the demo preset, then tag and evaluate: the `make demo` path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from elman.data.readers import read_corpus
from elman.evaluate.run import evaluate
from elman.tag.predictor import Tagger, load

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "elman" / "resources" / "sample.txt"


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("demo") / "model"
    command = [
        sys.executable, "-m", "elman", "-q", "train", "--train", "builtin:train",
        "--dev", "builtin:dev", "--test", "builtin:test", "--output", str(output),
        "--preset", "demo", "--no-progress",
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=600)
    return output


@pytest.fixture(scope="module")
def demo_tagger(demo_model: Path) -> Tagger:
    return load(demo_model)


def test_dev_f1_floor(demo_model: Path) -> None:
    scores = json.loads((demo_model / "scores.json").read_text())
    # The demo preset reaches about 83 dev F1 on this corpus; 70 leaves room for seed noise.
    assert scores["dev"]["f1"] >= 0.70
    assert scores["test"]["f1"] >= 0.70


def test_data_blogger_is_a_person(demo_tagger: Tagger) -> None:
    text = "Hi, I am Data Blogger. How are you?"
    entities = [(e.text, e.label, e.start, e.end) for e in demo_tagger(text)]
    assert ("Data Blogger", "PER", 9, 21) in entities


def test_evaluate_matches_saved_scores(demo_model: Path, demo_tagger: Tagger) -> None:
    result = evaluate(demo_tagger, read_corpus("builtin:dev"))
    saved = json.loads((demo_model / "scores.json").read_text())["dev"]
    assert result.scores.f1 == pytest.approx(saved["f1"])
    assert result.scores.tokens == saved["tokens"]


def test_demo_listing_shows_offsets(demo_model: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "elman", "-q", "tag", str(demo_model), "--format", "pretty",
         str(SAMPLE)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    text = SAMPLE.read_text(encoding="utf-8")
    lines = result.stdout.splitlines()[1:]
    assert lines
    for line in lines:
        label, offsets, rest = line.split(maxsplit=2)
        start, end = (int(part) for part in offsets.split("-"))
        assert rest.startswith(text[start:end])
        assert label in {"PER", "ORG", "LOC", "MISC"}
