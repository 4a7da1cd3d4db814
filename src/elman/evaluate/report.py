"""Score reports: the text layout of conlleval.pl and JSON."""

from __future__ import annotations

import json

from elman.evaluate.metrics import Scores


def format_conlleval(scores: Scores) -> str:
    """Format scores in the layout of conlleval.pl (version 2004-01-26), ending with a newline.

    A first line names the mode and the scheme. The lines after it are those conlleval.pl prints
    for the same counts, digit for digit: percentages are recomputed from the counts in the order
    conlleval.pl computes them, so rounding ties fall the same way. As in conlleval.pl, the
    accuracy line is missing when there are no tokens, and the last number on a type's line is
    the number of chunks *found* (predicted) of that type.
    """
    lines = [
        f"mode: {scores.mode}, scheme: {scores.scheme}",
        f"processed {scores.tokens} tokens with {scores.gold} phrases; "
        f"found: {scores.found} phrases; correct: {scores.correct}.",
    ]
    if scores.tokens > 0:
        accuracy = 100 * scores.correct_tokens / scores.tokens
        precision, recall, f1 = _percentages(scores.gold, scores.found, scores.correct)
        lines.append(
            f"accuracy: {accuracy:6.2f}%; precision: {precision:6.2f}%; "
            f"recall: {recall:6.2f}%; FB1: {f1:6.2f}"
        )
    for name in sorted(scores.per_type):
        counts = scores.per_type[name]
        precision, recall, f1 = _percentages(counts.gold, counts.found, counts.correct)
        lines.append(
            f"{name:>17}: precision: {precision:6.2f}%; recall: {recall:6.2f}%; "
            f"FB1: {f1:6.2f}  {counts.found}"
        )
    return "\n".join(lines) + "\n"


def scores_to_json(scores: Scores) -> str:
    """Return the scores as indented JSON (the layout of ``Scores.to_dict``)."""
    return json.dumps(scores.to_dict(), indent=2, ensure_ascii=False)


def _percentages(gold: int, found: int, correct: int) -> tuple[float, float, float]:
    # Same expressions as conlleval.pl: 100*c/f, then F1 from the two percentages. Computing
    # 100 * (c/f) instead can differ in the last bit and flip a rounding tie.
    precision = 100 * correct / found if found > 0 else 0.0
    recall = 100 * correct / gold if gold > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1
