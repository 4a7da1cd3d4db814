"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

The figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, not with pyplot, so no
display is needed and no global figure state is shared between threads.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from elman.report.confusion import EntityConfusion

DPI = 100


def loss_plot(history: Sequence[Mapping[str, float]], best_epoch: int) -> bytes:
    """Draw the mean training loss per token for each epoch, marking the best epoch."""
    figure, axes = _figure(6.4, 4.0)
    epochs = [int(record["epoch"]) for record in history]
    axes.plot(epochs, [record["train_loss"] for record in history], marker="o", label="train loss")
    _epoch_axis(axes, best_epoch)
    axes.set_xlabel("epoch")
    axes.set_ylabel("mean loss per token")
    axes.set_title("Training loss")
    axes.legend()
    return _png(figure)


def dev_scores_plot(history: Sequence[Mapping[str, float]], best_epoch: int) -> bytes:
    """Draw dev precision, recall and F1 (percent) for each epoch, marking the best epoch."""
    figure, axes = _figure(6.4, 4.0)
    records = [record for record in history if "dev_f1" in record]
    epochs = [int(record["epoch"]) for record in records]
    for key, label in (("dev_f1", "F1"), ("dev_precision", "precision"), ("dev_recall", "recall")):
        style = "-" if key == "dev_f1" else ":"
        values = [100 * record.get(key, float("nan")) for record in records]
        axes.plot(epochs, values, style, marker="o", label=label)
    _epoch_axis(axes, best_epoch)
    axes.set_xlabel("epoch")
    axes.set_ylabel("percent")
    axes.set_title("Dev scores")
    axes.legend()
    return _png(figure)


def type_f1_plot(splits: Mapping[str, Mapping[str, float]]) -> bytes:
    """Draw grouped bars of F1 (percent) per entity type, one bar colour per data set.

    ``splits`` maps a data set's name to {type: F1 as a fraction}.
    """
    types = sorted({name for scores in splits.values() for name in scores})
    width = min(max(6.4, 1.0 + 0.5 * len(types) * max(len(splits), 1)), 16.0)
    figure, axes = _figure(width, 4.0)
    bar_width = 0.8 / max(len(splits), 1)
    for offset, (split, scores) in enumerate(splits.items()):
        shift = (offset - (len(splits) - 1) / 2) * bar_width
        positions = [i + shift for i in range(len(types))]
        values = [100 * scores.get(name, 0.0) for name in types]
        bars = axes.bar(positions, values, bar_width, label=split)
        axes.bar_label(bars, fmt="%.1f", fontsize=8)
    axes.set_xticks(range(len(types)), types, rotation=30 if len(types) > 6 else 0, ha="right")
    axes.set_ylabel("F1 (percent)")
    axes.set_ylim(0, 105)
    axes.set_title("F1 per entity type")
    axes.legend()
    figure.tight_layout()
    return _png(figure)


def confusion_plot(confusion: EntityConfusion) -> bytes:
    """Draw the entity confusion matrix as a heat map with the count in each cell."""
    rows, columns = confusion.rows, confusion.columns
    size = 1.5 + 0.7 * len(columns)
    figure, axes = _figure(size + 1.0, size)
    image = axes.imshow(confusion.counts, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("predicted type")
    axes.set_ylabel("gold type")
    title = "Entity confusion"
    axes.set_title(f"{title} ({confusion.source})" if confusion.source else title)
    largest = max((value for row in confusion.counts for value in row), default=0)
    for i, row in enumerate(confusion.counts):
        for j, value in enumerate(row):
            colour = "white" if largest and value > largest / 2 else "black"
            axes.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    return _png(figure)


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _epoch_axis(axes: Axes, best_epoch: int) -> None:
    """Put whole epochs on the x axis and draw a line at the best epoch."""
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if best_epoch > 0:
        axes.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch ({best_epoch})")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
