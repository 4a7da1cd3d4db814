"""Build the corpus shipped in ``elman`` from the annotated sentences under ``tools/corpus_src``.

Each source file contains one style of text, one sentence per line, with entities written inline
as ``[Mara Quist](PER)``. Blank lines and lines that start with ``#`` are skipped. The script
tokenizes each line with ``elman.tag.tokenize``, the tokenizer that ``elman tag`` applies to raw
text, turns the entity marks into IOB2 tags and writes ``train.conll``, ``dev.conll`` and
``test.conll`` (``token tag`` per line, a blank line after each sentence). Within each style, the
9th sentence of every ten goes to dev, the 10th to test and the rest to train, so the output
depends only on the source files and the tokenizer.

Run it with the project's environment, where ``elman`` is installed, as
``.venv/bin/python tools/build_corpus.py``. The ``--stats`` option prints the tables of the
corpus README.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from elman.tag.tokenize import tokenize

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO / "tools" / "corpus_src"
OUTPUT_DIR = REPO / "src" / "elman" / "resources" / "corpus"

# The order in which the styles are written to each split.
STYLES = ("news", "email", "chat", "bio", "business")
TYPES = ("PER", "ORG", "LOC", "MISC")
SPLITS = ("train", "dev", "test")
MIN_TOKENS = 3
MAX_TOKENS = 40

ENTITY = re.compile(r"\[([^\[\]()]+)\]\((PER|ORG|LOC|MISC)\)")


class SourceError(Exception):
    """A sentence in a source file that cannot be turned into tokens and tags."""

    def __init__(self, message: str, path: Path, line: int) -> None:
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Annotated:
    """One tokenized sentence with its IOB2 tags and the place it was written."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    path: Path
    line: int


def parse_markup(line: str, path: Path, number: int) -> tuple[str, list[tuple[int, int, str]]]:
    """Remove the ``[text](TYPE)`` marks from ``line`` and return the plain text and the spans."""
    pieces: list[str] = []
    spans: list[tuple[int, int, str]] = []
    length = 0
    position = 0
    for match in ENTITY.finditer(line):
        pieces.append(line[position : match.start()])
        length += match.start() - position
        entity = match.group(1)
        if entity != entity.strip():
            raise SourceError(f"entity {entity!r} starts or ends with a space", path, number)
        spans.append((length, length + len(entity), match.group(2)))
        pieces.append(entity)
        length += len(entity)
        position = match.end()
    pieces.append(line[position:])
    plain = "".join(pieces)
    for bracket in "[]":
        if bracket in plain:
            raise SourceError(
                f"stray {bracket!r}: write entities as [text](PER|ORG|LOC|MISC)", path, number
            )
    return plain, spans


def annotate(line: str, path: Path, number: int) -> Annotated:
    """Tokenize one source line and tag its tokens in IOB2."""
    plain, spans = parse_markup(line, path, number)
    tokens = tokenize(plain)
    tags = ["O"] * len(tokens)
    starts = {token.start: index for index, token in enumerate(tokens)}
    ends = {token.end: index for index, token in enumerate(tokens)}
    for start, end, label in spans:
        if start not in starts or end not in ends:
            text = plain[start:end]
            raise SourceError(
                f"entity {text!r} does not start and end on token boundaries, "
                "so mark whole tokens or reword the sentence",
                path,
                number,
            )
        first, last = starts[start], ends[end]
        tags[first] = f"B-{label}"
        for index in range(first + 1, last + 1):
            tags[index] = f"I-{label}"
    if not MIN_TOKENS <= len(tokens) <= MAX_TOKENS:
        raise SourceError(
            f"{len(tokens)} tokens, expected {MIN_TOKENS} to {MAX_TOKENS}: "
            "lengthen, shorten or split the sentence",
            path,
            number,
        )
    return Annotated(tuple(token.text for token in tokens), tuple(tags), path, number)


def read_style(path: Path) -> list[Annotated]:
    """Read and annotate every sentence of one source file."""
    sentences: list[Annotated] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            sentences.append(annotate(line, path, number))
    return sentences


