"""An entity-level confusion matrix of entity types.

Rows are gold types plus ``spurious``, columns predicted types plus ``missed``:

- each gold entity adds 1 to (its type, the type of the predicted entity with the same span), or
  to (its type, ``missed``) when no predicted entity has that span;
- each predicted entity whose span is no gold entity's span adds 1 to (``spurious``, its type).

So the diagonal contains the correct entities as conlleval counts them, a wrong type lands off the
diagonal, and a wrong boundary counts twice: the gold entity as missed and the prediction as
spurious.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elman.data.scheme import to_spans
from elman.errors import ElmanError

MISSED = "missed"
SPURIOUS = "spurious"


@dataclass(frozen=True)
class EntityConfusion:
    """Counts of gold entity types against predicted ones; see the module docstring.

    ``counts[i][j]`` counts row ``rows[i]`` against column ``columns[j]``. ``source`` names the
    data set the counts come from.
    """

    types: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    source: str = ""

    @property
    def rows(self) -> list[str]:
        return [*self.types, SPURIOUS]

    @property
    def columns(self) -> list[str]:
        return [*self.types, MISSED]

    def count(self, gold: str, predicted: str) -> int:
        """Return the count of row ``gold`` (a type or ``spurious``) and column ``predicted``."""
        return self.counts[self.rows.index(gold)][self.columns.index(predicted)]

    def to_dict(self) -> dict[str, Any]:
        """Return the matrix as a JSON-ready dict."""
        return {
            "source": self.source,
            "rows": self.rows,
            "columns": self.columns,
            "counts": [list(row) for row in self.counts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntityConfusion:
        """Rebuild a matrix written by ``to_dict``; raises ElmanError when it is malformed."""
        try:
            rows = [str(row) for row in data["rows"]]
            counts = tuple(tuple(int(value) for value in row) for row in data["counts"])
            source = str(data.get("source", ""))
        except (KeyError, TypeError, ValueError) as error:
            raise ElmanError(f"invalid confusion matrix: {error!r}") from error
        types = tuple(rows[:-1])
        size = len(types) + 1
        if rows[-1:] != [SPURIOUS] or len(counts) != size or any(len(r) != size for r in counts):
            raise ElmanError(
                f"invalid confusion matrix: expected {size} rows of {size} counts, the last row "
                f"named {SPURIOUS!r}; write it again with elman report MODEL --data FILE"
            )
        return cls(types, counts, source)


def entity_confusion(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    scheme: str = "iob2",
    mode: str = "conlleval",
    source: str = "",
) -> EntityConfusion:
    """Count gold entity types against predicted ones, sentence by sentence.

    Raises ValueError when the sentence counts or a sentence's lengths differ, or a tag is invalid
    in ``scheme``.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted sentences")
    pairs: list[tuple[str | None, str | None]] = []
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(
                f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} "
                "predicted tags"
            )
        pairs.extend(_sentence_pairs(gold_tags, predicted_tags, scheme, mode))

    # None stands for "spurious" as a row and "missed" as a column, so a type may have any name.
    types = sorted({name for pair in pairs for name in pair if name is not None})
    last = len(types)
    index_of = {name: i for i, name in enumerate(types)}
    counts = [[0] * (last + 1) for _ in range(last + 1)]
    for gold_type, predicted_type in pairs:
        row = last if gold_type is None else index_of[gold_type]
        column = last if predicted_type is None else index_of[predicted_type]
        counts[row][column] += 1
    return EntityConfusion(tuple(types), tuple(tuple(row) for row in counts), source)


def _sentence_pairs(
    gold_tags: Sequence[str], predicted_tags: Sequence[str], scheme: str, mode: str
) -> list[tuple[str | None, str | None]]:
    """Return (gold type, predicted type) per gold entity and per spurious predicted entity.

    None marks a missed entity (no prediction with the gold span) or a spurious one (no gold
    entity with the predicted span).
    """
    gold_spans = to_spans(gold_tags, scheme, mode)
    predicted_spans = to_spans(predicted_tags, scheme, mode)
    predicted_types = {(start, end): name for start, end, name in predicted_spans}
    gold_keys = {(start, end) for start, end, _ in gold_spans}

    pairs: list[tuple[str | None, str | None]] = [
        (name, predicted_types.get((start, end))) for start, end, name in gold_spans
    ]
    for start, end, name in predicted_spans:
        if (start, end) not in gold_keys:
            pairs.append((None, name))
    return pairs
