from __future__ import annotations

import logging
from pathlib import Path

import pytest

from elman.data.parallel import ParallelReader
from elman.data.sentence import Corpus
from elman.errors import DataError


def write(folder: Path, tokens: str, tags: str, intents: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "seq.in").write_text(tokens, encoding="utf-8", newline="")
    (folder / "seq.out").write_text(tags, encoding="utf-8", newline="")
    if intents is not None:
        (folder / "label").write_text(intents, encoding="utf-8", newline="")
    return folder


def read(
    folder: Path, tokens: str, tags: str, intents: str | None = None, **settings: bool
) -> Corpus:
    return ParallelReader(**settings).read(write(folder, tokens, tags, intents))


def pairs(corpus: Corpus) -> list[list[tuple[str, str]]]:
    return [list(zip(s.tokens, s.tags or (), strict=True)) for s in corpus.sentences]


def test_whitespace_runs_separate_tokens(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "play  some jazz", "O O B-genre ")
    assert pairs(corpus) == [[("play", "O"), ("some", "O"), ("jazz", "B-genre")]]


def test_missing_final_newline(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "fly to oslo", "O O B-toloc.city_name")
    assert len(corpus) == 1
    assert corpus.sentences[0].tags == ("O", "O", "B-toloc.city_name")


def test_trailing_empty_line_in_one_file(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "fly to oslo\n\n", "O O B-city\n")
    assert len(corpus) == 1


def test_crlf_line_endings(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "fly to oslo\r\nhi\r\n", "O O B-city\r\nO\r\n", "f\r\ng\r\n")
    assert pairs(corpus)[1] == [("hi", "O")]
    assert [s.intent for s in corpus.sentences] == ["f", "g"]


def test_intents_kept(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "fly to oslo\nhi\n", "O O B-city\nO\n", "atis_flight\ngreet\n")
    assert [s.intent for s in corpus.sentences] == ["atis_flight", "greet"]


def test_intents_absent(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "hi\n", "O\n")
    assert corpus.sentences[0].intent is None


def test_line_numbers(tmp_path: Path) -> None:
    corpus = read(tmp_path / "d", "a\nb\nc\n", "O\nO\nO\n")
    assert [s.line for s in corpus.sentences] == [1, 2, 3]


def test_line_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path / "d", "a\nb\nc\n", "O\nO\n")
    assert error.value.path == str(tmp_path / "d" / "seq.out")
    assert error.value.line == 3
    assert "2 lines, but seq.in has 3" in str(error.value)


def test_intent_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path / "d", "a\nb\n", "O\nO\n", "x\n")
    assert error.value.path == str(tmp_path / "d" / "label")
    assert "1 line, but seq.in has 2" in str(error.value)


def test_token_tag_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path / "d", "fly to oslo\nfly home\n", "O O B-city\nO\n")
    assert error.value.path == str(tmp_path / "d" / "seq.out")
    assert error.value.line == 2
    assert "1 tag, but line 2 of seq.in has 2 tokens" in str(error.value)


def test_empty_line_inside_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path / "d", "a\n\nb\n", "O\n\nO\n")
    assert error.value.line == 2
    assert "empty line" in str(error.value)


def test_invalid_tag_names_tags_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path / "d", "a b\n", "O B-\n")
    assert error.value.path == str(tmp_path / "d" / "seq.out")
    assert error.value.line == 1
    assert "invalid tag 'B-'" in str(error.value)


def test_lenient_mode_skips_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path / "d", "a b\nc\nd e\n", "O\nO\nO X\n", strict=False)
    assert corpus.skipped_lines == [1, 3]
    assert [s.tokens for s in corpus.sentences] == [("c",)]
    assert "skipped 2 sentence(s)" in caplog.text


def test_missing_tags_file(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "seq.in").write_text("a\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        ParallelReader().read(folder)
    assert error.value.path == str(folder / "seq.out")
    assert "not found" in str(error.value)


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no sentences"):
        read(tmp_path / "d", "\n", "")


def test_detect_needs_seq_in(tmp_path: Path) -> None:
    assert ParallelReader.detect(write(tmp_path / "d", "a\n", "O\n"))
    assert not ParallelReader.detect(tmp_path)
    assert not ParallelReader.detect(tmp_path / "d" / "seq.in")


REAL_PARALLEL = [
    ("atis/train", 4478, 21),
    ("atis/valid", 500, 16),
    ("atis/test", 893, 20),
    ("snips/train", 13084, 7),
    ("snips/valid", 700, 7),
    ("snips/test", 700, 7),
]


@pytest.mark.parametrize(("name", "sentences", "intents"), REAL_PARALLEL)
def test_real_corpus(shared_data: Path, name: str, sentences: int, intents: int) -> None:
    corpus = ParallelReader().read(shared_data / name)
    assert len(corpus) == sentences
    assert corpus.skipped_lines == []
    assert corpus.violations == 0
    assert corpus.scheme == "iob2"
    assert len({s.intent for s in corpus.sentences}) == intents
    assert None not in {s.intent for s in corpus.sentences}
