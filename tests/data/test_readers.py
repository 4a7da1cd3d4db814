from __future__ import annotations

import logging
from pathlib import Path

import pytest

from elman.data import readers
from elman.data.conll import ConllReader
from elman.data.parallel import ParallelReader
from elman.data.readers import (
    READERS,
    ParseResult,
    RawSentence,
    Reader,
    detect_format,
    get_reader,
    read_corpus,
    read_text_lines,
    register,
    resolve_path,
)
from elman.errors import ConfigError, DataError


def conll_file(tmp_path: Path, text: str = "Kiel B-LOC\nwins O\n") -> Path:
    path = tmp_path / "corpus.conll"
    path.write_text(text, encoding="utf-8")
    return path


def parallel_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "atis"
    folder.mkdir()
    (folder / "seq.in").write_text("fly to oslo\n", encoding="utf-8")
    (folder / "seq.out").write_text("O O B-city\n", encoding="utf-8")
    return folder


def test_builtin_readers_registered() -> None:
    assert READERS["conll"] is ConllReader
    assert READERS["parallel"] is ParallelReader


def test_get_reader_by_name() -> None:
    assert get_reader("parallel") is ParallelReader


def test_get_reader_unknown_lists_names() -> None:
    with pytest.raises(ConfigError) as error:
        get_reader("json")
    assert "'json'" in str(error.value)
    assert "conll, jsonl, parallel, spacy" in str(error.value)


def test_detect_format_file(tmp_path: Path) -> None:
    assert detect_format(conll_file(tmp_path)) == "conll"


def test_detect_format_folder_with_seq_in(tmp_path: Path) -> None:
    assert detect_format(parallel_folder(tmp_path)) == "parallel"


def test_detect_format_other_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        detect_format(tmp_path)
    assert "no corpus format matches" in str(error.value)
    assert "conll (" in str(error.value)
    assert "parallel (" in str(error.value)


def test_detect_format_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        detect_format(tmp_path / "missing.conll")


def test_read_corpus_detects_conll(tmp_path: Path) -> None:
    corpus = read_corpus(conll_file(tmp_path))
    assert corpus.sentences[0].tokens == ("Kiel", "wins")


def test_read_corpus_detects_parallel(tmp_path: Path) -> None:
    corpus = read_corpus(parallel_folder(tmp_path))
    assert corpus.sentences[0].tags == ("O", "O", "B-city")


def test_read_corpus_accepts_str_path(tmp_path: Path) -> None:
    assert len(read_corpus(str(conll_file(tmp_path)))) == 1


def test_read_corpus_passes_settings(tmp_path: Path) -> None:
    corpus = read_corpus(conll_file(tmp_path), format="conll", labelled=False)
    assert corpus.sentences[0].tags is None


def test_read_corpus_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        read_corpus(conll_file(tmp_path), colour="red")


def test_explicit_format_rejects_foreign_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'sep' for the parallel reader"):
        read_corpus(parallel_folder(tmp_path), format="parallel", sep="tab")


def test_detected_format_drops_default_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        corpus = read_corpus(parallel_folder(tmp_path), sep="auto")
    assert len(corpus) == 1
    assert "ignoring" not in caplog.text


def test_detected_format_warns_dropped_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        read_corpus(parallel_folder(tmp_path), sep="tab")
    assert "ignoring sep='tab'" in caplog.text


def test_read_corpus_unknown_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tag scheme 'bio9'"):
        read_corpus(conll_file(tmp_path), scheme="bio9")


def test_builtin_path_resolves_to_package_corpus() -> None:
    path = resolve_path("builtin:dev")
    assert path.parts[-3:] == ("resources", "corpus", "dev.conll")


def test_builtin_path_unknown_split() -> None:
    with pytest.raises(ConfigError, match="builtin:train, builtin:dev, builtin:test"):
        resolve_path("builtin:valid")


def test_plain_path_unchanged(tmp_path: Path) -> None:
    assert resolve_path(tmp_path / "x.conll") == tmp_path / "x.conll"


def test_read_corpus_with_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELMAN_CACHE_DIR", str(tmp_path / "cache"))
    path = conll_file(tmp_path)
    first = read_corpus(path, cache=True)
    second = read_corpus(path, cache=True)
    assert first == second
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_read_corpus_without_cache_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELMAN_CACHE_DIR", str(tmp_path / "cache"))
    read_corpus(conll_file(tmp_path))
    assert not (tmp_path / "cache").exists()


def test_skipped_warning_lists_ten_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = "".join(f"bad{i}\n\n" for i in range(12))
    path = conll_file(tmp_path, "Kiel B-LOC\n\n" + bad)
    with caplog.at_level(logging.WARNING):
        corpus = read_corpus(path, strict=False)
    assert corpus.skipped_lines == list(range(3, 27, 2))
    assert "skipped 12 sentence(s)" in caplog.text
    assert "lines 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, ..." in caplog.text


def test_all_sentences_skipped(tmp_path: Path) -> None:
    path = conll_file(tmp_path, "Kiel B-\n\nOslo X\n")
    with pytest.raises(DataError, match="all sentences were skipped"):
        read_corpus(path, strict=False)


def test_mixed_bioes_and_bilou(tmp_path: Path) -> None:
    path = conll_file(tmp_path, "Kiel S-LOC\nOslo U-LOC\n")
    with pytest.raises(DataError, match="scheme="):
        read_corpus(path)


def test_read_text_lines_endings(tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_bytes("\ufeffa\r\nb\n\nc\u2028d".encode())
    assert read_text_lines(path) == ["a", "b", "", "c\u2028d"]


def test_read_text_lines_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_text_lines(tmp_path / "missing")


def test_register_custom_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "READERS", dict(READERS))

    @register
    class WordsReader(Reader):
        """Reads one sentence of space-separated words, every word tagged O."""

        name = "words"
        description = "a file of words"

        @classmethod
        def detect(cls, path: Path) -> bool:
            return path.suffix == ".words"

        def parse(self, path: Path) -> ParseResult:
            tokens = tuple(path.read_text(encoding="utf-8").split())
            return ParseResult([RawSentence(tokens, ("O",) * len(tokens), line=1)])

    path = tmp_path / "corpus.words"
    path.write_text("Kiel wins", encoding="utf-8")
    corpus = read_corpus(path, format="words")
    assert readers.READERS["words"] is WordsReader
    assert corpus.sentences[0].tags == ("O", "O")
    assert "words" not in READERS
