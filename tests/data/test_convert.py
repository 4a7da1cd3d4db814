from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from elman.data import scheme as schemes
from elman.data.convert import convert, output_format, write_corpus
from elman.data.readers import read_corpus
from elman.data.sentence import Corpus, Sentence
from elman.data.writers import conll_lines, parallel_files, write_conll, write_parallel
from elman.errors import ConfigError, DataError

HAS_SPACY = importlib.util.find_spec("spacy") is not None
NO_SPACY = "spaCy is not installed: pip install 'elman[spacy]' to test DocBin files"

# The file name of a corpus in each format; the parallel format is a folder.
FILES = {"conll": "corpus.conll", "parallel": "corpus", "jsonl": "corpus.jsonl", "spacy": "c.spacy"}
PAIRS = [(source, target) for source in FILES for target in FILES if source != target]
REAL_CORPORA = {"conll2003-dev": "conll2003/dev.txt", "atis-test": "atis/test"}
# Formats that keep what a CoNLL file or a parallel folder cannot hold.
KEEP_DOCUMENTS = {"conll", "jsonl", "spacy"}
KEEP_INTENTS = {"parallel", "jsonl", "spacy"}


def entities(corpus: Corpus) -> set[tuple[int, int, int, str]]:
    """The entities as (sentence index, first token, end token, type)."""
    return {
        (index, start, end, label)
        for index, sentence in enumerate(corpus.sentences)
        for start, end, label in schemes.to_spans(sentence.tags or ())
    }


def tokens(corpus: Corpus) -> list[tuple[str, ...]]:
    return [sentence.tokens for sentence in corpus.sentences]


def needs_spacy(*formats: str) -> None:
    if "spacy" in formats and not HAS_SPACY:
        pytest.skip(NO_SPACY)


# Round trips on the real corpora


@pytest.fixture(scope="module", params=sorted(REAL_CORPORA))
def written(
    request: pytest.FixtureRequest, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Corpus, dict[str, Path]]:
    """A real corpus and the paths where it was written in each format."""
    original = read_corpus(shared_data / REAL_CORPORA[request.param])
    folder = tmp_path_factory.mktemp(request.param)
    paths = {}
    for format, name in FILES.items():
        if format == "spacy" and not HAS_SPACY:
            continue
        write_corpus(original, folder / name, format)
        paths[format] = folder / name
    return original, paths


@pytest.mark.parametrize("format", sorted(FILES))
def test_written_corpus_reads_back(written: tuple[Corpus, dict[str, Path]], format: str) -> None:
    needs_spacy(format)
    original, paths = written
    back = read_corpus(paths[format])
    assert tokens(back) == tokens(original)
    assert entities(back) == entities(original)


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_round_trip(
    written: tuple[Corpus, dict[str, Path]], source: str, target: str, tmp_path: Path
) -> None:
    needs_spacy(source, target)
    original, paths = written
    output = tmp_path / FILES[target]
    convert(paths[source], output, from_format=source, to_format=target)
    back = read_corpus(output, target)
    assert tokens(back) == tokens(original)
    assert entities(back) == entities(original)
    if {source, target} <= KEEP_DOCUMENTS:
        assert [s.document for s in back.sentences] == [s.document for s in original.sentences]
    if {source, target} <= KEEP_INTENTS:
        assert [s.intent for s in back.sentences] == [s.intent for s in original.sentences]


