"""Tagging folders of documents on a Dask cluster: planning, output, equivalence and resume."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask.bag
import psutil
import pytest
from dask.distributed import Client, LocalCluster

from elman.data.readers import read_corpus
from elman.distributed.collection import (
    PLAN_FILE,
    SUCCESS_FILE,
    plan_collection,
    read_slice,
    tag_bag,
    tag_collection,
)
from elman.errors import ConfigError, DataError
from elman.tag.predictor import TaggedText, load

ELMAN = [sys.executable, "-m", "elman"]
TXT_DOCUMENTS = 400
JSONL_FILES = 4
JSONL_DOCUMENTS = 400  # per file
DOCUMENTS = TXT_DOCUMENTS + JSONL_FILES * JSONL_DOCUMENTS


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained for two epochs on 400 sentences of the shipped corpus: seconds, not F1."""
    root = tmp_path_factory.mktemp("collection-model")
    corpus = read_corpus("builtin:train")
    lines = [
        "".join(f"{token} {tag}\n" for token, tag in zip(s.tokens, s.tags or (), strict=True))
        for s in corpus.sentences[:400]
    ]
    train = root / "train.conll"
    train.write_text("\n".join(lines), encoding="utf-8")
    output = root / "model"
    command = [
        *ELMAN, "-q", "train", "--train", str(train), "--output", str(output),
        "--set", "train.epochs=2", "--set", "model.hidden=32",
        # A larger learning rate and smaller batches than the defaults, so that two epochs are
        # enough for the model to find entities and the output has some to compare.
        "--set", "train.batch_size=8", "--set", "train.lr=0.01",
        "--no-progress", "--no-tensorboard",
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=300)
    return output


def _sentences() -> list[str]:
    """All sentences of the shipped corpus, detokenized by joining the tokens with spaces."""
    return [
        " ".join(sentence.tokens)
        for split in ("train", "dev", "test")
        for sentence in read_corpus(f"builtin:{split}").sentences
    ]


def _write_collection(root: Path) -> list[tuple[str, str, str | None]]:
    """Write 400 .txt files in 5 folders and 4 .jsonl files of 400 lines each.

    Returns (source, text, id) of every document in the order the plan visits them.
    """
    sentences = _sentences()

    def document(number: int) -> str:
        # Two sentences each, paired differently, so that documents are not all distinct lines.
        first = sentences[number % len(sentences)]
        return f"{first} {sentences[(7 * number + 3) % len(sentences)]}"

    expected: list[tuple[str, str, str | None]] = []
    number = 0
    for index in range(TXT_DOCUMENTS):
        relative = f"folder{index % 5}/doc{index:04d}.txt"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document(number), encoding="utf-8")
        expected.append((relative, document(number), None))
        number += 1
    for index in range(JSONL_FILES):
        relative = f"batch{index}.jsonl"
        lines = []
        for line in range(JSONL_DOCUMENTS):
            identifier = f"b{index}-{line}"
            lines.append(json.dumps({"id": identifier, "text": document(number)}) + "\n")
            expected.append((f"{relative}:{line + 1}", document(number), identifier))
            number += 1
        (root / relative).write_text("".join(lines), encoding="utf-8")
    # The plan sorts by relative path: batch*.jsonl come before folder*/.
    expected.sort(key=lambda item: (item[0].split(":")[0], int(item[0].partition(":")[2] or 0)))
    return expected


def _read_output(output: Path) -> list[dict[str, object]]:
    records = []
    for part in sorted(output.glob("part-*.jsonl")):
        with part.open(encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle)
    return records


def _assert_same_entities(record: dict[str, object], reference: TaggedText) -> None:
    """Compare one output record with single-process tagging of the same text.

    Confidences may differ in the last digits, because the matrix products of a batch depend on
    its size, so they are compared to 1e-3 after the output's rounding to 4 decimals.
    """
    entities = record["entities"]
    assert isinstance(entities, list)
    expected = [entity.to_dict() for entity in reference.entities]
    spans = [(e["text"], e["label"], e["start"], e["end"]) for e in entities]
    assert spans == [(e["text"], e["label"], e["start"], e["end"]) for e in expected]
    for found, wanted in zip(entities, expected, strict=True):
        assert found["confidence"] == pytest.approx(wanted["confidence"], abs=1e-3)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("collection")
    return root, _write_collection(root)


@pytest.fixture(scope="module")
def reference(small_model: Path, collection: tuple[Path, list]) -> list[TaggedText]:
    """Single-process tagging of every document, in plan order."""
    _, expected = collection
    return load(small_model).tag_texts([text for _, text, _ in expected])


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def test_two_workers_match_single_process(
    small_model: Path,
    collection: tuple[Path, list],
    reference: list[TaggedText],
    client: Client,
    tmp_path: Path,
) -> None:
    root, expected = collection
    assert len(expected) >= 2000
    output = tmp_path / "out"
    summary = tag_collection(root, output, small_model, client=client, progress=False)

    assert summary.documents == DOCUMENTS
    assert summary.written == summary.partitions == 8
    assert (output / SUCCESS_FILE).exists()
    records = _read_output(output)
    assert [r["source"] for r in records] == [source for source, _, _ in expected]
    assert [r.get("id") for r in records] == [identifier for _, _, identifier in expected]
    for record, tagged in zip(records, reference, strict=True):
        _assert_same_entities(record, tagged)
    assert sum(len(tagged.entities) for tagged in reference) > 100


