"""The TensorBoard consumer: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from elman.data.batch import Batch
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.launch import launch_training
from elman.train.run import RunSpec, train_model
from elman.train.tensorboard import TensorBoardWriter, _add_scalar

TYPES = ("LOC", "MISC", "ORG", "PER")
SIZE_GUIDANCE = {
    "scalars": 0,
    "histograms": 0,
    "tensors": 0,
    "graph": 0,
    "images": 0,
    "audio": 0,
    "compressedHistograms": 0,
    "meta_graph": 0,
}
MODEL = ModelConfig(word_dim=8, hidden=8, casing_dim=4)


def _train(corpus: Path, output: Path, logdir: Path | None, epochs: int = 2) -> None:
    spec = RunSpec(train=str(corpus), dev=str(corpus), output=str(output))
    consumers = [TensorBoardWriter(logdir)] if logdir is not None else []
    settings = TrainConfig(epochs=epochs, batch_size=2, threads=1, patience=10)
    train_model(spec, MODEL, settings, consumers=consumers)


def _read(logdir: Path) -> EventAccumulator:
    events = EventAccumulator(str(logdir), size_guidance=SIZE_GUIDANCE)
    events.Reload()
    return events


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Event files of two epochs on the tiny corpus, with the corpus as its own dev set."""
    from tests.conftest import TINY_TRAIN

    root = tmp_path_factory.mktemp("tensorboard")
    corpus = root / "tiny.conll"
    corpus.write_text(TINY_TRAIN, encoding="utf-8")
    _train(corpus, root / "model", root / "logs")
    return root / "logs"


def test_step_scalars(logdir: Path) -> None:
    scalars = _read(logdir).Tags()["scalars"]
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_second"):
        assert tag in scalars


def test_one_loss_per_step(logdir: Path) -> None:
    # Four sentences in batches of two: two steps per epoch.
    assert [event.step for event in _read(logdir).Scalars("train/loss")] == [1, 2, 3, 4]


def test_epoch_scalars(logdir: Path) -> None:
    scalars = _read(logdir).Tags()["scalars"]
    for tag in ("epoch/train_loss", "dev/precision", "dev/recall", "dev/f1"):
        assert tag in scalars


def test_per_type_scalars(logdir: Path) -> None:
    scalars = _read(logdir).Tags()["scalars"]
    for name in TYPES:
        for measure in ("precision", "recall", "f1"):
            assert f"dev/{measure}/{name}" in scalars


def test_dev_f1_once_per_epoch(logdir: Path) -> None:
    assert [event.step for event in _read(logdir).Scalars("dev/f1")] == [1, 2]


def test_parameter_and_gradient_histograms(logdir: Path) -> None:
    events = _read(logdir)
    names = [name for name, _ in ElmanTagger(MODEL, 20, 5, ["O", "B-PER"]).named_parameters()]
    histograms = events.Tags()["histograms"]
    for name in names:
        assert f"parameters/{name}" in histograms
        assert f"gradients/{name}" in histograms
    assert [e.step for e in events.Histograms("gradients/output.weight")] == [1, 2]


def test_gradient_histogram_is_not_empty(logdir: Path) -> None:
    last = _read(logdir).Histograms("gradients/output.weight")[-1]
    # Seven tags (O and six B-/I- tags) by eight hidden units.
    assert last.histogram_value.num == 7 * 8
    assert last.histogram_value.sum_squares > 0


def test_graph_written(logdir: Path) -> None:
    events = _read(logdir)
    assert events.Tags()["graph"] is True
    assert len(events.Graph().node) > 0


def test_config_text_written(logdir: Path) -> None:
    assert "run/config/text_summary" in _read(logdir).Tags()["tensors"]


def test_projector_files(logdir: Path) -> None:
    config = (logdir / "projector_config.pbtxt").read_text()
    metadata = logdir / "00004" / "word_embeddings" / "metadata.tsv"
    tensors = logdir / "00004" / "word_embeddings" / "tensors.tsv"

    assert 'metadata_path: "00004/word_embeddings/metadata.tsv"' in config
    assert 'tensor_path: "00004/word_embeddings/tensors.tsv"' in config
    # The tiny corpus has 19 word forms: "." occurs 4 times, "pellucid" twice, the rest once.
    assert metadata.read_text().splitlines()[:2] == [".", "pellucid"]
    assert len(metadata.read_text().splitlines()) == 19
    assert len(tensors.read_text().splitlines()) == 19


