"""Split raw text into sentences of CoNLL-2003-style tokens that keep their character offsets.

Tokens follow the Penn Treebank conventions of the CoNLL-2003 corpus:

- punctuation is split off, and a run of ``.``, ``!`` or ``?`` (``...``, ``?!``) is one token;
  a run of one other punctuation character (``--``, ``''``) is one token too;
- clitics are split: ``don't`` -> ``do n't``, ``can't`` -> ``ca n't``, ``Anna's`` -> ``Anna 's``
  (also ``'m 're 've 'll 'd`` and the curly apostrophe ``’``);
- hyphenated words (``all-rounder``, ``1996-08-22``), numbers with separators (``1,000.50``,
  ``10:30``, ``3/4``), ``AT&T`` and apostrophes inside names (``O'Neil``) stay whole;
- known abbreviations (``Mr.``, ``Inc.``, ``Jan.``), dotted initialisms (``U.S.``, ``e.g.``) and
  single capital initials (``J.``) keep their period;
- URLs, e-mail addresses, ``name.com`` domains, ``@handles`` and ``#hashtags`` are single tokens;
- an emoji with its modifiers and zero-width-joiner sequence, and a flag, are single tokens.

Separators are the characters for which ``str.isspace()`` is true (``\\u00a0``, ``\\u2028``, ...)
plus U+200B ZERO WIDTH SPACE and U+FEFF, which in real text is nearly always a byte order mark.
Every other character lands in exactly one token, so the tokens, joined, are the text without
its separators. Combining marks and the other format characters (soft hyphen, zero-width joiner,
direction marks) stay attached to the token they follow or precede. Scripts written without
spaces (Chinese, Japanese, Thai) get one token per run of letters, because splitting them needs a
dictionary. Any ``str`` is accepted, lone surrogates included: a character that no rule covers
forms a token with its immediate repeats and the marks that follow it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

# Speed, measured as CPU time on a 2-core x86_64 VM (AMD EPYC, Python 3.11.7, one core, other jobs
# running). The input was 1.07 MB of CoNLL-2003 train sentences, detokenized and joined into
# paragraphs. There tokenize ran at 2.0 to 2.3 MB/s and tokenize_document at 1.7 to 1.9 MB/s.
# On random code points from planes 0 to 2 mixed with spaces, tokenize handled about 0.7 million
# characters per second. About 40% of tokenize's time goes into creating the Token objects.

SEPARATOR_CHARACTERS = "\u200b\ufeff"
"""The separators that ``str.isspace()`` does not cover."""

ABBREVIATIONS = frozenset(
    # Titles, company suffixes, months, U.S. states as news wires write them, and Latin or
    # scholarly short forms. "No" and the states "Ill", "La", "Mass", "Me", "Miss" and "Wash" are
    # left out because they are also words that end ordinary sentences.
    # NOTE: a sentence that really ends with one of these, or with a capital initial ("... plan
    # B. The next"), is joined to the sentence after it.
    [
        "Mr", "Mrs", "Ms", "Messrs", "Mmes", "Dr", "Prof", "Rev", "Hon", "Sr", "Jr", "St", "Mt",
        "Ft", "Gen", "Lt", "Col", "Maj", "Capt", "Cmdr", "Adm", "Sgt", "Gov", "Sen", "Rep", "Pres",
        "Supt",
        "Inc", "Ltd", "Co", "Corp", "Cos", "Bros", "Dept", "Univ", "Assn",
        "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
        "Ala", "Ariz", "Ark", "Calif", "Colo", "Conn", "Del", "Fla", "Ga", "Ind", "Kan", "Ky", "Md",
        "Mich", "Minn", "Mo", "Mont", "Neb", "Nev", "Okla", "Ore", "Pa", "Tenn", "Tex", "Va", "Vt",
        "Wis", "Wyo",
        "vs", "etc", "approx", "cf", "al", "Fig", "Figs", "Vol", "vol", "Nos", "pp",
    ]
)  # fmt: skip
"""Words that keep a following period as part of the token and never end a sentence."""

_TERMINAL_CHARACTERS = ".!?…‽。！？｡"
_QUOTE_CHARACTERS = "\"'`“”‘’„‚«»‹›「」『』"
_CLOSING_TOKENS = frozenset(['"', "'", "''", "”", "’", "»", "›", ")", "]", "}", "」", "』"])


def _escape(code_point: int) -> str:
    return f"\\U{code_point:08x}"


def _attaching_ranges() -> list[tuple[int, int]]:
    """List the inclusive code point ranges of combining marks and format characters.

    Only planes 0, 1 and 14 are scanned: the Unicode roadmap keeps planes 2 and 3 for CJK
    ideographs and 4 to 13 unassigned, and 15 and 16 are private use. Scanning all 1.1 million
    code points at import would cost about 0.15 s.
    """
    ranges: list[tuple[int, int]] = []
    for plane in (0, 1, 14):
        run_start: int | None = None
        # One code point past the plane closes a run that reaches the plane's end.
        for code_point in range(plane * 0x10000, (plane + 1) * 0x10000 + 1):
            char = chr(code_point)
            attaches = (
                code_point < (plane + 1) * 0x10000
                and unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf")
                and char not in SEPARATOR_CHARACTERS
            )
            if attaches and run_start is None:
                run_start = code_point
            elif not attaches and run_start is not None:
                ranges.append((run_start, code_point - 1))
                run_start = None
    return ranges


def _mark_pattern() -> str:
    """Build a pattern of one combining mark or format character.

    The ``re`` engine checks a class with supplementary-plane ranges much more slowly than a class
    of BMP characters, so a cheap lookahead first rejects the characters below the first range
    (all of ASCII among them). Without it the word rule alone ran 1.8 times slower on English.
    """
    ranges = _attaching_ranges()
    body = "".join(f"{_escape(first)}-{_escape(last)}" for first, last in ranges)
    return rf"(?:(?![\x00-{_escape(ranges[0][0] - 1)}])[{body}])"


_EXTRA_SEP = "".join(_escape(ord(char)) for char in SEPARATOR_CHARACTERS)
_SEP = rf"\s{_EXTRA_SEP}"
_MARK = _mark_pattern()

# A run of word characters and marks, where an "n" that starts "n't" at the end of a word does not
# count, so that "don't" stops after "do". Matching runs, not single characters, keeps the number
# of group iterations per word small.
_WORD_CHARS = rf"(?:[^\WnN]+|[nN](?!['’][tT](?!\w))|{_MARK}+)+"
_CLITIC = r"(?:[sSmMdD]|ll|LL|re|RE|ve|VE)(?!\w)"
_JOINER = (
    r"(?:[-\u2010\u2011]"  # hyphen, Unicode hyphen, non-breaking hyphen
    r"|(?<=\d)[.,:/](?=\d)"  # 1,000.50  10:30  3/4
    rf"|['’](?!{_CLITIC})"  # O'Neil, but not Anna's
    r"|(?<=[A-Z])&(?=[A-Z]))"  # AT&T
)
_WORD = rf"{_WORD_CHARS}(?:{_JOINER}{_WORD_CHARS})*"

# Most tokens are words that no other rule extends, so this alternative comes early and takes
# them in one scan. The slower e-mail, domain, abbreviation and currency rules run only for a word
# followed by one of ".@+$". The lookahead with a back-reference makes the match atomic, so that
# when the check after the word fails, the engine does not retry with a shorter word.
_PLAIN_WORD = rf"(?=(?P<word>{_WORD}))(?P=word)(?![.@+$])"

# URLs end before trailing punctuation, but keep a balanced pair of parentheses as in
# "https://en.wikipedia.org/wiki/Bank_(disambiguation)".
_URL_CHAR = rf"[^{_SEP}<>\"()]"
_URL_END = rf"[^{_SEP}<>\"().,;:!?'’”]"
_URL_PARENS = rf"\({_URL_CHAR}*\)"
_URL = rf"(?:(?:https?|ftps?)://|www\.)(?:{_URL_CHAR}|{_URL_PARENS})*(?:{_URL_END}|{_URL_PARENS})"

# Local parts and domain labels are bounded (64 and 63 characters, as RFC 5321 and RFC 1035
# bound them), so that a long run such as "a.a.a.a..." is not rescanned from every token start.
_LABEL = r"\w[\w-]{0,62}"
_EMAIL = rf"[\w.+-]{{1,64}}@{_LABEL}(?:\.{_LABEL}){{1,8}}"
_DOMAIN = rf"(?:{_LABEL}\.){{1,8}}(?:com|org|net|edu|gov|int|mil|info|biz|io)(?!\w)"
_HANDLE = rf"[@#]\w(?:\w|{_MARK})*"

_KNOWN_ABBREVIATION = "|".join(sorted(ABBREVIATIONS, key=len, reverse=True))
_ABBREVIATION = (
    rf"(?:{_KNOWN_ABBREVIATION})\."
    rf"|(?:[^\W\d_]\.){{2,}}(?:-{_WORD})?"  # U.S., e.g., U.S.-led
    r"|[A-Z]\."
    # A list number at the start of a line, as in ranking tables: "2. Michael Schumacher".
    r"|(?<![^\n\r\u2028\u2029])\d{1,3}\.(?=[ \t])"
)

# A number keeps a leading "+" or decimal point ("+44", ".500") when a separator, an opening
# bracket or the start of the text precedes it.
_NUMBER = rf"(?<![^{_SEP}(\[])\+?\.?(?=\d){_WORD}"
_CURRENCY = r"[A-Z]{1,3}\$"  # US$, HK$, C$

_EMOJI_BASE = r"[\u2600-\u27bf\U0001f300-\U0001faff]"
_EMOJI = rf"{_EMOJI_BASE}(?:{_MARK}|[\U0001f3fb-\U0001f3ff]|(?<=\u200d){_EMOJI_BASE})*"
_FLAG = r"[\U0001f1e6-\U0001f1ff]{2}"

_TOKEN = re.compile(
    "|".join(
        [
            _URL,
            _HANDLE,
            _PLAIN_WORD,
            _EMAIL,
            _DOMAIN,
            _ABBREVIATION,
            r"[nN]['’][tT](?!\w)",
            rf"['’]{_CLITIC}",
            _CURRENCY,
            _NUMBER,
            _WORD,
            _FLAG,
            _EMOJI,
            rf"[{re.escape(_TERMINAL_CHARACTERS)}]+{_MARK}*",
            # Any other character, repeated, with the marks that follow it. No alternative
            # matches a separator, and this one matches every character that is not one.
            rf"(?P<other>[^\w{_SEP}])(?P=other)*{_MARK}*",
        ]
    )
)

# Two line breaks (CRLF counts as one) with only separators between them. Both breaks use
# "(?<!\r)\n" so that backtracking cannot split one CRLF into two breaks.
_LINE_BREAK = r"(?:\r\n?|(?<!\r)\n|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])"
_BLANK_LINE = re.compile(
    rf"{_LINE_BREAK}(?:[^\S\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|[{_EXTRA_SEP}])*{_LINE_BREAK}"
)


@dataclass(frozen=True, slots=True)
class Token:
    """A token and its half-open character span ``[start, end)`` in the source text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens such that ``text[token.start:token.end] == token.text``."""
    return [Token(match[0], *match.span()) for match in _TOKEN.finditer(text)]


def split_sentences(tokens: Sequence[Token], text: str) -> list[list[Token]]:
    """Group ``tokens``, given in text order, into sentences of ``text``, the string they index.

    A sentence ends after a run of ``.``, ``!`` or ``?`` (with the closing quotes and brackets
    attached to it) when the next token starts with a quote or a letter that is not lowercase, or
    when no token follows. Uncased letters count, so that Chinese, Arabic or Hebrew text splits
    too. A blank line also ends a sentence. A period after an abbreviation or a single capital
    letter ends nothing. No sentence is empty, and no length limit is applied.
    """
    return list(_sentences(tokens, text, None))


def tokenize_document(text: str) -> list[list[Token]]:
    """Split ``text`` into sentences of tokens with ``tokenize`` and ``split_sentences``."""
    return split_sentences(tokenize(text), text)


def iter_sentences(text: str, max_tokens: int | None = None) -> Iterator[list[Token]]:
    """Yield the sentences of ``text`` one by one, as ``tokenize_document`` returns them.

    Only the current sentence and one token after it are held, so memory does not grow with the
    length of the text. With ``max_tokens``, a sentence is cut after that many tokens and the rest
    continues as a new sentence, which bounds the memory of text without sentence ends. Raises
    ValueError when ``max_tokens`` is below 1.
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"invalid max_tokens {max_tokens}: expected 1 or more, or None")
    tokens = (Token(match[0], *match.span()) for match in _TOKEN.finditer(text))
    return _sentences(tokens, text, max_tokens)


