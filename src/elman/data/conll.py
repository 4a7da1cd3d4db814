"""The CoNLL column format: one token per line, fields in columns, a blank line after each sentence.

A line whose first field is ``-DOCSTART-`` starts a new document and is neither a token nor a
sentence. Columns are separated by tabs or by runs of whitespace (``sep``). Every data line must
have as many fields as the first one, so a token that contains a space is reported instead of
shifting the columns after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elman.data.readers import ParseResult, RawSentence, Reader, read_text_lines, register
from elman.errors import ConfigError, DataError

DOCSTART = "-DOCSTART-"
SEPARATORS = ("auto", "space", "tab")
SEP_HINT = "try sep='tab' (--sep tab on the command line)"


@dataclass(slots=True)
class Block:
    """The consecutive data lines of one sentence, with the number of the first line."""

    line: int
    lines: list[str]
    document: int


@dataclass(frozen=True, slots=True)
class Layout:
    """The column layout that the first data line fixes for the whole file."""

    fields: int
    first_line: int
    token_column: int
    label_column: int | None
    separator: str


def _split_tab(line: str) -> list[str]:
    return line.split("\t")


def _split_space(line: str) -> list[str]:
    return line.split()


def _is_docstart(line: str) -> bool:
    stripped = line.lstrip()
    if not stripped.startswith(DOCSTART):
        return False
    return len(stripped) == len(DOCSTART) or stripped[len(DOCSTART)].isspace()


def split_blocks(lines: list[str]) -> tuple[list[Block], int]:
    """Group data lines into sentences and return them with the number of documents.

    A document that ends up with no sentence (two ``-DOCSTART-`` lines in a row) is not counted.
    """
    blocks: list[Block] = []
    current: list[str] = []
    start = 0
    document = 0
    document_has_sentences = False
    for number, line in enumerate(lines, start=1):
        blank = not line.strip()
        docstart = not blank and _is_docstart(line)
        if blank or docstart:
            if current:
                blocks.append(Block(start, current, document))
                current = []
                document_has_sentences = True
            if docstart and document_has_sentences:
                document += 1
                document_has_sentences = False
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        blocks.append(Block(start, current, document))
        document_has_sentences = True
    return blocks, document + int(document_has_sentences)


@register
class ConllReader(Reader):
    """Reader of column files such as CoNLL-2003 (``token POS chunk tag``) and WNUT-17.

    ``sep`` is ``"tab"``, ``"space"`` (runs of whitespace) or ``"auto"``: tab when any data line
    contains a tab. ``column`` is the index of the tag column (negative counts from the end) and
    ``token_column`` that of the token. With ``labelled`` off the file is text to tag: only the
    token column is read and every sentence has ``tags=None``.
    """

    name = "conll"
    description = "a file with one token per line in columns and a blank line after each sentence"

    def __init__(
        self,
        *,
        scheme: str = "auto",
        strict: bool = True,
        sep: str = "auto",
        column: int = -1,
        token_column: int = 0,
        labelled: bool = True,
    ) -> None:
        super().__init__(scheme=scheme, strict=strict)
        if sep not in SEPARATORS:
            raise ConfigError(f"invalid separator {sep!r}; choose one of {', '.join(SEPARATORS)}")
        self.sep = sep
        self.column = column
        self.token_column = token_column
        self.labelled = labelled

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file()

    def parse(self, path: Path) -> ParseResult:
        lines = read_text_lines(path)
        blocks, documents = split_blocks(lines)
        if not blocks:
            raise DataError(
                "no sentences in the file; it is empty or contains only blank lines and "
                f"{DOCSTART} lines, but a corpus needs one token per line and a blank line after "
                "each sentence",
                path=path,
            )
        separator = self._resolve_separator(lines)
        split = _split_tab if separator == "tab" else _split_space
        layout = self._layout(blocks, split, separator, path)

        sentences: list[RawSentence] = []
        skipped: list[int] = []
        for block in blocks:
            try:
                sentences.append(self._parse_block(block, split, layout, path))
            except DataError:
                if self.strict:
                    raise
                skipped.append(block.line)
        return ParseResult(sentences, documents, skipped)

    def _resolve_separator(self, lines: list[str]) -> str:
        if self.sep != "auto":
            return self.sep
        has_tab = any("\t" in line for line in lines if line.strip())
        return "tab" if has_tab else "space"

    def _layout(
        self, blocks: list[Block], split: Callable[[str], list[str]], separator: str, path: Path
    ) -> Layout:
        """Return the layout of the first data line, after checking the column settings.

        A labelled corpus needs two fields, so when the first data line has one, the first line
        with more sets the layout, and the file is rejected only if no such line exists.
        """
        numbered = (
            (block.line + i, line) for block in blocks for i, line in enumerate(block.lines)
        )
        first_line, first = next(numbered)
        count = len(split(first))
        if self.labelled and count == 1:
            wider = next(
                ((number, line) for number, line in numbered if len(split(line)) > 1), None
            )
            if wider is None:
                message = (
                    "1 field per line: no label column; a labelled corpus needs the token and its "
                    "tag on each line, such as 'Oslo B-LOC' (to read text to tag, use "
                    "labelled=False)"
                )
                if separator == "tab" and len(first.split()) > 1:
                    message += ". The lines contain spaces but no tabs: try sep='space'"
                raise DataError(message, path=path, line=first_line)
            first_line, first = wider
            count = len(split(first))

        token_column = _column_index(self.token_column, count, "token_column", path, first_line)
        if not self.labelled:
            return Layout(count, first_line, token_column, None, separator)
        label_column = _column_index(self.column, count, "column", path, first_line)
        if label_column == token_column:
            raise ConfigError(
                f"column {self.column} and token_column {self.token_column} both select column "
                f"{label_column} of {count}; set column to the index of the tag column"
            )
        return Layout(count, first_line, token_column, label_column, separator)

    def _parse_block(
        self, block: Block, split: Callable[[str], list[str]], layout: Layout, path: Path
    ) -> RawSentence:
        tokens: list[str] = []
        tags: list[str] = []
        for offset, line in enumerate(block.lines):
            number = block.line + offset
            fields = split(line)
            if len(fields) != layout.fields:
                raise DataError(_field_count_message(line, fields, layout), path=path, line=number)
            token = fields[layout.token_column]
            if not token:
                raise DataError(f"empty token in {line!r}", path=path, line=number)
            tokens.append(token)
            if layout.label_column is not None:
                tags.append(fields[layout.label_column].strip())
        labels = tuple(tags) if layout.label_column is not None else None
        return RawSentence(tuple(tokens), labels, block.line, block.document)


def _column_index(column: int, count: int, setting: str, path: Path, line: int) -> int:
    """Return ``column`` as an index from 0, or raise when a line of ``count`` fields lacks it."""
    if -count <= column < count:
        return column % count
    raise DataError(
        f"{setting}={column} does not exist: the lines have {count} fields, so use an index from "
        f"0 to {count - 1}, or a negative one to count from the end",
        path=path,
        line=line,
    )


def _field_count_message(line: str, fields: list[str], layout: Layout) -> str:
    found = len(fields)
    expected = layout.fields
    where = f"as on line {layout.first_line}"
    if found > expected:
        if layout.separator == "tab":
            return (
                f"{found} fields, expected {expected} ({where}); columns are separated by tabs, "
                "so a tab inside a token or a trailing tab adds a field"
            )
        return (
            f"{found} fields, expected {expected} ({where}); is the separator a tab? {SEP_HINT}, "
            "because a token that contains a space needs tab-separated columns"
        )
    message = f"expected {expected} fields, found {found} ({where}); is a separator missing?"
    if layout.separator == "tab" and len(line.split()) == expected:
        message += (
            " This line separates its columns with spaces, but the file also has tabs: use one "
            "separator in the whole file, or sep='space' (--sep space on the command line) if no "
            "token contains a space"
        )
    if layout.separator == "space" and line[:1].isspace():
        message += (
            " The line starts with whitespace, but in space-separated columns a token cannot be "
            f"a space: {SEP_HINT}"
        )
    return message