def test_hparams_written(logdir: Path) -> None:
    events = _read(logdir / "hparams")
    assert "hparams/best_dev_f1" in events.Tags()["scalars"]


def test_nonfinite_step_flagged(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss = ElmanTagger.loss
    calls = {"count": 0}

    def loss(self: ElmanTagger, batch: Batch) -> tuple[torch.Tensor, int]:
        calls["count"] += 1
        total, tokens = real_loss(self, batch)
        return (total * math.nan if calls["count"] == 2 else total), tokens

    monkeypatch.setattr(ElmanTagger, "loss", loss)
    _train(tiny_corpus, tmp_path / "model", tmp_path / "logs", epochs=1)
    events = _read(tmp_path / "logs")
    flags = events.Scalars("train/nonfinite")

    assert [(flag.step, flag.value) for flag in flags] == [(2, 1.0)]
    assert "train/nonfinite/text_summary" in events.Tags()["tensors"]
    for tag in events.Tags()["scalars"]:
        assert all(math.isfinite(event.value) for event in events.Scalars(tag)), tag


def test_nan_scalar_is_replaced_by_flag(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path)) as writer:
        _add_scalar(writer, "train/loss", math.nan, 7)
    scalars = _read(tmp_path).Tags()["scalars"]

    assert "train/loss" not in scalars
    assert "nonfinite/train/loss" in scalars


def test_graph_failure_is_a_warning(
    tiny_corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def add_graph(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tracing failed")

    monkeypatch.setattr(SummaryWriter, "add_graph", add_graph)
    with caplog.at_level(logging.WARNING, logger="elman.train.tensorboard"):
        _train(tiny_corpus, tmp_path / "model", tmp_path / "logs", epochs=1)

    assert "could not trace the model graph (tracing failed)" in caplog.text
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_writer_leaves_weights_unchanged(tiny_corpus: Path, tmp_path: Path) -> None:
    _train(tiny_corpus, tmp_path / "with", tmp_path / "logs")
    _train(tiny_corpus, tmp_path / "without", None)
    first = load_file(str(tmp_path / "with" / "model.safetensors"))
    second = load_file(str(tmp_path / "without" / "model.safetensors"))

    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def _launch(corpus: Path, output: Path, **options: object) -> None:
    launch_training(
        train_path=str(corpus),
        dev=None,
        output=output,
        overrides=["train.epochs=1", "train.threads=1", "model.hidden=8", "model.word_dim=8"],
        progress=False,
        **options,  # type: ignore[arg-type]
    )


def test_default_logdir_is_in_output(tiny_corpus: Path, tmp_path: Path) -> None:
    _launch(tiny_corpus, tmp_path / "model")
    assert list((tmp_path / "model" / "tensorboard").glob("events.out.tfevents.*"))


def test_logdir_option(tiny_corpus: Path, tmp_path: Path) -> None:
    _launch(tiny_corpus, tmp_path / "model", logdir=tmp_path / "logs")
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert not (tmp_path / "model" / "tensorboard").exists()


def test_no_tensorboard_option(tiny_corpus: Path, tmp_path: Path) -> None:
    _launch(tiny_corpus, tmp_path / "model", tensorboard=False)
    assert not (tmp_path / "model" / "tensorboard").exists()


def test_projector_keeps_most_frequent_words(tiny_corpus: Path, tmp_path: Path) -> None:
    spec = RunSpec(train=str(tiny_corpus), dev=None, output=str(tmp_path / "model"))
    writer = TensorBoardWriter(tmp_path / "logs", projector_words=2)
    train_model(spec, MODEL, TrainConfig(epochs=1, batch_size=4, threads=1), consumers=[writer])
    metadata = tmp_path / "logs" / "00001" / "word_embeddings" / "metadata.tsv"

    assert metadata.read_text().splitlines() == [".", "pellucid"]