def test_conll_spans_conll_keeps_tags(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "conll2003" / "dev.txt"
    original = read_corpus(source)
    convert(source, tmp_path / "dev.jsonl")
    convert(tmp_path / "dev.jsonl", tmp_path / "dev.conll", to_scheme="iob1")
    back = read_corpus(tmp_path / "dev.conll", scheme="iob1")
    assert [s.tags for s in back.sentences] == [s.tags for s in original.sentences]
    assert back.documents == original.documents


def test_conll_iob1_written_as_read(shared_data: Path, tmp_path: Path) -> None:
    # CoNLL-2003 dev breaks no IOB1 rule, so its tag column comes back unchanged.
    source = shared_data / "conll2003" / "dev.txt"
    assert read_corpus(source).violations == 0
    convert(source, tmp_path / "dev.conll")
    original = [line.split()[-1] for line in source.read_text().splitlines() if line.strip()]
    lines = (tmp_path / "dev.conll").read_text().splitlines()
    written = [line.split()[-1] for line in lines if line.strip()]
    assert written == original


# Output format and options


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("out.jsonl", "jsonl"),
        ("out.JSONL", "jsonl"),
        ("out.spacy", "spacy"),
        ("out/", "parallel"),
        ("out.conll", "conll"),
        ("out.txt", "conll"),
        ("out", "conll"),
    ],
)
def test_output_format_from_name(name: str, format: str) -> None:
    assert output_format(name) == format


def test_existing_folder_is_parallel(tmp_path: Path) -> None:
    assert output_format(tmp_path) == "parallel"


def test_unknown_output_format(tmp_path: Path) -> None:
    corpus = Corpus([Sentence(("a",), ("O",))], "memory")
    with pytest.raises(ConfigError) as error:
        write_corpus(corpus, tmp_path / "x", "csv")
    assert (
        str(error.value)
        == "unknown output format 'csv'; choose one of conll, jsonl, parallel, spacy"
    )


