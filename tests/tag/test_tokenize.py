"""Tests of the raw-text tokenizer and sentence splitter."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elman.tag.tokenize import Token, split_sentences, tokenize, tokenize_document

# The separator set that the tokenizer documents: str.isspace() plus ZERO WIDTH SPACE and the
# byte order mark.
SEPARATORS = frozenset(
    [*(char for char in map(chr, range(sys.maxunicode + 1)) if char.isspace()), "\u200b", "\ufeff"]
)
REMOVE_SEPARATORS = dict.fromkeys(map(ord, SEPARATORS))


def texts(text: str) -> list[str]:
    return [token.text for token in tokenize(text)]


def sentence_texts(text: str) -> list[list[str]]:
    return [[token.text for token in sentence] for sentence in tokenize_document(text)]


def check_tokens(text: str, tokens: list[Token]) -> None:
    """Assert the offset, emptiness, separator, order and coverage invariants of ``tokens``."""
    for token in tokens:
        assert text[token.start : token.end] == token.text, token
        assert token.text, token
        assert SEPARATORS.isdisjoint(token.text), token
    for before, after in itertools.pairwise(tokens):
        assert before.end <= after.start, (before, after)
    assert "".join(token.text for token in tokens) == text.translate(REMOVE_SEPARATORS)


# Fragments that reach the special rules: clitics, abbreviations, numbers, URLs, e-mail addresses,
# handles, emoji sequences, marks, format characters, separators and lone surrogates.
FRAGMENTS = [
    "a", "N", "n", "n't", "N'T", "'s", "’", "'", "don", "t", "Mr", "U", ".", "!", "?", "...",
    "-", ",", ":", "/", "&", "+", "$", "@", "#", "1", "99", "http", "://", "www", "com", "(",
    ")", '"', "\u0301", "\u00ad", "\u200d", "\u200e", "\ufe0f", "👍", "🏽", "🇳", "東京", "\ud800",
    " ", "\n", "\r\n", "\t", "\u00a0", "\u2028", "\u2029", "\u200b", "\ufeff", "\x1c", "\x85",
]  # fmt: skip


class TestTokenize:
    def test_sentence_offsets(self) -> None:
        assert tokenize("Hi, I am Data Blogger.") == [
            Token("Hi", 0, 2),
            Token(",", 2, 3),
            Token("I", 4, 5),
            Token("am", 6, 8),
            Token("Data", 9, 13),
            Token("Blogger", 14, 21),
            Token(".", 21, 22),
        ]

    def test_ptb_money_dates_abbreviations(self) -> None:
        text = "Mr. Smith paid $1,000.50 on 1996-08-22 to U.S. Steel Inc. in New York."
        assert tokenize(text) == [
            Token("Mr.", 0, 3),
            Token("Smith", 4, 9),
            Token("paid", 10, 14),
            Token("$", 15, 16),
            Token("1,000.50", 16, 24),
            Token("on", 25, 27),
            Token("1996-08-22", 28, 38),
            Token("to", 39, 41),
            Token("U.S.", 42, 46),
            Token("Steel", 47, 52),
            Token("Inc.", 53, 57),
            Token("in", 58, 60),
            Token("New", 61, 64),
            Token("York", 65, 69),
            Token(".", 69, 70),
        ]

    def test_clitics_split(self) -> None:
        assert tokenize("I don't know, it's Anna's.") == [
            Token("I", 0, 1),
            Token("do", 2, 4),
            Token("n't", 4, 7),
            Token("know", 8, 12),
            Token(",", 12, 13),
            Token("it", 14, 16),
            Token("'s", 16, 18),
            Token("Anna", 19, 23),
            Token("'s", 23, 25),
            Token(".", 25, 26),
        ]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("can't", ["ca", "n't"]),
            ("won't", ["wo", "n't"]),
            ("DON'T", ["DO", "N'T"]),
            ("don’t", ["do", "n’t"]),
            ("I'm", ["I", "'m"]),
            ("we're", ["we", "'re"]),
            ("you've", ["you", "'ve"]),
            ("they'll", ["they", "'ll"]),
            ("she'd", ["she", "'d"]),
            ("Anna’s", ["Anna", "’s"]),
            ("JONES'S", ["JONES", "'S"]),
            ("the players' union", ["the", "players", "'", "union"]),
            ("O'Neil's", ["O'Neil", "'s"]),
            ("rock'n'roll", ["rock'n'roll"]),
            ("'Hello'", ["'", "Hello", "'"]),
            ("n't", ["n't"]),
            ("don'ts", ["don'ts"]),
        ],
    )
    def test_clitic_table(self, text: str, expected: list[str]) -> None:
        assert texts(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("all-rounder", ["all-rounder"]),
            ("New York-based", ["New", "York-based"]),
            ("well-", ["well", "-"]),
            ("3.5", ["3.5"]),
            ("10:30", ["10:30"]),
            ("3/4", ["3/4"]),
            ("in 1996.", ["in", "1996", "."]),
            ("50%", ["50", "%"]),
            ("AT&T", ["AT&T"]),
            ("call +44 20", ["call", "+44", "20"]),
            ("averaged .500", ["averaged", ".500"]),
            ("3-4", ["3-4"]),
            ("US$ 5", ["US$", "5"]),
            ("foo_bar", ["foo_bar"]),
            ("a--b", ["a", "--", "b"]),
            ("``quoted''", ["``", "quoted", "''"]),
        ],
    )
    def test_word_and_number_table(self, text: str, expected: list[str]) -> None:
        assert texts(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("e.g. this", ["e.g.", "this"]),
            ("i.e. that", ["i.e.", "that"]),
            ("at 5 p.m. sharp", ["at", "5", "p.m.", "sharp"]),
            ("U.S.A. and U.N.", ["U.S.A.", "and", "U.N."]),
            ("U.S.-led talks", ["U.S.-led", "talks"]),
            ("J. R. R. Tolkien", ["J.", "R.", "R.", "Tolkien"]),
            ("Dr.Watson", ["Dr.", "Watson"]),
            ("Mrs. Hudson", ["Mrs.", "Hudson"]),
            ("Drive.", ["Drive", "."]),
            ("Boston, Mass.", ["Boston", ",", "Mass", "."]),
            ("Oakland, Calif.", ["Oakland", ",", "Calif."]),
            ("1. Schumacher\n2. Hill", ["1.", "Schumacher", "2.", "Hill"]),
            ("He is no. 1", ["He", "is", "no", ".", "1"]),
        ],
    )
    def test_abbreviation_table(self, text: str, expected: list[str]) -> None:
        assert texts(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "Write to jane.doe+ner@example.co.uk today.",
                ["Write", "to", "jane.doe+ner@example.co.uk", "today", "."],
            ),
            ("See https://example.com/a?b=1.", ["See", "https://example.com/a?b=1", "."]),
            ("(http://x.org/a), then", ["(", "http://x.org/a", ")", ",", "then"]),
            (
                "https://en.wikipedia.org/wiki/Bank_(disambiguation).",
                ["https://en.wikipedia.org/wiki/Bank_(disambiguation)", "."],
            ),
            ("Visit www.example.org!", ["Visit", "www.example.org", "!"]),
            ("ftp://files.example.net/x.tar.gz", ["ftp://files.example.net/x.tar.gz"]),
            ("Amazon.com Inc.", ["Amazon.com", "Inc."]),
            ("@data_blogger and #NER2024!", ["@data_blogger", "and", "#NER2024", "!"]),
            ("Thanks @anna.", ["Thanks", "@anna", "."]),
            ("http://", ["http", ":", "//"]),
        ],
    )
    def test_web_token_table(self, text: str, expected: list[str]) -> None:
        assert texts(text) == expected

    def test_unicode_separators(self) -> None:
        assert tokenize("\u00a0Oslo\u200bBergen") == [Token("Oslo", 1, 5), Token("Bergen", 6, 12)]

    def test_byte_order_mark_separates(self) -> None:
        assert tokenize("\ufeffHello") == [Token("Hello", 1, 6)]

    def test_line_and_paragraph_separators(self) -> None:
        assert texts("a\u2028b\u2029c\x85d") == ["a", "b", "c", "d"]

    def test_empty_text(self) -> None:
        assert tokenize("") == []

    def test_whitespace_only_text(self) -> None:
        assert tokenize("   \n\t") == []

    def test_punctuation_only_text(self) -> None:
        assert texts("|*!*|") == ["|", "*", "!", "*", "|"]

    def test_emoticon(self) -> None:
        assert texts(":-)") == [":", "-", ")"]

    def test_combining_marks_stay_attached(self) -> None:
        assert texts("cafe\u0301 हिन्दी") == ["cafe\u0301", "हिन्दी"]

    def test_soft_hyphen_stays_inside_word(self) -> None:
        assert texts("co\u00adoperate") == ["co\u00adoperate"]

    def test_direction_mark_attaches_to_word(self) -> None:
        assert texts("\u200fשלום עולם") == ["\u200fשלום", "עולם"]

    def test_emoji_sequences(self) -> None:
        text = "👍🏽 ok 👨\u200d👩\u200d👧 🇳🇴 ❤\ufe0f 1\ufe0f\u20e3 😀😀"
        assert texts(text) == [
            "👍🏽",
            "ok",
            "👨\u200d👩\u200d👧",
            "🇳🇴",
            "❤\ufe0f",
            "1\ufe0f\u20e3",
            "😀",
            "😀",
        ]

    def test_cjk_run_is_one_token(self) -> None:
        assert texts("東京大学へ行きました。") == ["東京大学へ行きました", "。"]

    def test_lone_surrogates(self) -> None:
        assert tokenize("\ud800x\udfff") == [
            Token("\ud800", 0, 1),
            Token("x", 1, 2),
            Token("\udfff", 2, 3),
        ]

    def test_assigned_planes_covered(self) -> None:
        # Every code point of planes 0 to 3 and 14, which hold all assigned characters, and the
        # edges of the unassigned and private-use planes 4 to 13 and 15 to 16.
        code_points = [*range(0x40000), *range(0xE0000, 0xF0000)]
        for plane in [*range(4, 14), 15, 16]:
            code_points += [*range(plane * 0x10000, plane * 0x10000 + 256)]
            code_points += [*range((plane + 1) * 0x10000 - 256, (plane + 1) * 0x10000)]
        text = "".join(map(chr, code_points))
        check_tokens(text, tokenize(text))

    @pytest.mark.parametrize(
        "unit", ["a.", "a@", "a@b-", "x.y@", "http://.", "http://a(", "ab-", "n't", "1.", "(("]
    )
    def test_repeated_pattern_linear_time(self, unit: str) -> None:
        # A rule that rescanned the rest of a long run from every token start would need
        # minutes on 200,000 characters. Linear rules need well under a second.
        text = unit * (200_000 // len(unit))
        started = time.perf_counter()
        tokens = tokenize(text)
        elapsed = time.perf_counter() - started
        check_tokens(text, tokens)
        assert elapsed < 10.0, f"{elapsed:.1f} s for {len(text)} characters of {unit!r}"

    @settings(derandomize=True, max_examples=300, deadline=None)
    @given(st.text(st.characters(codec=None)))
    def test_invariants_any_text(self, text: str) -> None:
        check_tokens(text, tokenize(text))

    @settings(derandomize=True, max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
    def test_invariants_rule_fragments(self, text: str) -> None:
        check_tokens(text, tokenize(text))


class TestSplitSentences:
    def test_two_sentences_with_offsets(self) -> None:
        assert tokenize_document("Hi, I am Data Blogger. How are you?") == [
            [
                Token("Hi", 0, 2),
                Token(",", 2, 3),
                Token("I", 4, 5),
                Token("am", 6, 8),
                Token("Data", 9, 13),
                Token("Blogger", 14, 21),
                Token(".", 21, 22),
            ],
            [
                Token("How", 23, 26),
                Token("are", 27, 30),
                Token("you", 31, 34),
                Token("?", 34, 35),
            ],
        ]

    def test_abbreviations_do_not_split(self) -> None:
        text = "Mr. Smith paid $1,000.50 on 1996-08-22 to U.S. Steel Inc. in New York."
        assert len(tokenize_document(text)) == 1

    def test_initials_and_latin_do_not_split(self) -> None:
        text = "Dr. Watson met J. Smith, e.g. Ms. Hudson, at 5 p.m. Tuesday."
        assert len(tokenize_document(text)) == 1

    def test_punctuation_runs(self) -> None:
        assert sentence_texts("Wait... What?! OK.") == [
            ["Wait", "..."],
            ["What", "?!"],
            ["OK", "."],
        ]

    def test_lowercase_continues_sentence(self) -> None:
        assert len(tokenize_document("It rained. and then it stopped.")) == 1

    def test_digit_continues_sentence(self) -> None:
        assert len(tokenize_document("Sales rose in 1996. 1997 was worse.")) == 1

    def test_closing_quote_stays_in_sentence(self) -> None:
        assert sentence_texts('"Stop!" He left.') == [['"', "Stop", "!", '"'], ["He", "left", "."]]

    def test_quote_inside_sentence_no_split(self) -> None:
        assert len(tokenize_document('He said "Stop!" and left.')) == 1

    def test_opening_quote_starts_sentence(self) -> None:
        assert sentence_texts('He left. "Go home," she said.') == [
            ["He", "left", "."],
            ['"', "Go", "home", ",", '"', "she", "said", "."],
        ]

    def test_closing_bracket_stays_in_sentence(self) -> None:
        assert sentence_texts("(It works.) Then") == [["(", "It", "works", ".", ")"], ["Then"]]

    @pytest.mark.parametrize("gap", ["\n\n", "\r\n\r\n", "\n \t\n", "\n\u200b\n", "\r\r"])
    def test_blank_line_splits(self, gap: str) -> None:
        assert sentence_texts(f"first line{gap}second line") == [
            ["first", "line"],
            ["second", "line"],
        ]

    @pytest.mark.parametrize("gap", ["\n", "\r\n", " \n ", "  "])
    def test_single_line_break_continues(self, gap: str) -> None:
        assert len(tokenize_document(f"first line{gap}second line")) == 1

    def test_cjk_sentences(self) -> None:
        assert sentence_texts("東京に行きました。次は大阪です。") == [
            ["東京に行きました", "。"],
            ["次は大阪です", "。"],
        ]

    def test_split_tokens_from_other_tokenizer(self) -> None:
        text = "Mr. Smith left. He came back."
        tokens = [
            Token("Mr", 0, 2),
            Token(".", 2, 3),
            Token("Smith", 4, 9),
            Token("left", 10, 14),
            Token(".", 14, 15),
            Token("He", 16, 18),
            Token("came", 19, 23),
            Token("back", 24, 28),
            Token(".", 28, 29),
        ]
        assert split_sentences(tokens, text) == [tokens[:5], tokens[5:]]

    def test_no_tokens(self) -> None:
        assert split_sentences([], "") == []

    def test_empty_document(self) -> None:
        assert tokenize_document("") == []

    def test_whitespace_only_document(self) -> None:
        assert tokenize_document("   \n\t") == []

    def test_punctuation_only_document(self) -> None:
        assert sentence_texts("|*!*|") == [["|", "*", "!", "*", "|"]]

    def test_emoticon_document(self) -> None:
        assert sentence_texts(":-)") == [[":", "-", ")"]]

    def test_long_text_without_punctuation(self) -> None:
        words = [f"word{index}" for index in range(3000)]
        sentences = tokenize_document(" ".join(words))
        assert len(sentences) == 1
        assert [token.text for token in sentences[0]] == words

    @settings(derandomize=True, max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from([*FRAGMENTS, "He", "Mr.", "\n\n", '"']), max_size=60))
    def test_sentences_partition_tokens(self, fragments: list[str]) -> None:
        text = "".join(fragments)
        sentences = tokenize_document(text)
        assert all(sentences), sentences
        assert [token for sentence in sentences for token in sentence] == tokenize(text)


def test_conll2003_tokens_reproduced(shared_data: Path) -> None:
    # Joining the gold tokens of a CoNLL-2003 sentence with spaces and tokenizing again should
    # give the gold tokens back. About 0.7% of dev sentences differ, because the corpus keeps
    # tokens such as "1=" in ranking tables, "6-" in scores and the typo "low.In" whole.
    sentences: list[list[str]] = []
    words: list[str] = []
    lines = (shared_data / "conll2003" / "dev.txt").read_text(encoding="utf-8").splitlines()
    for line in [*lines, ""]:
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            words.append(fields[0])
        elif words:
            sentences.append(words)
            words = []

    reproduced = sum(texts(" ".join(sentence)) == sentence for sentence in sentences)
    assert len(sentences) == 3250
    assert reproduced / len(sentences) >= 0.99, f"{reproduced} of {len(sentences)} reproduced"
