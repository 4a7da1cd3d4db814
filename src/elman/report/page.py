"""The report's HTML page: scores, figures (relative links to the PNG files) and configuration.

Every piece of text from the model directory passes through ``html.escape``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1em 0; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


@dataclass(frozen=True)
class Image:
    """A figure on the page: its file name in the report folder and a caption."""

    file: str
    caption: str


def render_page(
    *,
    model: str,
    splits: Mapping[str, Mapping[str, Any]],
    history: Sequence[Mapping[str, float]],
    best_epoch: int,
    config: Mapping[str, Any],
    images: Sequence[Image],
    notes: Sequence[str] = (),
) -> str:
    """Return the whole HTML page.

    ``splits`` maps a data set's name to its scores as ``Scores.to_dict`` writes them.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>elman training report: {escape(model)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Training report: {escape(model)}</h1>",
        f"<p>Best epoch: {best_epoch} of {len(history)} trained.</p>",
        _scores_table(splits),
        *(f"<p>{escape(note)}</p>" for note in notes),
        *(_figure(image) for image in images),
        *(_type_table(name, scores) for name, scores in splits.items()),
        _history_table(history),
        "<h2>Configuration</h2>",
        f"<pre>{escape(json.dumps(config, indent=2, ensure_ascii=False))}</pre>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _scores_table(splits: Mapping[str, Mapping[str, Any]]) -> str:
    if not splits:
        return "<p>No dev or test scores: the model was trained without --dev and --test.</p>"
    rows = [
        "<h2>Scores</h2>",
        "<table>",
        "<tr><th>data</th><th>precision</th><th>recall</th><th>F1</th>"
        "<th>gold entities</th><th>found</th><th>correct</th></tr>",
    ]
    for name, scores in splits.items():
        rows.append(
            f"<tr><td>{escape(name)}</td>{_percent_cells(scores)}"
            f"<td>{_count(scores, 'gold')}</td><td>{_count(scores, 'found')}</td>"
            f"<td>{_count(scores, 'correct')}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _type_table(name: str, scores: Mapping[str, Any]) -> str:
    per_type = scores.get("per_type") or {}
    if not per_type:
        return ""
    rows = [
        f"<h2>Scores per entity type: {escape(name)}</h2>",
        "<table>",
        "<tr><th>type</th><th>precision</th><th>recall</th><th>F1</th>"
        "<th>gold entities</th><th>found</th><th>correct</th></tr>",
    ]
    for type_name in sorted(per_type):
        counts = per_type[type_name]
        rows.append(
            f"<tr><td>{escape(str(type_name))}</td>{_percent_cells(counts)}"
            f"<td>{_count(counts, 'gold')}</td><td>{_count(counts, 'found')}</td>"
            f"<td>{_count(counts, 'correct')}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _history_table(history: Sequence[Mapping[str, float]]) -> str:
    if not history:
        return ""
    scored = any("dev_f1" in record for record in history)  # runs without dev have no column
    rows = [
        "<h2>Epochs</h2>",
        "<table>",
        "<tr><th>epoch</th><th>train loss</th>"
        + ("<th>dev F1</th>" if scored else "")
        + "<th>learning rate</th><th>seconds</th></tr>",
    ]
    for record in history:
        dev_f1 = record.get("dev_f1")
        dev_cell = f"<td>{'' if dev_f1 is None else f'{100 * dev_f1:.2f}'}</td>" if scored else ""
        rows.append(
            f"<tr><td>{int(record.get('epoch', 0))}</td>"
            f"<td>{record.get('train_loss', float('nan')):.4f}</td>"
            f"{dev_cell}"
            f"<td>{record.get('lr', float('nan')):.3g}</td>"
            f"<td>{record.get('seconds', float('nan')):.1f}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _figure(image: Image) -> str:
    source = escape(image.file, quote=True)
    caption = escape(image.caption)
    return (
        f'<figure><img src="{source}" alt="{escape(image.caption, quote=True)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _percent_cells(scores: Mapping[str, Any]) -> str:
    return "".join(
        f"<td>{100 * float(scores.get(key, 0.0)):.2f}</td>" for key in ("precision", "recall", "f1")
    )


def _count(scores: Mapping[str, Any], key: str) -> str:
    value = scores.get(key)
    return "" if value is None else str(int(value))
