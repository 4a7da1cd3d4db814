"""Tests of tag schemes: tag checks, detection, spans, conversion and transition rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elman.data.scheme import (
    SCHEMES,
    allowed_end,
    allowed_transition,
    check_tag,
    convert,
    count_violations,
    detect_scheme,
    from_spans,
    normalize_scheme,
    split_tag,
    to_spans,
)
from elman.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

# One sentence with four entities, among them two adjacent LOC entities, in every scheme.
SPANS = [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC"), (6, 7, "ORG")]
WRITTEN = {
    "iob1": ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG"],
    "iob2": ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG"],
    "bioes": ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "S-ORG"],
    "bilou": ["B-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC", "U-ORG"],
}


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


# --- scheme names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iob1", "iob1"),
        ("IOB2", "iob2"),
        ("bioes", "bioes"),
        ("iobes", "bioes"),
        ("BILOU", "bilou"),
    ],
)
def test_normalize_scheme_names(name: str, expected: str) -> None:
    assert normalize_scheme(name) == expected


def test_normalize_scheme_unknown_lists_valid() -> None:
    with pytest.raises(ConfigError, match=r"'bio'.*iob1, iob2, bioes, bilou"):
        normalize_scheme("bio")


def test_normalize_scheme_auto_needs_flag() -> None:
    with pytest.raises(ConfigError, match="'auto'"):
        normalize_scheme("auto")


def test_normalize_scheme_auto_allowed() -> None:
    assert normalize_scheme("Auto", allow_auto=True) == "auto"


# --- single tags --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("O", ("O", "")),
        ("B-PER", ("B", "PER")),
        ("I-creative-work", ("I", "creative-work")),
        ("S-fromloc.city_name", ("S", "fromloc.city_name")),
        ("U-X", ("U", "X")),
    ],
)
def test_split_tag_valid(tag: str, expected: tuple[str, str]) -> None:
    assert split_tag(tag) == expected


@pytest.mark.parametrize("tag", ["", "B-", "PER", "B", "X-PER", "b-PER", "O-PER", "-PER"])
def test_split_tag_invalid_names_tag(tag: str) -> None:
    with pytest.raises(ValueError, match=f"invalid tag {tag!r}"):
        split_tag(tag)


@pytest.mark.parametrize(
    ("tag", "scheme"),
    [
        ("O", "iob1"),
        ("B-X", "iob1"),
        ("I-X", "iob2"),
        ("E-X", "bioes"),
        ("S-X", "iobes"),
        ("L-X", "bilou"),
        ("U-X", "bilou"),
    ],
)
def test_check_tag_accepts(tag: str, scheme: str) -> None:
    check_tag(tag, scheme)


@pytest.mark.parametrize(
    ("tag", "scheme"),
    [("E-X", "iob2"), ("S-X", "iob1"), ("L-X", "bioes"), ("S-X", "bilou"), ("U-X", "iob2")],
)
def test_check_tag_rejects_prefix_outside_scheme(tag: str, scheme: str) -> None:
    with pytest.raises(ValueError, match=f"invalid tag {tag!r}"):
        check_tag(tag, scheme)


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_detect_scheme_of_written_sentence(scheme: str) -> None:
    assert detect_scheme([WRITTEN[scheme]]) == scheme


@pytest.mark.parametrize(
    ("sequences", "expected"),
    [
        ([["I-X", "I-X"], ["O", "I-Y", "B-Y"]], "iob1"),
        ([["I-X", "B-Y"]], "iob2"),
        ([["I-X", "O", "B-X"]], "iob2"),
        ([["B-X", "I-X"], ["B-Y"]], "iob2"),
        ([["O", "O"]], "iob2"),
        ([], "iob2"),
        ([["B-X", "I-X"], ["S-Y"]], "bioes"),
        ([["U-Y"]], "bilou"),
    ],
)
def test_detect_scheme_rule(sequences: list[list[str]], expected: str) -> None:
    assert detect_scheme(sequences) == expected


def test_detect_scheme_mixed_bioes_bilou() -> None:
    with pytest.raises(ValueError, match="BIOES"):
        detect_scheme([["E-X"], ["L-X"]])


# --- spans --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_to_spans_of_written_sentence(scheme: str, mode: str) -> None:
    assert to_spans(WRITTEN[scheme], scheme, mode) == SPANS


@pytest.mark.parametrize(
    ("tags", "scheme", "conlleval", "strict"),
    [
        (["O", "I-X", "I-X", "O"], "iob2", [(1, 3, "X")], []),
        (["B-X", "I-Y"], "iob2", [(0, 1, "X"), (1, 2, "Y")], [(0, 1, "X")]),
        (["I-X", "B-X"], "iob2", [(0, 1, "X"), (1, 2, "X")], [(1, 2, "X")]),
        (["B-X", "B-X", "I-X"], "iob2", [(0, 1, "X"), (1, 3, "X")], [(0, 1, "X"), (1, 3, "X")]),
        (["O", "B-X", "I-X"], "iob1", [(1, 3, "X")], []),
        (["I-X", "I-Y", "B-Y"], "iob1", [(0, 1, "X"), (1, 2, "Y"), (2, 3, "Y")], None),
        (["B-X", "I-X", "O"], "bioes", [(0, 2, "X")], []),
        (["B-X", "E-X", "B-X", "E-X"], "bioes", [(0, 2, "X"), (2, 4, "X")], None),
        (["B-X", "E-X", "S-X"], "bioes", [(0, 2, "X"), (2, 3, "X")], None),
        (["O", "E-X", "I-X", "E-X"], "bioes", [(1, 2, "X"), (2, 4, "X")], []),
        (["S-X", "E-X"], "bioes", [(0, 1, "X"), (1, 2, "X")], [(0, 1, "X")]),
        (["B-X", "I-X", "E-Y"], "bioes", [(0, 2, "X"), (2, 3, "Y")], []),
        (["B-X", "L-X", "U-Y"], "bilou", [(0, 2, "X"), (2, 3, "Y")], None),
        (["U-X", "L-X"], "bilou", [(0, 1, "X"), (1, 2, "X")], [(0, 1, "X")]),
    ],
)
def test_to_spans_modes(
    tags: list[str],
    scheme: str,
    conlleval: list[tuple[int, int, str]],
    strict: list[tuple[int, int, str]] | None,
) -> None:
    """``strict`` None means that the strict reading equals the conlleval one."""
    assert to_spans(tags, scheme, "conlleval") == conlleval
    assert to_spans(tags, scheme, "strict") == (conlleval if strict is None else strict)


def test_to_spans_rejects_tag_outside_scheme() -> None:
    with pytest.raises(ValueError, match="'S-X'"):
        to_spans(["O", "S-X"], "iob2")


def test_to_spans_unknown_mode() -> None:
    with pytest.raises(ConfigError, match="'lenient'"):
        to_spans(["O"], "iob2", "lenient")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_from_spans_writes_scheme(scheme: str) -> None:
    assert from_spans(SPANS, 7, scheme) == WRITTEN[scheme]


def test_from_spans_iob1_b_only_between_same_type() -> None:
    spans = [(0, 1, "X"), (1, 2, "Y"), (2, 3, "X"), (4, 5, "X"), (5, 7, "X"), (7, 8, "X")]
    expected = ["I-X", "I-Y", "I-X", "O", "I-X", "B-X", "I-X", "B-X"]
    assert from_spans(spans, 8, "iob1") == expected


def test_from_spans_sorts_input() -> None:
    assert from_spans([(2, 3, "Y"), (0, 1, "X")], 3) == ["B-X", "O", "B-Y"]


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([(0, 2, "X"), (1, 3, "Y")], "overlaps"),
        ([(2, 2, "X")], "invalid span"),
        ([(2, 5, "X")], "invalid span"),
        ([(-1, 1, "X")], "invalid span"),
        ([(0, 1, "")], "type is empty"),
    ],
)
def test_from_spans_invalid(spans: list[tuple[int, int, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_spans(spans, 4)


# --- conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", SCHEMES)
@pytest.mark.parametrize("target", SCHEMES)
def test_convert_written_sentence(source: str, target: str) -> None:
    assert convert(WRITTEN[source], source, target) == WRITTEN[target]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I-X", "I-X", "B-X", "I-Y"], ["B-X", "I-X", "B-X", "B-Y"]),
        (["O", "I-X", "O", "I-X"], ["O", "B-X", "O", "B-X"]),
        (["I-X", "B-X", "B-X"], ["B-X", "B-X", "B-X"]),
    ],
)
def test_convert_iob1_to_iob2(tags: list[str], expected: list[str]) -> None:
    assert convert(tags, "iob1", "iob2") == expected


def test_convert_reads_broken_iob2_as_conlleval() -> None:
    assert convert(["O", "I-X", "I-X"], "iob2", "bioes") == ["O", "B-X", "E-X"]


def test_convert_bioes_to_iob2() -> None:
    tags = ["B-MISC", "E-MISC", "B-MISC", "E-MISC", "S-LOC"]
    assert convert(tags, "bioes", "iob2") == ["B-MISC", "I-MISC", "B-MISC", "I-MISC", "B-LOC"]


@st.composite
def span_sentences(draw: st.DrawFn) -> tuple[list[tuple[int, int, str]], int]:
    """Draw non-overlapping spans of types A and B (often adjacent) and a sentence length."""
    pieces = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=2),
                st.integers(min_value=1, max_value=4),
                st.sampled_from(["A", "B"]),
            ),
            max_size=6,
        )
    )
    spans = []
    position = 0
    for gap, size, entity_type in pieces:
        start = position + gap
        spans.append((start, start + size, entity_type))
        position = start + size
    length = position + draw(st.integers(min_value=0, max_value=2))
    return spans, length


@settings(derandomize=True, max_examples=200)
@given(span_sentences())
def test_convert_round_trips_property(sentence: tuple[list[tuple[int, int, str]], int]) -> None:
    spans, length = sentence
    for source in SCHEMES:
        tags = from_spans(spans, length, source)
        assert len(tags) == length
        assert count_violations(tags, source) == 0
        assert to_spans(tags, source, "conlleval") == spans
        assert to_spans(tags, source, "strict") == spans
        for target in SCHEMES:
            converted = convert(tags, source, target)
            assert converted == from_spans(spans, length, target)
            assert convert(converted, target, source) == tags


def test_conll2003_dev_iob1_round_trip() -> None:
    if not DATA.exists():
        pytest.skip("../shared/data is absent: real-corpus tests need it")
    sentences = read_conll_tags(DATA / "conll2003" / "dev.txt")
    assert len(sentences) == 3250
    assert detect_scheme(sentences) == "iob1"
    round_trips = [convert(convert(tags, "iob1", "iob2"), "iob2", "iob1") for tags in sentences]
    assert round_trips == sentences


# --- scheme rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        ([], "iob2", 0),
        (["O", "I-X"], "iob2", 1),
        (["I-X", "I-X"], "iob2", 1),
        (["B-X", "I-Y"], "iob2", 1),
        (["B-X", "I-X", "O", "I-Y", "B-Y"], "iob2", 1),
        (["B-X"], "iob1", 1),
        (["I-X", "B-X"], "iob1", 0),
        (["I-X", "B-Y"], "iob1", 1),
        (["E-X"], "bioes", 1),
        (["B-X"], "bioes", 1),
        (["B-X", "O"], "bioes", 1),
        (["B-X", "I-X"], "bioes", 1),
        (["S-X", "E-X"], "bioes", 1),
        (["B-X", "E-X", "S-Y"], "bioes", 0),
        (["O", "I-X", "E-X", "E-X"], "bioes", 2),
        (["B-X", "L-X", "U-X"], "bilou", 0),
        (["U-X", "L-X"], "bilou", 1),
    ],
)
def test_count_violations(tags: list[str], scheme: str, expected: int) -> None:
    assert count_violations(tags, scheme) == expected


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ("O", "O", True),
        ("O", "B-X", True),
        ("O", "I-X", False),
        ("B-X", "I-X", True),
        ("B-X", "I-Y", False),
        ("B-X", "B-Y", True),
        ("I-X", "I-X", True),
        ("I-X", "B-X", True),
        ("I-X", "O", True),
    ],
)
def test_allowed_transition_iob2(prev: str, cur: str, expected: bool) -> None:
    assert allowed_transition(prev, cur, "iob2") is expected


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ("O", "I-X", True),
        ("O", "B-X", False),
        ("I-X", "I-X", True),
        ("I-X", "I-Y", True),
        ("I-X", "B-X", True),
        ("I-X", "B-Y", False),
        ("B-X", "I-X", True),
        ("B-X", "B-X", True),
        ("B-X", "O", True),
    ],
)
def test_allowed_transition_iob1(prev: str, cur: str, expected: bool) -> None:
    assert allowed_transition(prev, cur, "iob1") is expected


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ("O", "B-X", True),
        ("O", "S-X", True),
        ("O", "I-X", False),
        ("O", "E-X", False),
        ("B-X", "I-X", True),
        ("B-X", "E-X", True),
        ("B-X", "E-Y", False),
        ("B-X", "O", False),
        ("B-X", "S-X", False),
        ("B-X", "B-X", False),
        ("I-X", "E-X", True),
        ("I-X", "I-X", True),
        ("I-X", "O", False),
        ("E-X", "B-X", True),
        ("E-X", "S-Y", True),
        ("E-X", "O", True),
        ("E-X", "I-X", False),
        ("E-X", "E-X", False),
        ("S-X", "S-X", True),
        ("S-X", "E-X", False),
    ],
)
def test_allowed_transition_bioes(prev: str, cur: str, expected: bool) -> None:
    assert allowed_transition(prev, cur, "bioes") is expected


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ("O", "U-X", True),
        ("O", "L-X", False),
        ("B-X", "L-X", True),
        ("I-X", "L-X", True),
        ("L-X", "U-X", True),
        ("U-X", "I-X", False),
        ("I-X", "O", False),
    ],
)
def test_allowed_transition_bilou(prev: str, cur: str, expected: bool) -> None:
    assert allowed_transition(prev, cur, "bilou") is expected


def test_allowed_transition_rejects_tag_outside_scheme() -> None:
    with pytest.raises(ValueError, match="'S-X'"):
        allowed_transition("O", "S-X", "iob2")


@pytest.mark.parametrize(
    ("tag", "scheme", "expected"),
    [
        ("O", "iob2", True),
        ("B-X", "iob2", True),
        ("I-X", "iob1", True),
        ("O", "bioes", True),
        ("B-X", "bioes", False),
        ("I-X", "bioes", False),
        ("E-X", "bioes", True),
        ("S-X", "bioes", True),
        ("B-X", "bilou", False),
        ("L-X", "bilou", True),
        ("U-X", "bilou", True),
    ],
)
def test_allowed_end(tag: str, scheme: str, expected: bool) -> None:
    assert allowed_end(tag, scheme) is expected


def test_detect_iob1_despite_stray_begin_tags() -> None:
    # Mostly IOB1 (entities open with I-), plus one B- that follows O, as annotation errors do.
    sequences = [["I-PER", "I-PER", "O"], ["O", "I-LOC"], ["I-ORG", "B-ORG"], ["O", "B-MISC"]]
    assert detect_scheme(sequences) == "iob1"
