from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from elman.data.conll import ConllReader
from elman.data.sentence import Corpus
from elman.errors import ConfigError, DataError

DOCSTART_TEXT = (
    "-DOCSTART- -X- -X- O\n\nKiel NNP B-NP I-LOC\nwins VBZ B-VP O\n\n"
    "-DOCSTART- -X- -X- O\n\nRain NN B-NP O\n\n"
)
MALFORMED_TEXT = "Harbor I-ORG\nWorkers'I-ORG\nGuild I-ORG\n\n77 O\n, \"\n"


def read(tmp_path: Path, content: str | bytes, **settings: Any) -> Corpus:
    path = tmp_path / "corpus.conll"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return ConllReader(**settings).read(path)


def all_tokens(corpus: Corpus) -> list[str]:
    return [token for sentence in corpus.sentences for token in sentence.tokens]


def all_tags(corpus: Corpus) -> list[str]:
    return [tag for sentence in corpus.sentences for tag in sentence.tags or ()]


def test_docstart_lines_separate_documents(tmp_path: Path) -> None:
    corpus = read(tmp_path, DOCSTART_TEXT)
    assert corpus.documents == 2
    assert len(corpus) == 2
    assert corpus.sentences[0].tokens == ("Kiel", "wins")
    assert corpus.sentences[0].tags == ("B-LOC", "O")
    assert corpus.sentences[1].tokens == ("Rain",)
    assert [s.document for s in corpus.sentences] == [0, 1]
    assert corpus.scheme == "iob1"


def test_docstart_never_a_token(tmp_path: Path) -> None:
    corpus = read(tmp_path, "-DOCSTART- O\nKiel B-LOC\n\n-DOCSTART- O\n")
    assert all_tokens(corpus) == ["Kiel"]
    assert corpus.documents == 1


def test_sentence_line_numbers(tmp_path: Path) -> None:
    corpus = read(tmp_path, DOCSTART_TEXT)
    assert [s.line for s in corpus.sentences] == [3, 8]


