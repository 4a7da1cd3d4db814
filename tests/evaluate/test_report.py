"""Tests of the conlleval-layout text report and the JSON report.

The expected texts were derived by hand from the rules of conlleval.pl (version 2004-01-26) and
agree with what that script prints for the same input, after the added first line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elman.evaluate.metrics import Scores, TypeScores, read_score_file, score
from elman.evaluate.report import format_conlleval, scores_to_json

PHONE_GOLD = [["O", "B-PHONE", "I-PHONE", "O"]]
PHONE_PRED = [["O", "I-PHONE", "I-PHONE", "O"]]

# A -DOCSTART- line (a token to conlleval.pl), then a sentence whose prediction cuts PER short and
# opens MISC and LOC with I- after O, which breaks IOB2.
BROKEN_FILE = (
    "-DOCSTART- -X- O O\n"
    "\n"
    "Ada NNP B-PER B-PER\n"
    "Lovelace NNP I-PER O\n"
    "wrote VBD O I-MISC\n"
    "notes NNS O I-MISC\n"
    "\n"
    "Paris NNP B-LOC I-LOC\n"
)


def report_of_file(tmp_path: Path, text: str, mode: str) -> str:
    path = tmp_path / "scores.txt"
    path.write_text(text, encoding="utf-8")
    gold, pred, _ = read_score_file(path)
    return format_conlleval(score(gold, pred, "iob2", mode))


def test_phone_report_conlleval() -> None:
    expected = (
        "mode: conlleval, scheme: iob2\n"
        "processed 4 tokens with 1 phrases; found: 1 phrases; correct: 1.\n"
        "accuracy:  75.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n"
        "            PHONE: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
    )
    assert format_conlleval(score(PHONE_GOLD, PHONE_PRED, "iob2", "conlleval")) == expected


def test_phone_report_strict() -> None:
    expected = (
        "mode: strict, scheme: iob2\n"
        "processed 4 tokens with 1 phrases; found: 0 phrases; correct: 0.\n"
        "accuracy:  75.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
        "            PHONE: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
    )
    assert format_conlleval(score(PHONE_GOLD, PHONE_PRED, "iob2", "strict")) == expected


def test_docstart_and_broken_sequence_report(tmp_path: Path) -> None:
    """6 tokens, the -DOCSTART- line among them, and 2 correct tags: -DOCSTART- and Ada.

    Gold chunks: PER Ada Lovelace, LOC Paris. Found: PER Ada, MISC wrote notes, LOC Paris
    (I- after O opens a chunk). Correct: LOC. P = 1/3, R = 1/2, FB1 = 2PR/(P+R) = 40.00.
    """
    expected = (
        "mode: conlleval, scheme: iob2\n"
        "processed 6 tokens with 2 phrases; found: 3 phrases; correct: 1.\n"
        "accuracy:  33.33%; precision:  33.33%; recall:  50.00%; FB1:  40.00\n"
        "              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
        "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    )
    assert report_of_file(tmp_path, BROKEN_FILE, "conlleval") == expected


def test_docstart_and_broken_sequence_strict(tmp_path: Path) -> None:
    """Strict IOB2 drops the I-MISC and I-LOC chunks that open with I-, so only PER Ada is found."""
    expected = (
        "mode: strict, scheme: iob2\n"
        "processed 6 tokens with 2 phrases; found: 1 phrases; correct: 0.\n"
        "accuracy:  33.33%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    )
    assert report_of_file(tmp_path, BROKEN_FILE, "strict") == expected


def test_x_boundary_report(tmp_path: Path) -> None:
    """The -X- line is no token and ends the sentence, so I-PER after it opens a second PER."""
    text = "Ada B-PER B-PER\n-X- B-PER B-PER\nLovelace I-PER I-PER\n"
    expected = (
        "mode: conlleval, scheme: iob2\n"
        "processed 2 tokens with 2 phrases; found: 2 phrases; correct: 2.\n"
        "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  2\n"
    )
    assert report_of_file(tmp_path, text, "conlleval") == expected


def test_no_tokens_no_accuracy_line() -> None:
    expected = (
        "mode: conlleval, scheme: bioes\n"
        "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
    )
    assert format_conlleval(score([], [], "bioes")) == expected


def test_rounding_tie_follows_conlleval() -> None:
    """23/160 = 14.375%: 100*23/160 is exactly 14.375, which %6.2f rounds to 14.38.

    (23/160)*100 is 14.374999..., which would print 14.37.
    """
    per_type = {"X": TypeScores(23 / 160, 23 / 160, 23 / 160, gold=160, found=160, correct=23)}
    scores = Scores(
        precision=23 / 160,
        recall=23 / 160,
        f1=23 / 160,
        accuracy=183 / 320,
        tokens=320,
        correct_tokens=183,
        gold=160,
        found=160,
        correct=23,
        per_type=per_type,
        scheme="iob2",
        mode="conlleval",
    )
    lines = format_conlleval(scores).splitlines()
    assert lines[2] == "accuracy:  57.19%; precision:  14.38%; recall:  14.38%; FB1:  14.38"
    assert lines[3] == "                X: precision:  14.38%; recall:  14.38%; FB1:  14.38  160"


def test_long_type_name_not_cut() -> None:
    scores = score([["B-fromloc.city_name"]], [["B-fromloc.city_name"]])
    line = format_conlleval(scores).splitlines()[3]
    assert line.startswith("fromloc.city_name: precision: 100.00%;")


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_report_first_line_names_mode(mode: str) -> None:
    report = format_conlleval(score(PHONE_GOLD, PHONE_PRED, "iob2", mode))
    assert report.splitlines()[0] == f"mode: {mode}, scheme: iob2"


def test_scores_to_json() -> None:
    result = json.loads(scores_to_json(score([["B-PER", "O", "B-PER"]], [["B-PER", "O", "O"]])))
    assert result["precision"] == 1.0
    assert result["recall"] == 0.5
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["tokens"] == 3
    assert (result["gold"], result["found"], result["correct"]) == (2, 1, 1)
    assert (result["scheme"], result["mode"]) == ("iob2", "conlleval")
    assert result["per_type"]["PER"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "gold": 2,
        "found": 1,
        "correct": 1,
    }
