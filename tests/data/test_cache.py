from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from elman.data import cache
from elman.data.cache import default_cache_dir, load_cached
from elman.data.conll import ConllReader
from elman.data.readers import read_corpus
from elman.data.sentence import Corpus, Sentence
from elman.errors import DataError

TEXT = (
    "-DOCSTART- -X- O\n\nLena NNP I-PER\nmet VBD O\nAnna NNP I-PER\n\n"
    "-DOCSTART- -X- O\n\nNew NNP I-LOC\nYork NNP I-LOC\n\nbad line NN\n\n"
)


@pytest.fixture()
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.conll"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.npz"))


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every path that ConllReader parses."""
    parsed: list[Path] = []
    original = ConllReader.parse

    def parse(self: ConllReader, path: Path) -> object:
        parsed.append(path)
        return original(self, path)

    monkeypatch.setattr(ConllReader, "parse", parse)
    return parsed


def test_miss_then_hit(corpus_file: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = count_parses(monkeypatch)
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert parsed == [corpus_file]
    assert len(entries(cache_dir)) == 1


def test_round_trip_identical(corpus_file: Path, cache_dir: Path) -> None:
    parsed = read_corpus(corpus_file, strict=False)
    first = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    loaded = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert first == parsed
    assert loaded == parsed
    assert loaded.skipped_lines == [12]
    assert loaded.documents == 2
    assert loaded.scheme == "iob1"
    assert loaded.violations == 0
    assert loaded.sentences[1].tags == ("B-LOC", "I-LOC")
    assert [s.document for s in loaded.sentences] == [0, 1]
    assert [s.line for s in loaded.sentences] == [3, 9]


def test_round_trip_parallel_intents(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "atis"
    folder.mkdir()
    (folder / "seq.in").write_text("fly to oslo\nhi\n", encoding="utf-8")
    (folder / "seq.out").write_text("O O B-city\nO\n", encoding="utf-8")
    (folder / "label").write_text("atis_flight\ngreet\n", encoding="utf-8")
    load_cached(folder, "auto", {}, cache_dir=cache_dir)
    loaded = load_cached(folder, "auto", {}, cache_dir=cache_dir)
    assert loaded == read_corpus(folder)
    assert [s.intent for s in loaded.sentences] == ["atis_flight", "greet"]


def test_round_trip_unlabelled(corpus_file: Path, cache_dir: Path) -> None:
    corpus_file.write_text("Lena\nmet\n\nAnna\n", encoding="utf-8")
    load_cached(corpus_file, "conll", {"labelled": False}, cache_dir=cache_dir)
    loaded = load_cached(corpus_file, "conll", {"labelled": False}, cache_dir=cache_dir)
    assert [s.tags for s in loaded.sentences] == [None, None]
    assert [s.tokens for s in loaded.sentences] == [("Lena", "met"), ("Anna",)]


def test_round_trip_violations(corpus_file: Path, cache_dir: Path) -> None:
    corpus_file.write_text("Oslo O\nand O\nBergen I-LOC\n", encoding="utf-8")
    load_cached(corpus_file, "auto", {"scheme": "iob2"}, cache_dir=cache_dir)
    loaded = load_cached(corpus_file, "auto", {"scheme": "iob2"}, cache_dir=cache_dir)
    assert loaded.violations == 1
    assert loaded.sentences[0].tags == ("O", "O", "B-LOC")


def test_hit_repeats_warnings(
    corpus_file: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert "skipped 1 sentence(s)" in caplog.text


def test_rebuilt_when_content_changes(corpus_file: Path, cache_dir: Path) -> None:
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    corpus_file.write_text("Oslo B-LOC\n", encoding="utf-8")
    loaded = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert loaded.sentences[0].tokens == ("Oslo",)
    assert len(entries(cache_dir)) == 2


def test_rebuilt_when_settings_change(corpus_file: Path, cache_dir: Path) -> None:
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    loaded = load_cached(
        corpus_file, "auto", {"strict": False, "labelled": False}, cache_dir=cache_dir
    )
    assert loaded.sentences[0].tags is None
    assert len(entries(cache_dir)) == 2


def test_parallel_rebuilt_when_any_file_changes(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "atis"
    folder.mkdir()
    (folder / "seq.in").write_text("hi\n", encoding="utf-8")
    (folder / "seq.out").write_text("O\n", encoding="utf-8")
    (folder / "label").write_text("greet\n", encoding="utf-8")
    load_cached(folder, "auto", {}, cache_dir=cache_dir)
    (folder / "label").write_text("wave\n", encoding="utf-8")
    loaded = load_cached(folder, "auto", {}, cache_dir=cache_dir)
    assert loaded.sentences[0].intent == "wave"


def test_same_content_elsewhere_hits(
    corpus_file: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = corpus_file.with_name("copy.conll")
    copy.write_bytes(corpus_file.read_bytes())
    parsed = count_parses(monkeypatch)
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    loaded = load_cached(copy, "auto", {"strict": False}, cache_dir=cache_dir)
    assert parsed == [corpus_file]
    assert loaded.path == str(copy)


@pytest.mark.parametrize(
    "damage",
    [b"", b"not a zip file", b"PK\x03\x04" + b"\x00" * 40],
    ids=["empty", "text", "zip-header"],
)
def test_corrupt_entry_rebuilt(
    corpus_file: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture, damage: bytes
) -> None:
    expected = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    [entry] = entries(cache_dir)
    entry.write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        loaded = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert loaded == expected
    assert "damaged corpus cache file" in caplog.text
    assert entry.stat().st_size > len(damage)


def test_truncated_entry_rebuilt(corpus_file: Path, cache_dir: Path) -> None:
    expected = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    [entry] = entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:-200])
    assert load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir) == expected


def test_inconsistent_entry_rebuilt(corpus_file: Path, cache_dir: Path) -> None:
    expected = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    [entry] = entries(cache_dir)
    with np.load(entry, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["tag_ids"] = arrays["tag_ids"] + 100
    with entry.open("wb") as stream:
        np.savez(stream, **arrays)
    assert load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir) == expected


def test_entry_loads_without_pickle(corpus_file: Path, cache_dir: Path) -> None:
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    [entry] = entries(cache_dir)
    with np.load(entry, allow_pickle=False) as stored:
        kinds = {name: stored[name].dtype.kind for name in stored.files}
    assert "O" not in kinds.values()
    assert kinds["token_blob"] == "u"


def test_no_temporary_files_left(corpus_file: Path, cache_dir: Path) -> None:
    load_cached(corpus_file, "auto", {"strict": False}, cache_dir=cache_dir)
    assert [path.suffix for path in cache_dir.iterdir()] == [".npz"]


def test_unwritable_cache_dir(
    corpus_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        corpus = load_cached(corpus_file, "auto", {"strict": False}, cache_dir=blocked)
    assert len(corpus) == 2
    assert "cannot write the corpus cache file" in caplog.text


def test_missing_corpus_file(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_cached(tmp_path / "missing.conll", "conll", {}, cache_dir=cache_dir)


def test_parse_error_not_cached(corpus_file: Path, cache_dir: Path) -> None:
    with pytest.raises(DataError):
        load_cached(corpus_file, "auto", {}, cache_dir=cache_dir)
    assert entries(cache_dir) == []


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELMAN_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"


def test_cache_dir_from_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELMAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "elman"


def test_cache_dir_default_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELMAN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "elman"


def test_strings_with_newlines_round_trip() -> None:
    corpus = Corpus(
        sentences=[Sentence(("a\nb", "", "c"), ("O", "B-X", "I-X"), intent="x\ny")],
        path="p",
    )
    arrays = cache.corpus_to_arrays(corpus)
    assert int(arrays["token_separator"][0]) == -1
    assert cache.arrays_to_corpus(arrays, "p") == corpus


def test_empty_tokens_round_trip() -> None:
    corpus = Corpus(sentences=[Sentence(("", "a", ""), ("O", "O", "O"))], path="p")
    assert cache.arrays_to_corpus(cache.corpus_to_arrays(corpus), "p") == corpus
