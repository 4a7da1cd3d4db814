"""Strategies and checks shared by the property-based tests that feed random input to elman.

Every test runs a fixed number of derandomized examples, so a CI run is repeatable. The number is
``ELMAN_FUZZ_EXAMPLES`` (default 100) times the test's own scale factor; ``make fuzz`` raises it.
The only allowed outcomes are a result or an ``ElmanError`` with a message (or a ``ValueError``
where the function documents one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from elman.errors import ElmanError

EXAMPLES = int(os.environ.get("ELMAN_FUZZ_EXAMPLES", "100"))
Result = TypeVar("Result")


def fuzz_settings(scale: float = 1.0) -> settings:
    """Return derandomized settings with ``EXAMPLES * scale`` examples and no deadline."""
    return settings(
        derandomize=True,
        max_examples=max(1, int(EXAMPLES * scale)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def outcome(
    function: Callable[..., Result],
    *args: Any,
    allowed: tuple[type[Exception], ...] = (),
    **kwargs: Any,
) -> Result | None:
    """Call ``function``; return its result, or None when it raised an allowed error.

    ``ElmanError`` is always allowed and ``allowed`` adds documented exception types. An allowed
    error must carry a message. Any other exception propagates and fails the test.
    """
    caught: tuple[type[Exception], ...] = (ElmanError, *allowed)
    try:
        return function(*args, **kwargs)
    except caught as error:
        assert str(error).strip(), f"{type(error).__name__} raised with an empty message"
        return None


# Characters that break naive text handling, in groups that the strategies mix.
COMBINING_MARKS = st.characters(min_codepoint=0x300, max_codepoint=0x36F)
EMOJI = st.sampled_from(
    ["😀", "👍🏽", "👩\u200d💻", "🇳🇴", "❤\ufe0f", "🏳\ufe0f\u200d🌈", "👨\u200d👩\u200d👧", "🇳"]
)
RIGHT_TO_LEFT = st.one_of(
    st.characters(min_codepoint=0x5D0, max_codepoint=0x5EA),
    st.characters(min_codepoint=0x627, max_codepoint=0x64A),
    st.sampled_from(["\u200f", "\u202e", "\u202b", "\u2067", "\u061f", "\u06d4"]),
)
CJK = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
    st.sampled_from(["。", "、", "！", "？", "「", "」", "\u3000"]),
)
ZERO_WIDTH = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
LONE_SURROGATES = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
SEPARATORS = st.sampled_from(
    [
        *(" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\u00a0", "\u2028", "\u2029"),
        *("\x0b", "\x0c", "\x85", "\u3000", "\x1c"),
    ]
)
WORDS = st.sampled_from(
    [
        *("Oslo", "Mara", "Quist", "Mr.", "U.S.", "don't", "Anna's", "1,000.50", "e.g.", "AT&T"),
        *("https://example.com/a_(b)", "www.x.io", "a@b.com", "#tag", "@user", "...", "?!", "."),
        *('"', "'", "(", ")", "--", "-DOCSTART-", "-X-", "B-PER", "I-LOC", "O", "J.", "n't"),
    ]
)
# JSON text that decodes to lone surrogates, a surrogate pair and a stray high surrogate.
JSON_ESCAPES = st.sampled_from(
    ['"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"', '"a\\ud83db"', '"\\udc00\\ud800"']
).map(json.loads)
PIECES = st.one_of(
    WORDS,
    SEPARATORS,
    COMBINING_MARKS,
    EMOJI,
    RIGHT_TO_LEFT,
    CJK,
    ZERO_WIDTH,
    LONE_SURROGATES,
    JSON_ESCAPES,
    st.characters(),
)


def texts(max_pieces: int = 30) -> st.SearchStrategy[str]:
    """Text made of mixed pieces, passed through ``json.dumps`` and ``json.loads`` as a service
    receives it (lone surrogates survive as ``\\udXXX`` escapes)."""
    joined = st.lists(PIECES, max_size=max_pieces).map("".join)
    return joined.map(lambda text: json.loads(json.dumps(text)))


TAG_TYPES = st.sampled_from(["PER", "LOC", "ORG", "MISC", "creative-work", "0", "é"])
VALID_TAGS = st.one_of(
    st.just("O"),
    st.builds("{}-{}".format, st.sampled_from(list("BIESLU")), TAG_TYPES),
)
RANDOM_TAGS = st.one_of(
    VALID_TAGS,
    st.sampled_from(["", "-", "B-", "-PER", "X-PER", "b-per", "BPER", "O-", "B--", "OO", "B-PER "]),
    st.builds("{}-{}".format, st.sampled_from([*"BIESLUOX", "", "BI", " B"]), st.text(max_size=4)),
    st.text(max_size=5),
)


def encode(text: str) -> bytes:
    """Return ``text`` in UTF-8, writing lone surrogates as the invalid bytes they would be."""
    return text.encode("utf-8", "surrogatepass")
