"""Weight averaging: the arithmetic, the swap, what the trainer keeps and exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from elman.errors import ConfigError, ModelError
from elman.train import checkpoint
from elman.train.averaging import WeightAverage
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo
from elman.train.loop import Trainer
from tests.train import tiny_trainer

RUN = {"train": "tiny.conll", "dev": None, "output": "out"}


def _trainer(corpus: Path, average: float, epochs: int = 3, dev: bool = False) -> Trainer:
    return tiny_trainer(corpus, dev=dev, epochs=epochs, batch_size=2, average=average)


def _run(trainer: Trainer, epochs: int) -> list[EpochInfo]:
    infos: list[EpochInfo] = []
    for event in trainer.run():
        if isinstance(event, EpochInfo):
            infos.append(event)
            if len(infos) == epochs:
                break
    return infos


def test_update_decay_after_warm_up() -> None:
    layer = nn.Linear(2, 1)
    average = WeightAverage(layer, decay=0.5)
    start = layer.weight.detach().clone()

    with torch.no_grad():
        layer.weight.fill_(1.0)
    average.update(layer)  # decay min(0.5, 1 / 10) = 0.1
    expected = 0.1 * start + 0.9 * torch.ones_like(start)
    assert torch.allclose(average.tensors["weight"], expected)

    for _ in range(20):
        average.update(layer)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    before = average.tensors["weight"].clone()
    average.update(layer)  # warm-up over: decay 0.5
    assert torch.allclose(average.tensors["weight"], 0.5 * before + 0.5 * 3.0)


def test_applied_swaps_and_restores() -> None:
    layer = nn.Linear(3, 2)
    average = WeightAverage(layer, decay=0.9)
    own = layer.weight.detach().clone()
    average.tensors["weight"] = torch.full_like(own, 7.0)

    with average.applied(layer):
        assert torch.equal(layer.weight, torch.full_like(own, 7.0))
    assert torch.equal(layer.weight, own)


def test_integer_buffers_are_not_averaged() -> None:
    model = nn.BatchNorm1d(2)
    average = WeightAverage(model, decay=0.9)
    assert "num_batches_tracked" not in average.tensors
    assert "running_mean" in average.tensors


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_decay_out_of_range_is_config_error(value: float) -> None:
    with pytest.raises(ConfigError, match=r"train\.average"):
        TrainConfig(average=value)


def test_trainer_keeps_averaged_weights(tiny_corpus: Path) -> None:
    trainer = _trainer(tiny_corpus, average=0.9, epochs=1, dev=True)
    assert _run(trainer, 1)[0].improved  # the first epoch is always the best so far
    assert trainer.average is not None
    raw = trainer.model.state_dict()
    best = trainer.best_weights

    assert any(not torch.equal(raw[name], best[name]) for name in trainer.average.tensors)
    for name, tensor in trainer.average.tensors.items():
        assert torch.equal(best[name], tensor)


def test_trainer_without_average_keeps_raw_weights(tiny_corpus: Path) -> None:
    trainer = _trainer(tiny_corpus, average=0.0, epochs=1, dev=True)
    assert _run(trainer, 1)[0].improved
    assert trainer.average is None
    raw = trainer.model.state_dict()
    assert all(torch.equal(raw[name], trainer.best_weights[name]) for name in raw)


def test_resume_continues_average_exactly(tiny_corpus: Path, tmp_path: Path) -> None:
    straight = _trainer(tiny_corpus, average=0.8)
    _run(straight, 3)

    first = _trainer(tiny_corpus, average=0.8)
    _run(first, 1)
    checkpoint.save_checkpoint(first, tmp_path / "last", RUN)
    resumed = _trainer(tiny_corpus, average=0.8)
    checkpoint.load_checkpoint(resumed, tmp_path / "last")
    _run(resumed, 2)

    assert resumed.average is not None and straight.average is not None
    assert resumed.average.updates == straight.average.updates
    for name, tensor in straight.average.tensors.items():
        assert torch.equal(resumed.average.tensors[name], tensor)


def test_checkpoint_missing_average_is_model_error(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus, average=0.8, epochs=1)
    _run(trainer, 1)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    (tmp_path / "last" / "average.safetensors").unlink()

    with pytest.raises(ModelError, match="damaged checkpoint"):
        checkpoint.load_checkpoint(_trainer(tiny_corpus, average=0.8), tmp_path / "last")
