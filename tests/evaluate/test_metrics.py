"""Tests of chunk scoring and of reading score files."""

from __future__ import annotations

from pathlib import Path

import pytest

from elman.data.scheme import convert
from elman.errors import ConfigError, DataError
from elman.evaluate.metrics import TypeScores, read_score_file, score

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

PHONE_GOLD = [["O", "B-PHONE", "I-PHONE", "O"]]
PHONE_PRED = [["O", "I-PHONE", "I-PHONE", "O"]]

# Sentence A: two gold entities, one predicted entity spanning both.
BIOES_A_GOLD = ["B-MISC", "E-MISC", "B-MISC", "E-MISC"]
BIOES_A_PRED = ["B-MISC", "I-MISC", "I-MISC", "E-MISC"]
# Sentence B: one gold entity, two predicted entities splitting it.
BIOES_B_GOLD = ["B-LOC", "I-LOC", "E-LOC"]
BIOES_B_PRED = ["B-LOC", "E-LOC", "S-LOC"]

PADDED_GOLD = [["B-PER", "O", "B-PER"], ["O"]]
PADDED_PRED = [["B-PER", "O", "O"], ["O"]]


def write(tmp_path: Path, text: str | bytes, name: str = "scores.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- score --------------------------------------------------------------------------------


def test_i_after_o_conlleval_counts_entity() -> None:
    scores = score(PHONE_GOLD, PHONE_PRED, "iob2", "conlleval")
    assert (scores.gold, scores.found, scores.correct) == (1, 1, 1)
    assert scores.precision == 1.0
    assert scores.recall == 1.0
    assert scores.f1 == 1.0
    assert scores.accuracy == 0.75


def test_i_after_o_strict_finds_nothing() -> None:
    scores = score(PHONE_GOLD, PHONE_PRED, "iob2", "strict")
    assert (scores.gold, scores.found, scores.correct) == (1, 0, 0)
    assert scores.precision == 0.0
    assert scores.recall == 0.0
    assert scores.f1 == 0.0
    assert scores.accuracy == 0.75


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_bioes_e_then_b_splits_entities(mode: str) -> None:
    scores = score([BIOES_A_GOLD], [BIOES_A_PRED], "bioes", mode)
    assert (scores.gold, scores.found, scores.correct) == (2, 1, 0)
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
    assert scores.accuracy == 0.5


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_bioes_s_tag_is_own_entity(mode: str) -> None:
    scores = score([BIOES_B_GOLD], [BIOES_B_PRED], "bioes", mode)
    assert (scores.gold, scores.found, scores.correct) == (1, 2, 0)
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
    assert f"{100 * scores.accuracy:.2f}" == "33.33"


@pytest.mark.parametrize(
    ("gold", "pred"), [(BIOES_A_GOLD, BIOES_A_PRED), (BIOES_B_GOLD, BIOES_B_PRED)]
)
def test_bioes_converted_to_iob2_scores_zero(gold: list[str], pred: list[str]) -> None:
    gold_iob2 = convert(gold, "bioes", "iob2")
    pred_iob2 = convert(pred, "bioes", "iob2")
    scores = score([gold_iob2], [pred_iob2], "iob2", "conlleval")
    assert scores.correct == 0
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


def test_score_accepts_iobes_alias() -> None:
    scores = score([BIOES_A_GOLD], [BIOES_A_GOLD], "iobes")
    assert scores.scheme == "bioes"
    assert scores.gold == 2


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_padding_free_token_accuracy(mode: str) -> None:
    scores = score(PADDED_GOLD, PADDED_PRED, "iob2", mode)
    assert scores.tokens == 4
    assert scores.correct_tokens == 3
    assert scores.accuracy == 0.75
    assert (scores.gold, scores.found, scores.correct) == (2, 1, 1)
    assert scores.precision == 1.0
    assert scores.recall == 0.5
    assert scores.f1 == pytest.approx(2 / 3)
    assert round(scores.f1, 4) == 0.6667


def test_per_type_counts() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "B-ORG", "O"]]
    per_type = score(gold, pred).per_type
    assert sorted(per_type) == ["LOC", "ORG", "PER"]
    assert per_type["PER"] == TypeScores(1.0, 1.0, 1.0, gold=1, found=1, correct=1)
    assert per_type["LOC"] == TypeScores(0.0, 0.0, 0.0, gold=1, found=0, correct=0)
    assert per_type["ORG"] == TypeScores(0.0, 0.0, 0.0, gold=0, found=1, correct=0)