def _sentences(tokens: Iterable[Token], text: str, max_tokens: int | None) -> Iterator[list[Token]]:
    """Group ``tokens`` into sentences by the rules of ``split_sentences``."""
    limit = max_tokens if max_tokens is not None else -1
    stream = iter(tokens)
    sentence: list[Token] = []
    following = next(stream, None)
    while following is not None:
        token = following
        following = next(stream, None)
        if sentence and _is_blank_line_between(text, sentence[-1].end, token.start):
            yield sentence
            sentence = []

        sentence.append(token)
        ends = False
        if _is_terminator(sentence):
            while (
                following is not None
                and _is_attached_closer(sentence[-1], following)
                and len(sentence) != limit
            ):
                sentence.append(following)
                following = next(stream, None)
            ends = following is None or _starts_sentence(following.text)
        if ends or len(sentence) == limit:
            yield sentence
            sentence = []

    if sentence:
        yield sentence


def _is_blank_line_between(text: str, start: int, end: int) -> bool:
    # A gap of one character cannot hold two line breaks, and most gaps are one space.
    return end - start >= 2 and _BLANK_LINE.search(text, start, end) is not None


def _is_terminator(sentence: list[Token]) -> bool:
    """Check whether the last token of ``sentence`` is a run of sentence-final punctuation.

    A period that directly follows an abbreviation or a capital initial is not one. The tokenizer
    attaches such periods, so this case only arises with tokens from another tokenizer.
    """
    word = sentence[-1].text
    if not word or word.strip(_TERMINAL_CHARACTERS):
        return False
    if word != "." or len(sentence) < 2:
        return True

    previous = sentence[-2]
    if previous.end != sentence[-1].start:
        return True
    is_initial = len(previous.text) == 1 and previous.text.isupper()
    return not (is_initial or previous.text in ABBREVIATIONS)


def _is_attached_closer(previous: Token, token: Token) -> bool:
    return token.text in _CLOSING_TOKENS and token.start == previous.end


def _starts_sentence(word: str) -> bool:
    if not word:
        return False
    first = word[0]
    return first in _QUOTE_CHARACTERS or (first.isalpha() and not first.islower())
