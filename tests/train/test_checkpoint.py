"""Checkpoints: exact round trip, and a crash while saving leaves the previous one loadable."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from elman.data.readers import read_corpus
from elman.data.vocab import Vocabularies
from elman.errors import ModelError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train import checkpoint, run
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo, StepInfo
from elman.train.loop import Trainer
from elman.train.run import RunSpec, TrainingInterrupted, train_model

RUN = {"train": "tiny.conll", "dev": None, "output": "out"}


def _trainer(corpus: Path, seed: int = 3) -> Trainer:
    data = read_corpus(corpus)
    tokens = [s.tokens for s in data.sentences]
    tags = [s.tags or () for s in data.sentences]
    vocab = Vocabularies.build(tokens, tags)
    torch.manual_seed(seed)
    model = ElmanTagger(ModelConfig(word_dim=8, hidden=8), len(vocab.words), 1, vocab.tags)
    config = TrainConfig(epochs=3, batch_size=2, seed=seed, threads=1)
    return Trainer(model, vocab, (tokens, tags), None, config)


def _train_epochs(trainer: Trainer, epochs: int) -> None:
    finished = 0
    for event in trainer.run():
        if isinstance(event, EpochInfo):
            finished += 1
            if finished == epochs:
                return


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in trainer.model.state_dict().items()}


def _same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_round_trip_restores_weights_and_counters(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus)
    _train_epochs(trainer, 1)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")

    assert _same(_weights(trainer), _weights(restored))
    assert restored.state == trainer.state
    assert restored.optimizer.param_groups[0]["lr"] == trainer.state.lr


def test_round_trip_restores_random_generators(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    expected = (trainer.rng.random(), random.random(), np.random.rand(), torch.rand(1))

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")
    actual = (restored.rng.random(), random.random(), np.random.rand(), torch.rand(1))

    assert actual[:3] == expected[:3]
    assert torch.equal(actual[3], expected[3])


def test_round_trip_restores_optimizer_moments(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus)
    _train_epochs(trainer, 1)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")
    saved_state = trainer.optimizer.state_dict()["state"]
    loaded_state = restored.optimizer.state_dict()["state"]

    assert saved_state.keys() == loaded_state.keys()
    for index, values in saved_state.items():
        for key, value in values.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded_state[index][key]))


def test_checkpoint_stores_run_spec(tiny_corpus: Path, tmp_path: Path) -> None:
    checkpoint.save_checkpoint(_trainer(tiny_corpus), tmp_path / "last", RUN)
    assert checkpoint.read_run(tmp_path / "last") == RUN


def _failing_save_file(monkeypatch: pytest.MonkeyPatch, fail_on_call: int) -> None:
    """Make the ``fail_on_call``-th safetensors write of save_checkpoint raise OSError."""
    calls = {"count": 0}
    real_save_file = checkpoint.save_file

    def save_file(tensors: dict[str, torch.Tensor], filename: str, *args: Any) -> None:
        calls["count"] += 1
        if calls["count"] == fail_on_call:
            raise OSError("disk full")
        real_save_file(tensors, filename, *args)

    monkeypatch.setattr(checkpoint, "save_file", save_file)


@pytest.mark.parametrize("fail_on_call", [1, 2, 4])
def test_crash_while_saving_keeps_previous(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on_call: int
) -> None:
    trainer = _trainer(tiny_corpus)
    _train_epochs(trainer, 1)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    saved_weights, saved_state = _weights(trainer), trainer.state.to_dict()

    _train_epochs(trainer, 1)
    _failing_save_file(monkeypatch, fail_on_call)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    monkeypatch.undo()

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")
    assert _same(saved_weights, _weights(restored))
    assert restored.state.to_dict() == saved_state


def test_save_after_crash_replaces_leftovers(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(tiny_corpus)
    folder = tmp_path / "checkpoints"
    checkpoint.save_checkpoint(trainer, folder / "last", RUN)
    _failing_save_file(monkeypatch, 2)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(trainer, folder / "last", RUN)
    monkeypatch.undo()

    _train_epochs(trainer, 1)
    checkpoint.save_checkpoint(trainer, folder / "last", RUN)

    assert sorted(path.name for path in folder.iterdir()) == ["last"]
    assert checkpoint.read_run(folder / "last") == RUN


def test_swap_interrupted_between_renames(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    saved_weights = _weights(trainer)
    # What a crash leaves after the old folder was moved aside and before the new one arrived.
    (tmp_path / "last").rename(tmp_path / ".last.previous")

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")

    assert _same(saved_weights, _weights(restored))


def test_second_interrupted_swap_keeps_a_checkpoint(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(tiny_corpus)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    saved_weights = _weights(trainer)
    (tmp_path / "last").rename(tmp_path / ".last.previous")

    real_rename = Path.rename

    def rename(self: Path, target: Any) -> Path:
        if self.name.endswith(".staging"):
            raise OSError("crash before the new checkpoint was renamed into place")
        return real_rename(self, target)

    _train_epochs(trainer, 1)
    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="crash"):
        checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    monkeypatch.undo()

    restored = _trainer(tiny_corpus, seed=99)
    checkpoint.load_checkpoint(restored, tmp_path / "last")
    assert _same(saved_weights, _weights(restored))


def test_missing_checkpoint_is_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no checkpoint to resume from"):
        checkpoint.read_run(tmp_path / "last")


def test_damaged_weights_are_model_error(tiny_corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_corpus)
    checkpoint.save_checkpoint(trainer, tmp_path / "last", RUN)
    (tmp_path / "last" / "model.safetensors").write_bytes(b"not safetensors")

    with pytest.raises(ModelError, match="damaged checkpoint"):
        checkpoint.load_checkpoint(_trainer(tiny_corpus), tmp_path / "last")


class _StopAtStep:
    """A training consumer that raises KeyboardInterrupt at the first step of ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_event(self, event: object, trainer: Trainer) -> None:
        if isinstance(event, StepInfo) and event.epoch == self.epoch:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def _interrupted(corpus: Path, output: Path, consumers: list[_StopAtStep]) -> str:
    spec = RunSpec(train=str(corpus), dev=None, output=str(output))
    settings = TrainConfig(epochs=3, batch_size=4, threads=1)
    with pytest.raises(TrainingInterrupted) as caught:
        train_model(spec, ModelConfig(word_dim=8, hidden=8), settings, consumers=consumers)
    return str(caught.value)


def test_interruption_mid_epoch(tiny_corpus: Path, tmp_path: Path) -> None:
    message = _interrupted(tiny_corpus, tmp_path / "model", [_StopAtStep(2)])

    assert message.startswith("interrupted in epoch 2; resume from the last completed epoch")
    assert message.endswith(f"elman train --resume {tmp_path / 'model'}")


def test_interruption_after_saved_epoch(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = run._save_checkpoint

    def save_then_stop(trainer: Trainer, directory: Path, spec: dict[str, Any]) -> None:
        real_save(trainer, directory, spec)
        if directory.name == "best":  # written after "last", so epoch 1 is on disk
            raise KeyboardInterrupt

    monkeypatch.setattr(run, "_save_checkpoint", save_then_stop)
    message = _interrupted(tiny_corpus, tmp_path / "model", [])

    assert message.startswith("interrupted after epoch 1, which is saved; resume with:")
    last = checkpoint._read_state(tmp_path / "model" / "checkpoints" / "last")
    assert last["trainer"]["epoch"] == 1