def test_unknown_input_format(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        convert(tiny_corpus, tmp_path / "x.conll", from_format="csv")
    assert "unknown input format 'csv'" in str(error.value)


def test_scheme_ignored_for_spans(
    tiny_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        convert(tiny_corpus, tmp_path / "x.jsonl", to_scheme="bioes")
    assert "ignoring the tag scheme bioes: jsonl files store spans, not tags" in caplog.text


def test_misaligned_setting_ignored_for_conll(
    tiny_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        convert(tiny_corpus, tmp_path / "x.jsonl", on_misaligned="skip")
    assert "ignoring on_misaligned='skip': conll input has no character spans" in caplog.text


def test_convert_passes_misaligned_setting(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "Mara left", "entities": [[1, 4, "PER"]]}) + "\n")
    convert(source, tmp_path / "out.conll", on_misaligned="expand")
    assert (tmp_path / "out.conll").read_text() == "Mara B-PER\nleft O\n\n"


def test_convert_to_bioes(tiny_corpus: Path, tmp_path: Path) -> None:
    convert(tiny_corpus, tmp_path / "out.conll", to_scheme="bioes")
    first = (tmp_path / "out.conll").read_text().split("\n\n")[0]
    assert first.split("\n") == [
        "Mara B-PER",
        "Quist E-PER",
        "joined O",
        "Pellucid B-ORG",
        "Labs E-ORG",
        "in O",
        "Oslo S-LOC",
        ". O",
    ]


def test_convert_builtin_name(tmp_path: Path) -> None:
    done = convert("builtin:dev", tmp_path / "dev.jsonl")
    assert done.source_format == "conll"
    assert len(read_corpus(tmp_path / "dev.jsonl")) == len(done.corpus)


# CoNLL writer


def test_conll_document_starts() -> None:
    corpus = Corpus(
        [Sentence(("a",), ("O",), 0), Sentence(("b",), ("B-X",), 0), Sentence(("c",), ("O",), 1)],
        "memory",
    )
    assert "".join(conll_lines(corpus)) == (
        "-DOCSTART- O\n\na O\n\nb B-X\n\n-DOCSTART- O\n\nc O\n\n"
    )


def test_conll_single_document_has_no_docstart() -> None:
    corpus = Corpus([Sentence(("a",), ("O",)), Sentence(("b",), ("O",))], "memory")
    assert "".join(conll_lines(corpus)) == "a O\n\nb O\n\n"


def test_conll_unlabelled_one_column() -> None:
    corpus = Corpus([Sentence(("a", "b"))], "memory")
    assert "".join(conll_lines(corpus)) == "a\nb\n\n"


def test_conll_token_with_space_uses_tabs() -> None:
    corpus = Corpus([Sentence(("New York", "is"), ("B-LOC", "O"))], "memory")
    assert "".join(conll_lines(corpus)) == "New York\tB-LOC\nis\tO\n\n"


def test_conll_token_with_space_and_space_separator() -> None:
    corpus = Corpus([Sentence(("New York",), ("B-LOC",), line=4)], "memory")
    with pytest.raises(DataError) as error:
        "".join(conll_lines(corpus, sep="space"))
    assert str(error.value) == (
        "token 'New York' in the sentence 'New York' (input line 4) is empty or contains a "
        "character that separates columns in space-separated files; replace it (for example "
        "with '_'), or write with sep='tab' (--sep tab)"
    )


def test_conll_docstart_token_rejected() -> None:
    corpus = Corpus([Sentence(("-DOCSTART-",), ("O",))], "memory")
    with pytest.raises(DataError) as error:
        "".join(conll_lines(corpus))
    assert "would be read back as a document start" in str(error.value)


def test_conll_mixed_labels_rejected() -> None:
    corpus = Corpus([Sentence(("a",), ("O",)), Sentence(("b",), line=3)], "memory")
    with pytest.raises(DataError) as error:
        "".join(conll_lines(corpus))
    assert "the sentence 'b' (input line 3) has no tags" in str(error.value)


def test_conll_intents_dropped_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = Corpus([Sentence(("hi",), ("O",), intent="greet")], "memory")
    with caplog.at_level(logging.WARNING):
        write_conll(corpus, tmp_path / "out.conll")
    assert "CoNLL files have no place for intents: 1 intents are dropped" in caplog.text


# Parallel writer


def test_parallel_files() -> None:
    corpus = Corpus(
        [Sentence(("fly", "to", "oslo"), ("O", "O", "B-city"), intent="flight")], "memory"
    )
    assert parallel_files(corpus) == {
        "seq.in": "fly to oslo\n",
        "seq.out": "O O B-city\n",
        "label": "flight\n",
    }


def test_parallel_some_intents_missing() -> None:
    corpus = Corpus([Sentence(("a",), ("O",), intent="x"), Sentence(("b",), ("O",))], "memory")
    with pytest.raises(DataError) as error:
        parallel_files(corpus)
    assert "1 sentences have an intent but 1 do not" in str(error.value)


def test_parallel_needs_tags() -> None:
    corpus = Corpus([Sentence(("a",))], "memory")
    with pytest.raises(DataError) as error:
        parallel_files(corpus)
    assert "has no tags, but this format needs tags on every sentence" in str(error.value)


def test_parallel_removes_stale_label(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "label").write_text("old\nintents\n")
    write_parallel(Corpus([Sentence(("a",), ("O",))], "memory"), folder)
    assert sorted(path.name for path in folder.iterdir()) == ["seq.in", "seq.out"]


def test_parallel_target_is_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError) as error:
        write_parallel(Corpus([Sentence(("a",), ("O",))], "memory"), target)
    assert "exists and is not a directory" in str(error.value)


# Command line


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "elman", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_cli_convert(tiny_corpus: Path, tmp_path: Path) -> None:
    result = run("convert", str(tiny_corpus), str(tmp_path / "tiny.jsonl"))
    assert result.returncode == 0
    assert result.stdout == (
        f"wrote 4 sentences with 8 entities from conll to {tmp_path / 'tiny.jsonl'} (jsonl)\n"
    )
    first = json.loads((tmp_path / "tiny.jsonl").read_text().splitlines()[0])
    assert first["text"] == "Mara Quist joined Pellucid Labs in Oslo ."


def test_cli_misaligned_error_and_skip(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "Mara left", "entities": [[1, 4, "PER"]]}) + "\n")
    failed = run("convert", str(source), str(tmp_path / "out.conll"))
    skipped = run("convert", str(source), str(tmp_path / "out.conll"), "--on-misaligned", "skip")
    assert failed.returncode == 2
    assert f"error: {source}:1: document 1: entity [1, 4) 'PER'" in failed.stderr
    assert skipped.returncode == 0
    assert (tmp_path / "out.conll").read_text() == "Mara O\nleft O\n\n"
