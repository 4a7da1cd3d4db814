"""The command line through subprocess: outputs, exit codes and messages for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ELMAN = [sys.executable, "-m", "elman"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ELMAN, *args], input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "score", "tag", "presets"):
        assert command in result.stdout


def test_train_help_states_defaults() -> None:
    result = run("train", "--help")
    assert result.returncode == 0
    assert "--set" in result.stdout
    assert "default" in result.stdout.lower()


def test_train_help_shows_table_names() -> None:
    # A wide terminal, so that the help text is not wrapped inside the names.
    environment = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run(
        [*ELMAN, "train", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment,
    )
    assert result.returncode == 0
    assert "[model] and [train] tables" in result.stdout


def test_malformed_corpus_exits_2_with_location(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.conll"
    corpus.write_text("Harbor I-ORG\nWorkers'I-ORG\nGuild I-ORG\n", encoding="utf-8")
    result = run("train", "--train", str(corpus), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{corpus}:2:" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_exits_2(tiny_corpus: Path, tmp_path: Path) -> None:
    result = run(
        "train", "--train", str(tiny_corpus), "--output", str(tmp_path / "o"), "--set", "hiden=3"
    )
    assert result.returncode == 2
    assert "unknown setting 'hiden'" in result.stderr


def test_missing_model_exits_2(tmp_path: Path) -> None:
    result = run("tag", str(tmp_path / "nope"), stdin="Oslo\n")
    assert result.returncode == 2
    assert "model directory not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_tag_threads_give_same_output(tiny_model: Path, tmp_path: Path) -> None:
    # One document of 600 sentences: more than one batch, so two threads share the work.
    source = tmp_path / "long.txt"
    source.write_text(
        "".join(f"Mara Quist joined Pellucid Labs in Bergen {n} .\n" for n in range(600)),
        encoding="utf-8",
    )
    one_thread = run("-q", "tag", str(tiny_model), str(source), "--threads", "1")
    two_threads = run("-q", "tag", str(tiny_model), str(source), "--threads", "2")
    assert one_thread.returncode == 0
    assert two_threads.returncode == 0
    assert one_thread.stdout == two_threads.stdout


def test_tag_stdin_writes_json_lines(tiny_model: Path) -> None:
    text = "Mara Quist joined Pellucid Labs.\nJonas Feld visited Bergen.\n"
    result = run("-q", "tag", str(tiny_model), stdin=text)
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == ["<stdin>:1", "<stdin>:2"]
    lines = text.splitlines()
    for record, line in zip(records, lines, strict=True):
        for entity in record["entities"]:
            assert line[entity["start"] : entity["end"]] == entity["text"]


def test_tag_tokens_input_conll_output(tiny_model: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("Mara\nQuist\nleft\n\nOslo\n", encoding="utf-8")
    result = run(
        "-q", "tag", str(tiny_model), str(tokens), "--input-format", "tokens", "--format", "conll"
    )
    assert result.returncode == 0
    blocks = [b.splitlines() for b in result.stdout.strip().split("\n\n")]
    assert [len(b) for b in blocks] == [3, 1]
    assert [line.split()[0] for line in blocks[0]] == ["Mara", "Quist", "left"]


def test_tag_tokens_jsonl_confidence_nbest(tiny_model: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("Jonas\nFeld\nvisited\nBergen\n.\n\nOslo\n", encoding="utf-8")
    result = run(
        "-q", "tag", str(tiny_model), str(tokens), "--input-format", "tokens", "--nbest", "2"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]

    from elman.tag.predictor import load

    as_text = load(tiny_model).tag_text("Jonas Feld visited Bergen .").entities
    assert as_text, "the tiny model finds no entity to compare"
    assert [(e["text"], e["label"]) for e in records[0]["entities"]] == [
        (e.text, e.label) for e in as_text
    ]
    assert [e["confidence"] for e in records[0]["entities"]] == [
        pytest.approx(e.confidence, abs=1e-4) for e in as_text
    ]
    for record in records:
        assert 1 <= len(record["nbest"]) <= 2
        assert record["nbest"][0]["tags"] == record["tags"]


def test_tag_output_file_is_written(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "doc.txt"
    source.write_text("Jonas Feld visited Bergen.", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    result = run("-q", "tag", str(tiny_model), str(source), "--output", str(output))
    assert result.returncode == 0
    record = json.loads(output.read_text(encoding="utf-8"))
    assert record["source"] == str(source)


def test_tag_rejects_invalid_utf8(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "latin1.txt"
    source.write_bytes("Zürich\nBergen".encode("latin-1"))
    result = run("-q", "tag", str(tiny_model), str(source))
    assert result.returncode == 2
    assert f"{source}:1: invalid UTF-8" in result.stderr


def test_score_matches_hand_counts(tmp_path: Path) -> None:
    scored = tmp_path / "scored.txt"
    scored.write_text("Call O O\n555 B-PHONE I-PHONE\n0199 I-PHONE I-PHONE\nnow O O\n")
    result = run("score", str(scored), "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["f1"] == pytest.approx(1.0)
    assert report["accuracy"] == pytest.approx(0.75)
    strict = json.loads(run("score", str(scored), "--json", "--mode", "strict").stdout)
    assert strict["f1"] == 0.0
    assert strict["mode"] == "strict"


def test_score_text_report_names_mode(tmp_path: Path) -> None:
    scored = tmp_path / "scored.txt"
    scored.write_text("Oslo B-LOC B-LOC\nis O O\n")
    result = run("score", str(scored))
    assert result.returncode == 0
    assert result.stdout.startswith("mode: conlleval, scheme: iob2")
    assert "FB1: 100.00" in result.stdout


def test_evaluate_writes_predictions(tiny_model: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "pred.txt"
    result = run(
        "evaluate", str(tiny_model), str(tiny_corpus), "--json", "--predictions", str(predictions)
    )
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["tokens"] == 23
    assert set(report) >= {"precision", "recall", "f1", "accuracy", "tokens", "per_type"}
    lines = [line for line in predictions.read_text().splitlines() if line]
    assert len(lines) == 23
    assert all(len(line.split(" ")) == 3 for line in lines)


def test_presets_lists_demo() -> None:
    result = run("presets")
    assert result.returncode == 0
    assert "demo" in result.stdout


@pytest.mark.parametrize(
    ("checkpoint", "expected"),
    [
        (False, "interrupted before the first checkpoint in {out}; run the same command again"),
        (
            True,
            "interrupted; resume from the last completed epoch with: elman train --resume {out}",
        ),
    ],
)
def test_train_interrupted_outside_epochs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoint: bool, expected: str
) -> None:
    from typer.testing import CliRunner

    from elman import cli
    from elman.train import launch

    output = tmp_path / "out"
    if checkpoint:
        (output / "checkpoints" / "last").mkdir(parents=True)
        (output / "checkpoints" / "last" / "state.json").write_text("{}", encoding="utf-8")

    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C while the corpora are read

    monkeypatch.setattr(launch, "launch_training", interrupted)
    result = CliRunner().invoke(cli.app, ["train", "--train", "x.conll", "--output", str(output)])

    assert result.exit_code == 2
    assert f"error: {expected.format(out=output)}" in result.output
    assert "Aborted" not in result.output


def test_tag_onnx_file_with_torch_backend_rejected(tiny_model: Path, tmp_path: Path) -> None:
    result = run("tag", str(tiny_model), "--onnx", str(tmp_path / "m.onnx"), "--backend", "torch")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --onnx {tmp_path / 'm.onnx'} is read by the onnx backend; drop --backend torch\n"
    )


def test_tag_into_closed_pipe_ends_quietly(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "many.txt"
    source.write_text("Jonas Feld visited Bergen.\n" * 20000, encoding="utf-8")
    script = f'"{sys.executable}" -m elman -q tag "{tiny_model}" < "{source}" | head -1'
    result = subprocess.run(
        ["bash", "-c", script + "; echo status=${PIPESTATUS[0]}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["source"] == "<stdin>:1"
    assert lines[1] == "status=141"
    assert result.stderr == ""