def test_score_records_scheme_and_mode() -> None:
    scores = score(PHONE_GOLD, PHONE_PRED, "IOB2", "strict")
    assert scores.scheme == "iob2"
    assert scores.mode == "strict"


def test_score_empty_input() -> None:
    scores = score([], [])
    assert (scores.tokens, scores.gold, scores.found, scores.correct) == (0, 0, 0, 0)
    assert (scores.precision, scores.recall, scores.f1, scores.accuracy) == (0.0, 0.0, 0.0, 0.0)


def test_score_sentence_length_mismatch_names_index() -> None:
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted tags"):
        score([["O"], ["O", "O"]], [["O"], ["O"]])


def test_score_sentence_count_mismatch() -> None:
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score([["O"], ["O"]], [["O"]])


def test_score_tag_outside_scheme_names_sentence() -> None:
    with pytest.raises(ValueError, match="sentence 1, predicted tags: invalid tag 'S-X'"):
        score([["O"], ["O"]], [["O"], ["S-X"]], "iob2")


def test_score_unknown_mode() -> None:
    with pytest.raises(ConfigError, match="'exact'"):
        score(PHONE_GOLD, PHONE_PRED, mode="exact")


def test_to_dict_layout() -> None:
    result = score(PHONE_GOLD, PHONE_PRED).to_dict()
    assert list(result) == [
        "precision",
        "recall",
        "f1",
        "accuracy",
        "tokens",
        "per_type",
        "scheme",
        "mode",
        "gold",
        "found",
        "correct",
    ]
    assert result["per_type"] == {
        "PHONE": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "gold": 1, "found": 1, "correct": 1}
    }
    assert (result["scheme"], result["mode"], result["tokens"]) == ("iob2", "conlleval", 4)


# --- read_score_file ----------------------------------------------------------------------


def test_read_sentences_and_docstart(tmp_path: Path) -> None:
    path = write(tmp_path, "-DOCSTART- O O\n\nAda B-PER B-PER\nspoke O O\n\n\nOslo B-LOC O\n")
    gold, pred, documents = read_score_file(path)
    assert gold == [["O"], ["B-PER", "O"], ["B-LOC"]]
    assert pred == [["O"], ["B-PER", "O"], ["O"]]
    assert documents == 1


def test_read_x_line_is_boundary(tmp_path: Path) -> None:
    path = write(tmp_path, "Ada B-PER B-PER\n-X- B-PER B-PER\nLovelace I-PER I-PER\n")
    gold, pred, _ = read_score_file(path)
    assert gold == [["B-PER"], ["I-PER"]]
    assert pred == [["B-PER"], ["I-PER"]]


def test_read_docstart_counts_as_token(tmp_path: Path) -> None:
    path = write(tmp_path, "-DOCSTART- -X- O O\nAda NNP B-PER I-PER\n")
    gold, pred, documents = read_score_file(path)
    assert gold == [["O", "B-PER"]]
    assert pred == [["O", "I-PER"]]
    assert documents == 1


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, b"Lena B-PER B-PER\r\nspoke O O\r\n\r\nOslo B-LOC B-LOC\n")
    gold, pred, _ = read_score_file(path)
    assert gold == [["B-PER", "O"], ["B-LOC"]]
    assert pred == gold


def test_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffLena B-PER O\n".encode())
    gold, pred, _ = read_score_file(path)
    assert gold == [["B-PER"]]
    assert pred == [["O"]]