def test_missing_final_newline(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Lena B-PER\nspoke O")
    assert len(corpus) == 1
    assert corpus.sentences[0].tokens == ("Lena", "spoke")


def test_trailing_blank_lines(tmp_path: Path) -> None:
    assert len(read(tmp_path, "Lena B-PER\nspoke O\n\n\n\n")) == 1


def test_leading_and_repeated_blank_lines(tmp_path: Path) -> None:
    corpus = read(tmp_path, "\n\nLena B-PER\n\n\n\nspoke O\n")
    assert len(corpus) == 2
    assert corpus.sentences[1].tokens == ("spoke",)


def test_whitespace_only_line_ends_sentence(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Lena B-PER\n  \t \nspoke O\n")
    assert [s.tokens for s in corpus.sentences] == [("Lena",), ("spoke",)]


def test_crlf_line_endings(tmp_path: Path) -> None:
    corpus = read(tmp_path, b"Lena B-PER\r\nspoke O\r\n\r\nOslo B-LOC\r\n")
    assert len(corpus) == 2
    assert set(all_tags(corpus)) == {"B-PER", "O", "B-LOC"}
    assert not any("\r" in text for text in all_tokens(corpus) + all_tags(corpus))


def test_mixed_line_endings(tmp_path: Path) -> None:
    corpus = read(tmp_path, b"Lena B-PER\nspoke O\r\n\nOslo B-LOC\r\n")
    assert len(corpus) == 2
    assert set(all_tags(corpus)) == {"B-PER", "O", "B-LOC"}
    assert not any("\r" in text for text in all_tokens(corpus) + all_tags(corpus))


def test_utf8_bom_stripped(tmp_path: Path) -> None:
    corpus = read(tmp_path, "\ufeffLena B-PER\nspoke O\n".encode())
    assert corpus.sentences[0].tokens[0] == "Lena"


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, b"Lena B-PER\nK\xf6ln B-LOC\n")
    assert error.value.line == 2
    assert error.value.path == str(tmp_path / "corpus.conll")
    assert "must be UTF-8" in str(error.value)


def test_tab_mode_token_with_space(tmp_path: Path) -> None:
    corpus = read(tmp_path, "New York\tB-LOC\nis\tO\n")
    assert corpus.sentences[0].tokens == ("New York", "is")
    assert corpus.sentences[0].tags == ("B-LOC", "O")


def test_tab_mode_keeps_space_token(tmp_path: Path) -> None:
    corpus = read(tmp_path, "A\tO\n \tO\nB\tO\n")
    assert len(corpus) == 1
    assert corpus.sentences[0].tokens == ("A", " ", "B")


def test_space_mode_rejects_space_token(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "A O\n  O\n")
    assert error.value.line == 2
    assert "sep='tab'" in str(error.value)


def test_space_mode_splits_tabs(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Kiel\tNNP B-LOC\n", sep="space")
    assert corpus.sentences[0].tags == ("B-LOC",)


def test_tab_mode_keeps_spaces(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "Kiel B-LOC\n", sep="tab")
    assert "1 field per line" in str(error.value)
    assert "try sep='space'" in str(error.value)


def test_invalid_separator_setting() -> None:
    with pytest.raises(ConfigError, match="'comma'"):
        ConllReader(sep="comma")


def test_extra_field_suggests_tab(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "Kiel NNP B-NP I-LOC\nNew York NNP B-NP I-LOC\n")
    message = str(error.value)
    assert error.value.line == 2
    assert "5 fields, expected 4 (as on line 1); is the separator a tab? try sep='tab'" in message
    assert "--sep" in message


def test_single_column_file_has_no_labels(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="1 field per line: no label column"):
        read(tmp_path, "Kiel\nwins\n")


def test_missing_separator_strict(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, MALFORMED_TEXT)
    assert error.value.line == 2
    assert "expected 2 fields, found 1" in str(error.value)


def test_invalid_tag_after_fixing_separator(tmp_path: Path) -> None:
    fixed = MALFORMED_TEXT.replace("Workers'I-ORG", "Workers' I-ORG")
    with pytest.raises(DataError) as error:
        read(tmp_path, fixed)
    assert error.value.line == 6
    assert "invalid tag '\"'" in str(error.value)


def test_tag_without_type(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "Oslo O\nis B-\n")
    assert error.value.line == 2
    assert "'B-'" in str(error.value)


def test_lenient_mode_skips_bad_sentences(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = MALFORMED_TEXT + "\nOslo B-LOC\nsleeps O\n"
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path, text, strict=False)
    assert corpus.skipped_lines == [1, 5]
    assert [s.tokens for s in corpus.sentences] == [("Oslo", "sleeps")]
    assert "Workers'I-ORG" not in all_tokens(corpus)
    assert '"' not in all_tags(corpus)
    assert "skipped 2 sentence(s)" in caplog.text


def test_first_line_without_tag(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "Oslo\nis O\n\nBergen B-LOC\n")
    assert error.value.line == 1
    assert "expected 2 fields, found 1 (as on line 2)" in str(error.value)


def test_lenient_skips_untagged_first_line(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Oslo\nis O\n\nBergen B-LOC\n", strict=False)
    assert corpus.skipped_lines == [1]
    assert [s.tokens for s in corpus.sentences] == [("Bergen",)]
    assert corpus.sentences[0].line == 4


@pytest.mark.parametrize(
    "text",
    ["", "\n\n  \n", "-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n"],
    ids=["empty", "blank", "docstart"],
)
def test_file_without_sentences(tmp_path: Path, text: str) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, text)
    assert "no sentences in" in str(error.value)
    assert str(tmp_path / "corpus.conll") in str(error.value)


def test_unlabelled_mode_reads_tokens_only(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Lena\nspoke\n\n\nOslo\n", labelled=False)
    assert [s.tokens for s in corpus.sentences] == [("Lena", "spoke"), ("Oslo",)]
    assert [s.tags for s in corpus.sentences] == [None, None]


def test_unlabelled_mode_takes_first_column(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Lena B-PER\nspoke O\n", labelled=False)
    assert corpus.sentences[0].tokens == ("Lena", "spoke")
    assert corpus.sentences[0].tags is None


def test_label_column_setting(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Kiel B-LOC NNP\nwins O VBZ\n", column=1)
    assert corpus.sentences[0].tags == ("B-LOC", "O")


def test_token_column_setting(tmp_path: Path) -> None:
    corpus = read(tmp_path, "1 Kiel B-LOC\n2 wins O\n", token_column=1)
    assert corpus.sentences[0].tokens == ("Kiel", "wins")


def test_label_column_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="column=4 does not exist"):
        read(tmp_path, "Kiel B-LOC\n", column=4)


def test_token_and_label_column_equal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both select column 0"):
        read(tmp_path, "Kiel B-LOC\n", column=0)


def test_violations_counted_and_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "Lena B-PER\nmet O\nAnna I-PER\n\nOslo O\nand O\nBergen I-LOC\n"
    with caplog.at_level(logging.WARNING):
        corpus = read(tmp_path, text, scheme="iob2")
    assert corpus.violations == 2
    assert corpus.sentences[0].tags == ("B-PER", "O", "B-PER")
    warnings = [r for r in caplog.records if "rules of the iob2 scheme" in r.getMessage()]
    assert len(warnings) == 1
    assert "2 tag(s)" in warnings[0].getMessage()


def test_explicit_scheme_converted_to_iob2(tmp_path: Path) -> None:
    corpus = read(tmp_path, "Mara S-PER\nQuist O\nin O\nNew B-LOC\nYork E-LOC\n", scheme="bioes")
    assert corpus.scheme == "bioes"
    assert corpus.sentences[0].tags == ("B-PER", "O", "O", "B-LOC", "I-LOC")


def test_tag_foreign_to_explicit_scheme(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        read(tmp_path, "Oslo O\nMara S-PER\n", scheme="iob2")
    assert error.value.line == 2
    assert "invalid tag 'S-PER'" in str(error.value)


REAL_CONLL = [
    ("conll2003/train.txt", 14041, 946, "iob1"),
    ("conll2003/dev.txt", 3250, 216, "iob1"),
    ("conll2003/test.txt", 3453, 231, "iob1"),
    ("wnut17/train.conll", 3394, 1, "iob2"),
    ("wnut17/dev.conll", 1009, 1, "iob2"),
    ("wnut17/test.conll", 1287, 1, "iob2"),
]


@pytest.mark.parametrize(("name", "sentences", "documents", "scheme"), REAL_CONLL)
def test_real_corpus(
    shared_data: Path, name: str, sentences: int, documents: int, scheme: str
) -> None:
    corpus = ConllReader(sep="auto").read(shared_data / name)
    assert len(corpus) == sentences
    assert corpus.documents == documents
    assert corpus.scheme == scheme
    assert corpus.skipped_lines == []
