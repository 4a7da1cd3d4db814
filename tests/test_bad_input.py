"""Bad input gives a clear message: the command line exits with status 2 and no traceback."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from elman.data.readers import read_corpus
from elman.errors import ModelError
from elman.evaluate.run import evaluate
from elman.store import MODEL_FILES, _sha256, load_model
from elman.tag import documents, formats
from elman.tag.predictor import MAX_SENTENCE_TOKENS, SENTENCES_PER_CHUNK, Tagger, load

ELMAN = [sys.executable, "-m", "elman"]
NO_SENTENCES = (
    "no sentences in the file; it is empty or contains only blank lines and -DOCSTART- lines"
)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ELMAN, "-q", *args], input=stdin, capture_output=True, text=True, timeout=600, check=False
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def tagger(tiny_model: Path) -> Tagger:
    return load(tiny_model)


@pytest.fixture()
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    return target


def _rewrite_manifest(directory: Path) -> None:
    manifest = {name: _sha256(directory / name) for name in MODEL_FILES}
    (directory / "manifest.json").write_text(json.dumps({"sha256": manifest}), encoding="utf-8")


# Labels at test time that training never saw

UNSEEN = "Mara B-PER\nQuist I-PER\nsang O\nat O\nEurovision B-EVENT\n2024 I-EVENT\n. O\n"


def test_unseen_labels_listed_and_scored(tiny_model: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "unseen.conll"
    corpus.write_text(UNSEEN, encoding="utf-8")
    result = run("evaluate", str(tiny_model), str(corpus), "--json")
    assert result.returncode == 0
    assert "tags the model never saw in training, counted as errors: B-EVENT, I-EVENT" in (
        result.stderr
    )
    event = json.loads(result.stdout)["per_type"]["EVENT"]
    assert (event["gold"], event["found"], event["correct"]) == (1, 0, 0)


def test_unseen_labels_in_evaluation(tagger: Tagger, tmp_path: Path) -> None:
    corpus = tmp_path / "unseen.conll"
    corpus.write_text(UNSEEN, encoding="utf-8")
    result = evaluate(tagger, read_corpus(corpus))
    assert result.unseen_tags == ["B-EVENT", "I-EVENT"]
    assert result.scores.per_type["EVENT"].recall == 0.0


# Long sentences and large documents


def test_long_token_list_one_tag_each(tagger: Tagger) -> None:
    tokens = [f"w{index}" for index in range(20_000)]
    assert len(tagger.tag_tokens(tokens)) == 20_000


def test_long_raw_sentence_one_tag_each(tagger: Tagger) -> None:
    tagged = tagger.tag_text(" ".join(["word"] * 20_000))
    assert [len(tags) for tags in tagged.tags] == [20_000]


def test_long_sentence_cut_in_command(tiny_model: Path, tmp_path: Path) -> None:
    document = tmp_path / "long.txt"
    document.write_text(" ".join(["word"] * 20_000), encoding="utf-8")
    result = run("tag", str(tiny_model), str(document), "--format", "conll")
    assert result.returncode == 0
    blocks = result.stdout.strip("\n").split("\n\n")
    assert [len(block.splitlines()) for block in blocks] == [MAX_SENTENCE_TOKENS] * 2


def test_long_document_tagged_in_pieces(
    tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = " ".join(["Mara Quist joined Pellucid Labs in Oslo."] * 2500)
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    expected = formats.to_jsonl(str(path), tagger.tag_text(text))
    sizes: list[int] = []
    original = Tagger._predict

    def predict(self: Tagger, sentences: list[list[str]]) -> object:
        sizes.append(len(sentences))
        return original(self, sentences)

    monkeypatch.setattr(Tagger, "_predict", predict)
    output = "".join(documents.tag_documents(tagger, [path], "jsonl", "text"))
    assert output == expected
    assert sizes == [SENTENCES_PER_CHUNK, SENTENCES_PER_CHUNK, 2500 - 2 * SENTENCES_PER_CHUNK]


@pytest.mark.parametrize("output_format", ["conll", "inline", "pretty", "html"])
def test_long_document_output_unchanged(
    tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output_format: str
) -> None:
    text = " ".join(["Jonas Feld visited Bergen. Tove Aldren left!"] * 700)
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    streamed = "".join(documents.tag_documents(tagger, [path], output_format, "text"))
    monkeypatch.setattr(documents, "STREAMED_CHARACTERS", len(text))  # tag it as a short text
    whole = "".join(documents.tag_documents(tagger, [path], output_format, "text"))
    assert streamed == whole


# Sentences of long hyphenated names, so that 50 MB contains fewer tokens and is tagged faster.
LONG_WORD_SENTENCES = [
    "Mara Quist-Aldrenhaug joined Pellucid-Laboratories-International in Oslo-Bergen.",
    "Jonas Feldenkrais-Nordmann visited Stavanger-Sandnes-Kommune yesterday-afternoon.",
    "The Norwegian-Swedish-Consortium acquired Kongsberg-Maritime-Simulation outright.",
]


def _peak_rss_mb(*args: str) -> float:
    """Run ``elman`` in a fresh interpreter and return the peak RSS of its child in MiB."""
    script = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, *ELMAN, "-q", *args],
        capture_output=True, text=True, env=environment, timeout=3600, check=True,
    )  # fmt: skip
    return int(result.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB only on Linux")
def test_50mb_document_bounded_memory(tiny_model: Path, tmp_path: Path) -> None:
    # Sentences of 1 to 120 words, so that batches come in many shapes.
    generator = random.Random(5)
    words = " ".join(LONG_WORD_SENTENCES).rstrip(".").split()
    pieces, size = [], 0
    while size < 50_000_000:
        sentence = " ".join(generator.choices(words, k=generator.randint(1, 120))) + "."
        pieces.append(sentence)
        size += len(sentence) + 1
    document = tmp_path / "large.txt"
    document.write_text(" ".join(pieces), encoding="utf-8")
    small = tmp_path / "small.txt"
    small.write_text(LONG_WORD_SENTENCES[0], encoding="utf-8")

    baseline = _peak_rss_mb("tag", str(tiny_model), str(small), "--output", str(tmp_path / "a"))
    output = tmp_path / "large.jsonl"
    peak = _peak_rss_mb("tag", str(tiny_model), str(document), "--output", str(output))
    # The text is held twice while it is decoded (bytes and str, 100 MB), then once; tagging in
    # batches of bounded size adds little. Holding every token would take several GB.
    assert peak - baseline < 150
    assert json.loads(output.read_text(encoding="utf-8"))["source"] == str(document)


# Files without sentences, mixed separators, a single column


@pytest.mark.parametrize(
    "text",
    ["", "\n\n  \n\t\n", "-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n"],
    ids=["empty", "blank", "docstart"],
)
def test_train_without_sentences(tmp_path: Path, text: str) -> None:
    corpus = tmp_path / "train.conll"
    corpus.write_text(text, encoding="utf-8")
    result = run("train", "--train", str(corpus), "--output", str(tmp_path / "out"))
    assert_clean_error(result, f"{corpus}: {NO_SENTENCES}")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_evaluate_without_sentences(tiny_model: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "test.conll"
    corpus.write_text("\n\n", encoding="utf-8")
    assert_clean_error(run("evaluate", str(tiny_model), str(corpus)), NO_SENTENCES)


def test_tag_empty_file(tiny_model: Path, tmp_path: Path) -> None:
    document = tmp_path / "empty.txt"
    document.write_bytes(b"")
    result = run("tag", str(tiny_model), str(document))
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"source": str(document), "entities": []}


def test_score_empty_file(tmp_path: Path) -> None:
    scored = tmp_path / "empty.txt"
    scored.write_bytes(b"")
    result = run("score", str(scored), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["tokens"] == 0


def test_mixed_separators(tmp_path: Path) -> None:
    corpus = tmp_path / "mixed.conll"
    corpus.write_text("Oslo\tB-LOC\nis O\nnice\tO\n", encoding="utf-8")
    result = run("train", "--train", str(corpus), "--output", str(tmp_path / "out"))
    assert_clean_error(result, f"{corpus}:2: expected 2 fields, found 1 (as on line 1)")
    assert "separates its columns with spaces, but the file also has tabs" in result.stderr


def test_single_column_to_train(tmp_path: Path) -> None:
    corpus = tmp_path / "tokens.conll"
    corpus.write_text("Oslo\nis\nnice\n\nBergen\n", encoding="utf-8")
    result = run("train", "--train", str(corpus), "--output", str(tmp_path / "out"))
    assert_clean_error(result, f"{corpus}:1: 1 field per line: no label column")


def test_score_mixed_bioes_and_bilou(tmp_path: Path) -> None:
    scored = tmp_path / "scored.txt"
    scored.write_text("Oslo S-LOC S-LOC\nMara U-PER U-PER\n", encoding="utf-8")
    result = run("score", str(scored))
    assert_clean_error(result, "tags mix BIOES (E-, S-) and BILOU (L-, U-) prefixes")


# Damaged model directories and newer formats


def test_missing_weights(model_copy: Path) -> None:
    (model_copy / "model.safetensors").unlink()
    result = run("tag", str(model_copy), stdin="Oslo\n")
    assert_clean_error(result, "model.safetensors: missing from the model directory")


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_damaged_weights(model_copy: Path, damage: str) -> None:
    weights = model_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = run("tag", str(model_copy), stdin="Oslo\n")
    assert_clean_error(result, "model.safetensors: SHA-256 differs from manifest.json")


def test_truncated_weights_with_rewritten_manifest(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _rewrite_manifest(model_copy)
    result = run("tag", str(model_copy), stdin="Oslo\n")
    assert_clean_error(result, "model.safetensors: cannot load the weights")


def test_newer_model_format(model_copy: Path) -> None:
    config = json.loads((model_copy / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = 2
    (model_copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    _rewrite_manifest(model_copy)
    result = run("tag", str(model_copy), stdin="Oslo\n")
    assert_clean_error(
        result, "format_version 2 is newer than this version of elman reads (up to 1)"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", {"format_version": "1"}, "format_version '1' is invalid"),
        ("config.json", {"format_version": 1}, "the 'model' table is missing"),
        ("config.json", [], "expected a JSON object"),
        ("vocab.json", {"words": []}, "invalid vocabularies (KeyError: 'chars')"),
        ("vocab.json", {"words": 3, "chars": [], "tags": [], "lowercase": 1}, "invalid vocab"),
        ("manifest.json", {"sha256": []}, "expected an object of SHA-256 digests"),
    ],
)
def test_malformed_model_json(model_copy: Path, name: str, content: object, message: str) -> None:
    (model_copy / name).write_text(json.dumps(content), encoding="utf-8")
    if name != "manifest.json":
        _rewrite_manifest(model_copy)
    with pytest.raises(ModelError) as raised:
        load_model(model_copy)
    assert message in str(raised.value)


def test_unknown_model_setting(model_copy: Path) -> None:
    config = json.loads((model_copy / "config.json").read_text(encoding="utf-8"))
    config["model"]["attention_heads"] = 4
    (model_copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    _rewrite_manifest(model_copy)
    with pytest.raises(ModelError, match="unexpected keyword argument 'attention_heads'"):
        load_model(model_copy)


def _edit_checkpoint(model_dir: Path, **changes: object) -> None:
    state_path = model_dir / "checkpoints" / "last" / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    state.update(changes)
    state_path.write_text(json.dumps(state), encoding="utf-8")


def test_newer_checkpoint_format(model_copy: Path) -> None:
    _edit_checkpoint(model_copy, checkpoint_version=2)
    result = run("train", "--resume", str(model_copy), "--no-progress", "--no-tensorboard")
    assert_clean_error(result, "checkpoint version 2 is newer than this elman reads (up to 1)")


def test_resume_with_settings_it_would_ignore(model_copy: Path) -> None:
    before = sorted(path.name for path in model_copy.rglob("*"))
    result = run("train", "--resume", str(model_copy), "--set", "model.hidden=300", "--seed", "2")
    assert_clean_error(
        result,
        f"error: --resume {model_copy} continues with the corpora and settings saved in "
        f"{model_copy} and would ignore --set, --seed; drop them, or start a new run with them",
    )
    assert sorted(path.name for path in model_copy.rglob("*")) == before


def test_setting_out_of_range_before_anything_is_written(tmp_path: Path) -> None:
    output = tmp_path / "m"
    result = run(
        "train", "--train", "builtin:train", "--output", str(output), "--set", "train.patience=-1"
    )
    assert_clean_error(result, "error: train.patience=-1: expected 0 or more epochs")
    assert not output.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"checkpoint_version": "1"}, "checkpoint_version '1' is not a whole number"),
        ({"run": None}, "'run' is not an object"),
        ({"optimizer": {}}, "damaged checkpoint (KeyError"),
    ],
)
def test_damaged_checkpoint_state(
    model_copy: Path, changes: dict[str, object], message: str
) -> None:
    from elman.train.launch import launch_training

    _edit_checkpoint(model_copy, **changes)
    with pytest.raises(ModelError) as raised:
        launch_training(
            train_path=None, dev=None, output=None, resume=model_copy, progress=False,
            tensorboard=False,
        )  # fmt: skip
    assert message in str(raised.value)


# Output paths


def test_output_is_a_directory(tiny_model: Path, tmp_path: Path) -> None:
    result = run("tag", str(tiny_model), "--output", str(tmp_path), stdin="Oslo\n")
    assert_clean_error(result, f"error: {tmp_path}: is a directory, expected a file")


def test_output_cannot_be_created(tiny_model: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = run("tag", str(tiny_model), "--output", str(blocker / "out.jsonl"), stdin="Oslo\n")
    assert_clean_error(result, f"error: {blocker}: is a file, expected a directory")


def test_stdin_invalid_utf8(tiny_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("old\n", encoding="utf-8")
    result = subprocess.run(
        [*ELMAN, "-q", "tag", str(tiny_model), "--output", str(output)],
        input=b"Oslo\nOslo \xff Bergen\n", capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 2
    assert stderr.startswith("error: <stdin>:2: invalid UTF-8 at byte 5; convert the file to UTF-8")
    assert output.read_text(encoding="utf-8") == "old\n"
