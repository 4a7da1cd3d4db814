"""Chunk-level precision, recall and F1 and token accuracy, counted as conlleval.pl counts them.

conlleval.pl (version 2004-01-26, the script of the CoNLL-2000 to CoNLL-2003 shared tasks) finds a
chunk correct when gold and predicted chunks start at the same token, end at the same token and
have the same type. Comparing the sets of half-open spans that ``elman.data.scheme.to_spans``
returns gives the same counts, and "strict" mode does the same with strict spans.

NOTE: conlleval.pl turns the type "0" (as in ``B-0``) into the empty type, because Perl reads the
string "0" as false. Here "0" stays a type of its own, so counts can differ for that type name.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elman.data.scheme import check_mode, normalize_scheme, split_tag, to_spans
from elman.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SEPARATORS = ("auto", "space", "tab")
BOUNDARY = "-X-"
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class TypeScores:
    """Chunk scores of one entity type, with precision, recall and f1 as fractions in [0, 1]."""

    precision: float
    recall: float
    f1: float
    gold: int
    found: int
    correct: int

    def to_dict(self) -> dict[str, Any]:
        """Return the scores as a JSON-ready dict."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "gold": self.gold,
            "found": self.found,
            "correct": self.correct,
        }


@dataclass(frozen=True)
class Scores:
    """Scores of predicted tags against gold tags.

    precision, recall, f1 and accuracy are fractions in [0, 1]. ``gold``, ``found`` and
    ``correct`` count chunks (entities): in the gold tags, in the predicted tags, and predicted
    with the same start, end and type as a gold chunk. ``per_type`` has one entry per type that
    occurs in the gold or the predicted tags.
    """

    precision: float
    recall: float
    f1: float
    accuracy: float
    tokens: int
    correct_tokens: int
    gold: int
    found: int
    correct: int
    per_type: dict[str, TypeScores]
    scheme: str
    mode: str

    def to_dict(self) -> dict[str, Any]:
        """Return the scores as a JSON-ready dict, types in sorted order."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "tokens": self.tokens,
            "per_type": {name: self.per_type[name].to_dict() for name in sorted(self.per_type)},
            "scheme": self.scheme,
            "mode": self.mode,
            "gold": self.gold,
            "found": self.found,
            "correct": self.correct,
        }


def score(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    scheme: str = "iob2",
    mode: str = "conlleval",
) -> Scores:
    """Score predicted tag sequences against gold ones, sentence by sentence.

    Both sides must be written in ``scheme``. ``mode`` is "conlleval" or "strict" (see
    ``elman.data.scheme``). Raises ValueError naming the sentence index (0-based) when the
    sentence counts or the lengths of a sentence differ, or when a tag is invalid in ``scheme``.
    """
    scheme = normalize_scheme(scheme)
    check_mode(mode)
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")

    gold_counts: Counter[str] = Counter()
    found_counts: Counter[str] = Counter()
    correct_counts: Counter[str] = Counter()
    tokens = 0
    correct_tokens = 0
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, pred, strict=True)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"sentence {index}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags"
            )
        gold_spans = set(_sentence_spans(gold_tags, scheme, mode, index, "gold"))
        pred_spans = set(_sentence_spans(pred_tags, scheme, mode, index, "predicted"))
        gold_counts.update(span[2] for span in gold_spans)
        found_counts.update(span[2] for span in pred_spans)
        correct_counts.update(span[2] for span in gold_spans & pred_spans)
        tokens += len(gold_tags)
        correct_tokens += sum(g == p for g, p in zip(gold_tags, pred_tags, strict=True))

    per_type = {
        name: _type_scores(gold_counts[name], found_counts[name], correct_counts[name])
        for name in sorted(gold_counts.keys() | found_counts.keys())
    }
    total = _type_scores(
        sum(gold_counts.values()), sum(found_counts.values()), sum(correct_counts.values())
    )
    return Scores(
        precision=total.precision,
        recall=total.recall,
        f1=total.f1,
        accuracy=_ratio(correct_tokens, tokens),
        tokens=tokens,
        correct_tokens=correct_tokens,
        gold=total.gold,
        found=total.found,
        correct=total.correct,
        per_type=per_type,
        scheme=scheme,
        mode=mode,
    )


def read_score_file(
    path: str | Path, sep: str = "auto"
) -> tuple[list[list[str]], list[list[str]], int]:
    """Read gold and predicted tags from a file in the input format of conlleval.pl.

    Returns (gold sentences, predicted sentences, number of ``-DOCSTART-`` lines). The last two
    columns of a line are the gold and the predicted tag. ``sep`` is "space" (runs of spaces and
    tabs), "tab" (single tabs, so tokens may contain spaces) or "auto" (tab when any line
    contains a tab, else space). CRLF line ends and a UTF-8 byte order mark are accepted.

    Lines are treated as conlleval.pl treats them, so that the counts match its output:

    - A blank line, or a line whose first column is ``-X-``, ends the sentence. It is no token,
      and the tags on a ``-X-`` line are ignored.
    - A ``-DOCSTART-`` line is not special to conlleval.pl: it counts as a token, and so as a
      correct token when both its tags are "O" (CoNLL-2003 dev scores 51,578 tokens, its 51,362
      words plus 216 document lines). It is kept here for that reason, as a token of whatever
      sentence it is in, and counted in the third value returned.
    - Every line must have as many columns as the first non-blank line, as conlleval.pl requires.

    Unlike conlleval.pl, the tags must be valid (see ``split_tag``). Raises DataError with the
    path and line number otherwise, and ConfigError for an unknown ``sep``.
    """
    if sep not in SEPARATORS:
        raise ConfigError(f"unknown separator {sep!r}: expected one of {', '.join(SEPARATORS)}")
    lines = _read_lines(path)
    if sep == "auto":
        sep = "tab" if any("\t" in line for line in lines) else "space"

    gold: list[list[str]] = []
    pred: list[list[str]] = []
    gold_sentence: list[str] = []
    pred_sentence: list[str] = []
    documents = 0
    columns = 0
    first_line = 0
    for number, line in enumerate(lines, start=1):
        fields = _split_fields(line, sep)
        if fields:
            if not columns:
                columns, first_line = len(fields), number
            _check_columns(fields, columns, first_line, path, number)
        if not fields or fields[0] == BOUNDARY:
            if gold_sentence:
                gold.append(gold_sentence)
                pred.append(pred_sentence)
                gold_sentence, pred_sentence = [], []
            continue
        if fields[0] == DOCSTART:
            documents += 1
        gold_sentence.append(_read_tag(fields[-2], "gold", path, number))
        pred_sentence.append(_read_tag(fields[-1], "predicted", path, number))
    if gold_sentence:
        gold.append(gold_sentence)
        pred.append(pred_sentence)
    logger.debug("read %d sentences and %d -DOCSTART- lines from %s", len(gold), documents, path)
    return gold, pred, documents


def _sentence_spans(
    tags: Sequence[str], scheme: str, mode: str, index: int, side: str
) -> list[tuple[int, int, str]]:
    try:
        return to_spans(tags, scheme, mode)
    except ValueError as error:
        raise ValueError(f"sentence {index}, {side} tags: {error}") from error


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _type_scores(gold: int, found: int, correct: int) -> TypeScores:
    precision = _ratio(correct, found)
    recall = _ratio(correct, gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TypeScores(precision, recall, f1, gold, found, correct)


def _read_lines(path: str | Path) -> list[str]:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read the score file: {error.strerror}", path=path) from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError("invalid UTF-8: save the file as UTF-8", path=path, line=line) from error
    # Split on "\n" only: str.splitlines would also break lines at form feeds and U+2028.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _split_fields(line: str, sep: str) -> list[str]:
    if not line.strip():
        return []
    return line.split("\t") if sep == "tab" else line.split()


def _check_columns(
    fields: list[str], columns: int, first_line: int, path: str | Path, number: int
) -> None:
    if len(fields) < 2:
        raise DataError(
            f"found {len(fields)} column, expected at least 2 (the gold and the predicted tag "
            "last); is the separator right? try sep='tab' or sep='space'",
            path=path,
            line=number,
        )
    if len(fields) != columns:
        raise DataError(
            f"found {len(fields)} columns, expected {columns} as on line {first_line}; "
            "is the separator right? try sep='tab' or sep='space'",
            path=path,
            line=number,
        )


def _read_tag(field: str, side: str, path: str | Path, number: int) -> str:
    tag = field.strip()
    try:
        split_tag(tag)
    except ValueError as error:
        raise DataError(f"{side} tag: {error}", path=path, line=number) from error
    return tag
