"""Write a model's training report: PNG figures and report.html in MODEL/report.

The figures come from scores.json (per-epoch history, dev and test scores) and from an entity
confusion matrix. ``elman train`` computes that matrix from its final dev predictions (test when
there is no dev set) and stores it in report/confusion.json. ``elman report MODEL --data FILE``
replaces it with one computed on FILE. Every file is written atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elman import atomic
from elman.errors import ElmanError, ModelError
from elman.report import plots
from elman.report.confusion import EntityConfusion, entity_confusion
from elman.report.page import Image, render_page
from elman.store import read_json_object, verify_manifest

logger = logging.getLogger(__name__)

REPORT_FOLDER = "report"
CONFUSION_FILE = "confusion.json"
PAGE_FILE = "report.html"

TagPairs = tuple[Sequence[Sequence[str]], Sequence[Sequence[str]]]
"""Gold and predicted IOB2 tags of the same sentences."""


def write_report(
    model_dir: str | Path,
    *,
    confusion: EntityConfusion | None = None,
    evaluated: tuple[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write the figures and report.html into MODEL/report; return the path of report.html.

    ``confusion`` replaces the stored confusion matrix; without it the stored one is drawn, if
    any. ``evaluated`` is (name, ``Scores.to_dict()``) of a further data set to show.
    """
    directory = Path(model_dir)
    if not directory.is_dir():
        raise ModelError(
            f"{directory}: model directory not found; pass the --output of elman train"
        )
    verify_manifest(directory)
    config = read_json_object(directory / "config.json")
    scores = read_json_object(directory / "scores.json")
    folder = directory / REPORT_FOLDER

    history = _history(scores, directory)
    best_epoch = int(scores.get("best_epoch", 0))
    splits = {name: scores[name] for name in ("dev", "test") if isinstance(scores.get(name), dict)}
    if evaluated is not None:
        splits[evaluated[0]] = evaluated[1]

    try:
        if confusion is not None:
            text = json.dumps(confusion.to_dict(), indent=2, ensure_ascii=False) + "\n"
            atomic.write_text(folder / CONFUSION_FILE, text)
        else:
            confusion = _read_confusion(folder / CONFUSION_FILE)
        images, notes = _draw_figures(folder, history, best_epoch, splits, confusion)
        page = render_page(
            model=str(directory),
            splits=splits,
            history=history,
            best_epoch=best_epoch,
            config=config,
            images=images,
            notes=notes,
        )
        atomic.write_text(folder / PAGE_FILE, page)
    except OSError as error:
        raise ElmanError(
            f"{folder}: cannot write the report ({error}); check that the folder is writable"
        ) from error
    return folder / PAGE_FILE


def write_training_report(model_dir: str | Path, predictions: Mapping[str, TagPairs]) -> None:
    """Write the report at the end of training, from the dev predictions (else the test ones).

    The model is saved before this runs, so a failure is logged as a warning and not raised.
    """
    source = next((name for name in ("dev", "test") if name in predictions), None)
    try:
        confusion = None
        if source is not None:
            gold, predicted = predictions[source]
            confusion = entity_confusion(gold, predicted, source=f"{source} set")
        path = write_report(model_dir, confusion=confusion)
    except (ElmanError, OSError, ValueError, RuntimeError) as error:
        logger.warning(
            "could not write the training report (%s); try again with: elman report %s",
            error,
            model_dir,
        )
        return
    logger.info("training report in %s", path)


def _draw_figures(
    folder: Path,
    history: list[dict[str, float]],
    best_epoch: int,
    splits: Mapping[str, Mapping[str, Any]],
    confusion: EntityConfusion | None,
) -> tuple[list[Image], list[str]]:
    """Write each figure that the data allows; return the images and notes on missing ones."""
    images: list[Image] = []
    notes: list[str] = []

    def save(file: str, png: bytes, caption: str) -> None:
        atomic.write_bytes(folder / file, png)
        images.append(Image(file, caption))

    if history:
        save(
            "loss.png",
            plots.loss_plot(history, best_epoch),
            "Mean training loss per token in each epoch.",
        )
    if any("dev_f1" in record for record in history):
        save(
            "dev_scores.png",
            plots.dev_scores_plot(history, best_epoch),
            "Dev precision, recall and F1 after each epoch; the saved model is the best epoch's.",
        )
    type_f1 = {
        name: {kind: float(values["f1"]) for kind, values in (scores.get("per_type") or {}).items()}
        for name, scores in splits.items()
    }
    if any(type_f1.values()):
        save(
            "f1_by_type.png",
            plots.type_f1_plot(type_f1),
            "F1 of each entity type, for the saved model.",
        )
    if confusion is not None and confusion.types:
        save(
            "confusion.png",
            plots.confusion_plot(confusion),
            "Entity confusion: each gold entity (row) against the type predicted for the same "
            "span, or missed; the last row counts predicted entities whose span is no gold "
            f"entity's span. Data: {confusion.source or 'unknown'}.",
        )
    else:
        notes.append(
            "No confusion matrix: the model was trained without a dev or test set. "
            "Run elman report MODEL --data FILE to compute one."
        )
    return images, notes


def _history(scores: Mapping[str, Any], directory: Path) -> list[dict[str, float]]:
    history = scores.get("history") or []
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ModelError(f"{directory / 'scores.json'}: history must be a list of objects")
    return [dict(record) for record in history]


def _read_confusion(path: Path) -> EntityConfusion | None:
    if not path.exists():
        return None
    try:
        return EntityConfusion.from_dict(read_json_object(path))
    except ElmanError as error:
        logger.warning("%s: %s; the report has no confusion matrix", path, error)
        return None
