"""Random tag strings and tag sequences fed to scheme checks, detection, spans and conversion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from elman.data import scheme as schemes
from tests.fuzz import RANDOM_TAGS, TAG_TYPES, fuzz_settings, outcome

SCHEME_NAMES = st.one_of(
    st.sampled_from([*schemes.SCHEMES, "iobes", "IOB2", " bioes ", "auto", "", "bio"]),
    st.text(max_size=6),
)


def _allows(name: str, tag: str) -> bool:
    try:
        schemes.check_tag(tag, name)
    except ValueError:
        return False
    return True


@st.composite
def scheme_sequences(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A scheme and a tag sequence whose tags are valid in it but may break its order rules."""
    name = draw(st.sampled_from(schemes.SCHEMES))
    prefixes = [prefix for prefix in "BIESLU" if _allows(name, f"{prefix}-X")]
    tag = st.one_of(st.just("O"), st.builds("{}-{}".format, st.sampled_from(prefixes), TAG_TYPES))
    return name, draw(st.lists(tag, max_size=12))


@fuzz_settings(scale=2.0)
@given(tag=RANDOM_TAGS, name=SCHEME_NAMES)
def test_tag_checks_any_string(tag: str, name: str) -> None:
    parts = outcome(schemes.split_tag, tag, allowed=(ValueError,))
    if parts is not None:
        prefix, entity_type = parts
        assert (prefix, entity_type) == ("O", "") or f"{prefix}-{entity_type}" == tag
    canonical = outcome(schemes.normalize_scheme, name, allow_auto=True)
    if canonical is not None and canonical != "auto":
        outcome(schemes.check_tag, tag, canonical, allowed=(ValueError,))


@fuzz_settings(scale=2.0)
@given(sequences=st.lists(st.lists(RANDOM_TAGS, max_size=8), max_size=4))
def test_detect_scheme_any_tags(sequences: list[list[str]]) -> None:
    detected = outcome(schemes.detect_scheme, sequences, allowed=(ValueError,))
    assert detected is None or detected in schemes.SCHEMES


@fuzz_settings(scale=2.0)
@given(tags=st.lists(RANDOM_TAGS, max_size=10), name=st.sampled_from(schemes.SCHEMES))
def test_spans_any_tags(tags: list[str], name: str) -> None:
    for mode in schemes.MODES:
        spans = outcome(schemes.to_spans, tags, name, mode, allowed=(ValueError,))
        for start, end, entity_type in spans or []:
            assert 0 <= start < end <= len(tags)
            assert entity_type
    for target in schemes.SCHEMES:
        converted = outcome(schemes.convert, tags, name, target, allowed=(ValueError,))
        assert converted is None or len(converted) == len(tags)
    outcome(schemes.count_violations, tags, name, allowed=(ValueError,))


@fuzz_settings(scale=2.0)
@given(sequence=scheme_sequences(), target=st.sampled_from(schemes.SCHEMES))
def test_convert_keeps_conlleval_spans(sequence: tuple[str, list[str]], target: str) -> None:
    source, tags = sequence
    converted = schemes.convert(tags, source, target)
    spans = schemes.to_spans(tags, source, "conlleval")
    assert schemes.to_spans(converted, target, "conlleval") == spans
    assert schemes.count_violations(converted, target) == 0
    assert schemes.convert(converted, target, source) == schemes.from_spans(
        spans, len(tags), source
    )


@fuzz_settings(scale=1.0)
@given(sequence=scheme_sequences())
def test_strict_spans_within_conlleval_reading(sequence: tuple[str, list[str]]) -> None:
    name, tags = sequence
    strict = schemes.to_spans(tags, name, "strict")
    ends = [end for _, end, _ in strict]
    assert ends == sorted(ends)
    if schemes.count_violations(tags, name) == 0:
        assert strict == schemes.to_spans(tags, name, "conlleval")