def test_no_final_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "Lena B-PER B-PER\nspoke O O")
    gold, _, _ = read_score_file(path)
    assert gold == [["B-PER", "O"]]


def test_auto_picks_tab_for_spaced_tokens(tmp_path: Path) -> None:
    path = write(tmp_path, "New York\tB-LOC\tB-LOC\nis\tO\tO\n")
    gold, pred, _ = read_score_file(path)
    assert gold == [["B-LOC", "O"]]
    assert pred == [["B-LOC", "O"]]


def test_space_separator_on_tab_file(tmp_path: Path) -> None:
    path = write(tmp_path, "New York\tB-LOC\tB-LOC\nis\tO\tO\n")
    with pytest.raises(DataError, match=":2: found 3 columns, expected 4 as on line 1"):
        read_score_file(path, sep="space")


def test_column_mismatch_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Kiel NNP I-LOC I-LOC\n\nNew York NNP I-LOC I-LOC\n")
    with pytest.raises(DataError) as caught:
        read_score_file(path)
    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert "found 5 columns, expected 4" in caught.value.message


def test_x_line_column_count_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "Ada B-PER B-PER\n-X- O\n")
    with pytest.raises(DataError, match=":2: found 2 columns, expected 3"):
        read_score_file(path)


def test_single_column_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "B-PER\n")
    with pytest.raises(DataError, match=":1: found 1 column, expected at least 2"):
        read_score_file(path)


def test_invalid_tag_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'Ada B-PER B-PER\nsaid O "\n')
    with pytest.raises(DataError, match=":2: predicted tag: invalid tag '\"'"):
        read_score_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the score file"):
        read_score_file(tmp_path / "absent.txt")


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"Ada B-PER B-PER\nK\xf6ln B-LOC B-LOC\n")
    with pytest.raises(DataError, match=":2: invalid UTF-8"):
        read_score_file(path)


def test_unknown_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "Ada B-PER B-PER\n")
    with pytest.raises(ConfigError, match="'comma'"):
        read_score_file(path, sep="comma")


def test_empty_file(tmp_path: Path) -> None:
    assert read_score_file(write(tmp_path, "")) == ([], [], 0)


# --- real data ----------------------------------------------------------------------------


def conll_dev() -> Path:
    if not DATA.exists():
        pytest.skip("../shared/data is absent: real-corpus tests need it")
    return DATA / "conll2003" / "dev.txt"


def read_conll_tags(path: Path) -> list[list[str]]:
    """Return the NER tags (last column) of a CoNLL-2003 file, without -DOCSTART- lines."""
    sentences: list[list[str]] = []
    sentence: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            sentence.append(fields[-1])
        elif sentence:
            sentences.append(sentence)
            sentence = []
    if sentence:
        sentences.append(sentence)
    return sentences


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_conll2003_dev_against_itself(mode: str) -> None:
    gold = read_conll_tags(conll_dev())
    scores = score(gold, gold, "iob1", mode)
    assert scores.gold == 5942
    assert scores.correct == 5942
    assert scores.f1 == 1.0
    assert scores.tokens == 51362


def test_conll2003_dev_score_file_counts(tmp_path: Path) -> None:
    """conlleval.pl reports 51,578 tokens on dev: its 51,362 words and 216 -DOCSTART- lines."""
    lines = conll_dev().read_text(encoding="utf-8").splitlines()
    doubled = [f"{line} {line.split()[-1]}" if line.strip() else line for line in lines]
    path = write(tmp_path, "\n".join(doubled) + "\n", "dev-scores.txt")
    gold, pred, documents = read_score_file(path)
    scores = score(gold, pred, "iob1")
    assert documents == 216
    assert scores.tokens == 51578
    assert (scores.gold, scores.found, scores.correct) == (5942, 5942, 5942)
    assert {name: counts.gold for name, counts in scores.per_type.items()} == {
        "LOC": 1837,
        "MISC": 922,
        "ORG": 1341,
        "PER": 1842,
    }
