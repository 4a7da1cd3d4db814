"""The parallel format of ATIS and SNIPS: a directory of line-aligned files.

``seq.in`` has one sentence of tokens per line, and ``seq.out`` has the tags of that sentence on the
same line. An optional ``label`` file has the intent of each sentence. Tokens and tags are separated
by runs of whitespace.
"""

from __future__ import annotations

from pathlib import Path

from elman.data.readers import ParseResult, RawSentence, Reader, read_text_lines, register
from elman.errors import DataError

TOKENS_FILE = "seq.in"
TAGS_FILE = "seq.out"
INTENTS_FILE = "label"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _without_trailing_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _read_aligned(path: Path, name: str) -> list[str]:
    return _without_trailing_blank(read_text_lines(path / name))


def _check_line_count(path: Path, name: str, lines: list[str], expected: int) -> None:
    if len(lines) == expected:
        return
    raise DataError(
        f"{_count(len(lines), 'line')}, but {TOKENS_FILE} has {expected}; line N of each file "
        "must belong to the sentence on line N of the others",
        path=path / name,
        line=min(len(lines), expected) + 1,
    )


@register
class ParallelReader(Reader):
    """Reader of ATIS/SNIPS-style directories (``seq.in``, ``seq.out`` and optional ``label``)."""

    name = "parallel"
    description = (
        f"a directory with {TOKENS_FILE} (tokens) and {TAGS_FILE} (tags), one sentence per line, "
        f"and optionally {INTENTS_FILE} (one intent per line)"
    )

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_dir() and (path / TOKENS_FILE).is_file()

    @classmethod
    def source_files(cls, path: Path) -> list[Path]:
        names = [TOKENS_FILE, TAGS_FILE]
        if (path / INTENTS_FILE).is_file():
            names.append(INTENTS_FILE)
        return [path / name for name in names]

    @classmethod
    def tags_file(cls, path: Path) -> Path:
        return path / TAGS_FILE

    def parse(self, path: Path) -> ParseResult:
        if not path.is_dir():
            raise DataError(
                f"expected a directory containing {TOKENS_FILE} and {TAGS_FILE}", path=path
            )
        token_lines = _read_aligned(path, TOKENS_FILE)
        tag_lines = _read_aligned(path, TAGS_FILE)
        _check_line_count(path, TAGS_FILE, tag_lines, len(token_lines))
        intents: list[str] | None = None
        if (path / INTENTS_FILE).is_file():
            intents = _read_aligned(path, INTENTS_FILE)
            _check_line_count(path, INTENTS_FILE, intents, len(token_lines))
        if not token_lines:
            raise DataError("no sentences in the file because it is empty", path=path / TOKENS_FILE)

        sentences: list[RawSentence] = []
        skipped: list[int] = []
        for index, (token_line, tag_line) in enumerate(zip(token_lines, tag_lines, strict=True)):
            intent = None if intents is None else intents[index]
            try:
                sentences.append(_parse_line(path, index + 1, token_line, tag_line, intent))
            except DataError:
                if self.strict:
                    raise
                skipped.append(index + 1)
        return ParseResult(sentences, 1, skipped)


def _parse_line(
    path: Path, number: int, token_line: str, tag_line: str, intent: str | None
) -> RawSentence:
    tokens = token_line.split()
    tags = tag_line.split()
    if not tokens:
        raise DataError(
            "empty line: a sentence needs at least one token", path=path / TOKENS_FILE, line=number
        )
    if len(tags) != len(tokens):
        raise DataError(
            f"{_count(len(tags), 'tag')}, but line {number} of {TOKENS_FILE} has "
            f"{_count(len(tokens), 'token')}; "
            "each token needs exactly one tag",
            path=path / TAGS_FILE,
            line=number,
        )
    if intent is not None:
        intent = intent.strip()
        if not intent:
            raise DataError(
                "empty intent: each sentence needs an intent label",
                path=path / INTENTS_FILE,
                line=number,
            )
    return RawSentence(tuple(tokens), tuple(tags), number, 0, intent, line_step=0)