def test_tag_bag_matches_tag_texts(small_model: Path, client: Client) -> None:
    texts = _sentences()[:300]
    bag = dask.bag.from_sequence(texts, npartitions=4)
    result = tag_bag(bag, small_model).compute()
    expected = load(small_model).tag_texts(texts)
    assert len(result) == len(texts)
    for tagged, wanted in zip(result, expected, strict=True):
        assert [e.text for e in tagged.entities] == [e.text for e in wanted.entities]
        assert tagged.tags == wanted.tags


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and then the worker processes it started, as a crash would."""
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)


def test_resume_after_kill_tags_each_document_once(
    small_model: Path,
    collection: tuple[Path, list],
    reference: list[TaggedText],
    tmp_path: Path,
) -> None:
    root, expected = collection
    output = tmp_path / "out"
    command = [
        *ELMAN, "tag", str(small_model), "--input-dir", str(root), "--output-dir", str(output),
        "--workers", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(output.glob("part-*.jsonl")):
        assert process.poll() is None, "elman tag exited before writing a partition"
        assert time.monotonic() < deadline, "no partition written within 120 s"
        time.sleep(0.02)
    _kill_tree(process)
    finished = len(list(output.glob("part-*.jsonl")))
    assert 0 < finished < 8
    assert not (output / SUCCESS_FILE).exists()

    resumed = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, timeout=300, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{8 - finished} to tag, {finished} already written" in resumed.stderr
    records = _read_output(output)
    sources = [record["source"] for record in records]
    assert sorted(sources) == sorted(source for source, _, _ in expected)
    assert len(set(sources)) == len(sources)
    assert sources == [source for source, _, _ in expected]
    for record, tagged in zip(records, reference, strict=True):
        _assert_same_entities(record, tagged)
    assert not list(output.glob(".part-*.tmp"))


def test_plan_splits_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("Second file.", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(
        '{"text": "one"}\n\n{"text": "two", "id": 7}\n{"text": "three"}\n', encoding="utf-8"
    )
    (tmp_path / "notes.md").write_text("not a document", encoding="utf-8")
    plan = plan_collection(tmp_path, documents_per_partition=2)

    assert plan.documents == 4
    assert [p.documents for p in plan.partitions] == [2, 2]
    first = read_slice(tmp_path, plan.partitions[0].slices[0])
    assert [(d.source, d.text, d.extra) for d in first] == [
        ("a.jsonl:1", "one", {}),
        ("a.jsonl:3", "two", {"id": 7}),
    ]
    second = [d for piece in plan.partitions[1].slices for d in read_slice(tmp_path, piece)]
    assert [d.source for d in second] == ["a.jsonl:4", "b.txt"]


def test_plan_is_deterministic(tmp_path: Path) -> None:
    for index in range(7):
        (tmp_path / f"{index}.txt").write_text(f"Text {index}.", encoding="utf-8")
    first = plan_collection(tmp_path, documents_per_partition=3)
    second = plan_collection(tmp_path, documents_per_partition=3)
    assert first == second
    assert [p.documents for p in first.partitions] == [3, 3, 1]


def test_plan_fingerprint_follows_input(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Oslo.", encoding="utf-8")
    before = plan_collection(tmp_path).fingerprint
    (tmp_path / "a.txt").write_text("Bergen.", encoding="utf-8")
    assert plan_collection(tmp_path).fingerprint != before


def test_invalid_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "fine"}\n{"txt": "typo"}\n', encoding="utf-8")
    plan = plan_collection(tmp_path)
    with pytest.raises(DataError, match=r'a\.jsonl:2: .* found an object without "text"'):
        read_slice(tmp_path, plan.partitions[0].slices[0])


def test_empty_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \*\.txt or \*\.jsonl files"):
        plan_collection(tmp_path)


def test_existing_output_needs_resume(small_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.txt").write_text("Oslo.", encoding="utf-8")
    output = tmp_path / "out"
    output.mkdir()
    (output / PLAN_FILE).write_text('{"fingerprint": "0"}', encoding="utf-8")
    (output / "part-00000.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="pass --resume"):
        tag_collection(source, output, small_model, progress=False)


def test_resume_rejects_changed_input(small_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.txt").write_text("Oslo.", encoding="utf-8")
    output = tmp_path / "out"
    output.mkdir()
    (output / PLAN_FILE).write_text('{"fingerprint": "0"}', encoding="utf-8")
    (output / "part-00000.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="another input, model or partition size"):
        tag_collection(source, output, small_model, resume=True, progress=False)


def test_cli_rejects_files_with_input_dir(small_model: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [*ELMAN, "tag", str(small_model), "x.txt", "--input-dir", str(tmp_path),
         "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--input-dir replaces the FILES arguments" in result.stderr
