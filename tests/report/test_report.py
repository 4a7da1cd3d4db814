"""Training reports: the entity confusion matrix, the PNG figures and report.html."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from elman.errors import ElmanError, ModelError
from elman.model.config import ModelConfig
from elman.report import EntityConfusion, entity_confusion, write_report
from elman.report.page import Image, render_page
from elman.train.config import TrainConfig
from elman.train.run import RunSpec, train_model
from tests.conftest import TINY_TRAIN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("loss.png", "dev_scores.png", "f1_by_type.png", "confusion.png")


def _train(root: Path, *, dev: bool) -> Path:
    corpus = root / "tiny.conll"
    corpus.write_text(TINY_TRAIN, encoding="utf-8")
    output = root / "model"
    spec = RunSpec(
        train=str(corpus),
        dev=str(corpus) if dev else None,
        test=str(corpus) if dev else None,
        output=str(output),
    )
    settings = TrainConfig(epochs=3, batch_size=2, threads=1)
    train_model(spec, ModelConfig(word_dim=8, hidden=8, casing_dim=4), settings)
    return output


def _copy(model: Path, tmp_path: Path) -> Path:
    """Copy the shared model, so that a test that rewrites its report changes only the copy."""
    return Path(shutil.copytree(model, tmp_path / "copy"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained with the tiny corpus as train, dev and test set."""
    return _train(tmp_path_factory.mktemp("report"), dev=True)


def test_entity_confusion_counts() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-PER"]]
    confusion = entity_confusion(gold, predicted)

    assert confusion.types == ("LOC", "ORG", "PER")
    # Rows LOC, ORG, PER, spurious; columns LOC, ORG, PER, missed.
    assert confusion.counts == (
        (0, 1, 0, 0),
        (0, 0, 0, 1),
        (0, 0, 1, 0),
        (0, 1, 1, 0),
    )


def test_confusion_count_by_name() -> None:
    confusion = entity_confusion([["B-LOC", "O"]], [["O", "B-LOC"]])
    assert confusion.count("LOC", "missed") == 1
    assert confusion.count("spurious", "LOC") == 1
    assert confusion.count("LOC", "LOC") == 0


def test_confusion_round_trip() -> None:
    confusion = entity_confusion([["B-PER", "B-LOC"]], [["B-PER", "B-PER"]], source="dev set")
    assert EntityConfusion.from_dict(json.loads(json.dumps(confusion.to_dict()))) == confusion


def test_confusion_malformed_is_error() -> None:
    data = {"rows": ["PER", "spurious"], "columns": ["PER", "missed"], "counts": [[1, 0]]}
    with pytest.raises(ElmanError, match="expected 2 rows of 2 counts"):
        EntityConfusion.from_dict(data)


def test_confusion_length_mismatch() -> None:
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted tags"):
        entity_confusion([["O", "O"]], [["O"]])


def test_training_writes_report(model: Path) -> None:
    report = model / "report"
    assert (report / "report.html").is_file()
    for name in FIGURES:
        assert (report / name).is_file(), name


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_valid_png(model: Path, name: str) -> None:
    path = model / "report" / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100


def test_page_links_each_figure(model: Path) -> None:
    page = (model / "report" / "report.html").read_text(encoding="utf-8")
    for name in FIGURES:
        assert f'<img src="{name}"' in page


def test_page_shows_f1(model: Path) -> None:
    scores = json.loads((model / "scores.json").read_text())
    page = (model / "report" / "report.html").read_text(encoding="utf-8")
    assert f"<td>{100 * scores['dev']['f1']:.2f}</td>" in page
    assert f"<td>{100 * scores['test']['f1']:.2f}</td>" in page
    assert "<th>train loss</th><th>dev F1</th>" in page


def test_page_shows_config(model: Path) -> None:
    page = (model / "report" / "report.html").read_text(encoding="utf-8")
    assert "&quot;hidden&quot;: 8" in page


def test_confusion_from_dev_predictions(model: Path) -> None:
    stored = json.loads((model / "report" / "confusion.json").read_text())
    assert stored["source"] == "dev set"
    assert stored["rows"] == ["LOC", "MISC", "ORG", "PER", "spurious"]


def test_report_reuses_stored_confusion(model: Path, tmp_path: Path) -> None:
    copy = _copy(model, tmp_path)
    (copy / "report" / "confusion.png").unlink()
    write_report(copy)
    assert (copy / "report" / "confusion.png").read_bytes()[:8] == PNG_SIGNATURE


def test_report_without_dev(tmp_path: Path) -> None:
    output = _train(tmp_path, dev=False)
    report = output / "report"
    page = (report / "report.html").read_text(encoding="utf-8")

    assert (report / "loss.png").is_file()
    assert not (report / "dev_scores.png").exists()
    assert not (report / "confusion.png").exists()
    assert "No confusion matrix" in page
    assert "<th>train loss</th><th>learning rate</th>" in page
    assert "dev F1" not in page


def test_report_of_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model directory not found"):
        write_report(tmp_path / "absent")


def test_report_of_incomplete_model(model: Path, tmp_path: Path) -> None:
    incomplete = tmp_path / "model"
    incomplete.mkdir()
    (incomplete / "scores.json").write_text("{}")
    with pytest.raises(ModelError, match=r"manifest\.json: missing"):
        write_report(incomplete)


def test_page_escapes_text() -> None:
    scores = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "per_type": {"<T>": {"f1": 0.5}}}
    page = render_page(
        model="<script>alert(1)</script>",
        splits={"a&b": scores},
        history=[],
        best_epoch=0,
        config={"note": "</pre><b>"},
        images=[Image('x".png', "<i>caption</i>")],
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>a&amp;b</td>" in page
    assert "<td>&lt;T&gt;</td>" in page
    assert "</pre><b>" not in page
    assert 'src="x&quot;.png"' in page
    assert "<i>caption</i>" not in page


@pytest.mark.slow
def test_report_command_with_data(model: Path, tmp_path: Path) -> None:
    model = _copy(model, tmp_path)
    data = tmp_path / "dev.conll"
    data.write_text(TINY_TRAIN, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "elman", "report", str(model), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    stored = json.loads((model / "report" / "confusion.json").read_text())
    page = (model / "report" / "report.html").read_text(encoding="utf-8")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {model / 'report' / 'report.html'}"
    assert stored["source"] == str(data)
    assert f"<td>{data}</td>" in page