def split_of(index: int) -> str:
    """Return the split of the sentence at 0-based ``index`` within its style."""
    remainder = index % 10
    if remainder == 8:
        return "dev"
    if remainder == 9:
        return "test"
    return "train"


def build(source_dir: Path) -> dict[str, list[Annotated]]:
    """Read every style under ``source_dir`` and distribute its sentences over the splits."""
    splits: dict[str, list[Annotated]] = {name: [] for name in SPLITS}
    seen: dict[tuple[str, ...], Annotated] = {}
    for style in STYLES:
        for index, sentence in enumerate(read_style(source_dir / f"{style}.txt")):
            earlier = seen.setdefault(sentence.tokens, sentence)
            if earlier is not sentence:
                where = f"{earlier.path.name}:{earlier.line}"
                raise SourceError(
                    f"duplicate of {where}, so reword or remove one of them",
                    sentence.path,
                    sentence.line,
                )
            splits[split_of(index)].append(sentence)
    return splits


def render(sentences: list[Annotated]) -> str:
    """Format sentences as CoNLL text: ``token tag`` lines, a blank line after each sentence."""
    blocks = []
    for sentence in sentences:
        lines = [
            f"{token} {tag}" for token, tag in zip(sentence.tokens, sentence.tags, strict=True)
        ]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


def write(splits: dict[str, list[Annotated]], output_dir: Path) -> None:
    """Write one ``<split>.conll`` file per split, UTF-8 with LF line endings."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, sentences in splits.items():
        (output_dir / f"{name}.conll").write_bytes(render(sentences).encode("utf-8"))


def format_stats(splits: dict[str, list[Annotated]]) -> str:
    """Return two Markdown tables: counts per split, and sentences per style and split."""
    return format_split_table(splits) + "\n\n" + format_style_table(splits)


def format_split_table(splits: dict[str, list[Annotated]]) -> str:
    """Return a Markdown table of sentences, tokens and entities per type for each split."""
    keys = ("sentences", "tokens", *TYPES, "no entity")
    rows = ["| split | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    totals: Counter[str] = Counter()
    for name in SPLITS:
        counts = count(splits[name])
        totals.update(counts)
        rows.append(table_row(name, [counts[key] for key in keys]))
    rows.append(table_row("total", [totals[key] for key in keys]))
    return "\n".join(rows)


def format_style_table(splits: dict[str, list[Annotated]]) -> str:
    """Return a Markdown table of the number of sentences of each style in each split."""
    rows = ["| style | " + " | ".join(SPLITS) + " | total |", "|---" * (len(SPLITS) + 2) + "|"]
    for style in STYLES:
        sizes = [sum(s.path.stem == style for s in splits[name]) for name in SPLITS]
        rows.append(table_row(style, [*sizes, sum(sizes)]))
    return "\n".join(rows)


def table_row(name: str, numbers: list[int]) -> str:
    """Format one Markdown table row with thousands separators."""
    return f"| {name} | " + " | ".join(f"{number:,}" for number in numbers) + " |"


def count(sentences: list[Annotated]) -> Counter[str]:
    """Count sentences, tokens, entities per type and sentences without any entity."""
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts["sentences"] += 1
        counts["tokens"] += len(sentence.tokens)
        beginnings = [tag[2:] for tag in sentence.tags if tag.startswith("B-")]
        counts.update(beginnings)
        if not beginnings:
            counts["no entity"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Build the corpus files and return the process exit status."""
    parser = argparse.ArgumentParser(
        description="Build the corpus shipped in elman from tools/corpus_src."
    )
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="folder of <style>.txt")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="folder for the .conll")
    parser.add_argument("--stats", action="store_true", help="print the counts as Markdown")
    args = parser.parse_args(argv)
    try:
        splits = build(args.source)
    except (SourceError, OSError) as error:
        print(f"build_corpus: {error}", file=sys.stderr)
        return 1
    write(splits, args.output)
    if args.stats:
        print(format_stats(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
