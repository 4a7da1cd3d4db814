"""The non-finite guard: undo the step, halve the learning rate, stop after too many in a row."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from elman.data.batch import Batch
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.events import EpochInfo, NonFiniteInfo, StepInfo
from elman.train.loop import Trainer, TrainingDiverged
from elman.train.run import RunSpec, train_model
from tests.train import first_sentences, tiny_trainer

Event = StepInfo | NonFiniteInfo | EpochInfo


class Recorder:
    """A training consumer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event, trainer: Trainer) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def of(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


def _poison(monkeypatch: pytest.MonkeyPatch, model: ElmanTagger, calls: set[int] | None) -> None:
    """Make ``model.loss`` NaN on the given 1-based calls, or on every call when None."""
    real_loss = model.loss
    count = {"calls": 0}

    def loss(batch: Batch) -> tuple[torch.Tensor, int]:
        count["calls"] += 1
        total, tokens = real_loss(batch)
        if calls is None or count["calls"] in calls:
            return total * float("nan"), tokens
        return total, tokens

    monkeypatch.setattr(model, "loss", loss)


def _all_finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


def test_lr_halves_after_each_failure(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = tiny_trainer(tiny_corpus, lr=0.01, max_nonfinite=4)
    _poison(monkeypatch, trainer.model, None)
    events: list[Event] = []
    with pytest.raises(TrainingDiverged):
        for event in trainer.run():
            events.append(event)

    assert [e.new_lr for e in events if isinstance(e, NonFiniteInfo)] == [0.005, 0.0025, 0.00125]
    assert trainer.state.lr == 0.01 / 2**4
    assert trainer.optimizer.param_groups[0]["lr"] == 0.01 / 2**4


def test_guard_stops_after_max_nonfinite(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = tiny_trainer(tiny_corpus, max_nonfinite=3)
    _poison(monkeypatch, trainer.model, None)
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        list(trainer.run())

    assert trainer.state.nonfinite_steps == 3
    assert trainer.state.step == 0


@pytest.mark.parametrize(("lm_words", "named"), [(0, False), (20, True)])
def test_divergence_hint_names_objective_weight_when_used(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, lm_words: int, named: bool
) -> None:
    trainer = tiny_trainer(tiny_corpus, max_nonfinite=2, model={"lm_words": lm_words})
    _poison(monkeypatch, trainer.model, None)
    with pytest.raises(TrainingDiverged) as raised:
        list(trainer.run())

    assert ("a lower model.lm_weight (now 0.3)" in str(raised.value)) is named
    assert str(raised.value).endswith("or the adam optimizer.")


def test_divergence_keeps_initial_weights(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = tiny_trainer(tiny_corpus, max_nonfinite=2)
    before = {name: t.clone() for name, t in trainer.model.state_dict().items()}
    _poison(monkeypatch, trainer.model, None)
    with pytest.raises(TrainingDiverged):
        list(trainer.run())

    after = trainer.model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_poisoned_batch_recovers(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = tiny_trainer(tiny_corpus, lr=0.01, epochs=3)
    _poison(monkeypatch, trainer.model, {3})
    events = list(trainer.run())
    rejected = [e for e in events if isinstance(e, NonFiniteInfo)]

    assert len(rejected) == 1
    assert rejected[0].step == 3
    assert trainer.state.epoch == 3
    assert trainer.state.lr == 0.005
    # Four sentences in batches of one, three epochs, one step undone.
    assert trainer.state.step == 11
    assert _all_finite(trainer.model.state_dict())


def test_overflowing_update_is_undone(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = tiny_trainer(tiny_corpus, epochs=1)
    real_step = trainer.optimizer.step
    count = {"calls": 0}

    def step() -> None:
        real_step()
        count["calls"] += 1
        if count["calls"] == 2:
            with torch.no_grad():
                trainer.model.output.weight.fill_(math.inf)

    monkeypatch.setattr(trainer.optimizer, "step", step)
    rejected = [e for e in trainer.run() if isinstance(e, NonFiniteInfo)]

    assert [e.step for e in rejected] == [2]
    assert _all_finite(trainer.model.state_dict())
    assert _all_finite(trainer.best_weights)


def test_weights_whose_sum_overflows_are_finite(tiny_corpus: Path) -> None:
    trainer = tiny_trainer(tiny_corpus)
    with torch.no_grad():
        trainer.model.output.weight.fill_(3e38)
    assert trainer._parameters_finite()


def test_one_nan_weight_is_not_finite(tiny_corpus: Path) -> None:
    trainer = tiny_trainer(tiny_corpus)
    with torch.no_grad():
        trainer.model.output.weight[0, 0] = math.nan
    assert not trainer._parameters_finite()


POISONED_CLI = """
import sys
from elman.model.elman import ElmanTagger

real_loss = ElmanTagger.loss

def loss(self, batch):
    total, tokens = real_loss(self, batch)
    return total * float("nan"), tokens

ElmanTagger.loss = loss
from elman.cli import main

sys.argv = ["elman", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_cli_reports_divergence(tiny_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            POISONED_CLI,
            "train",
            "--train",
            str(tiny_corpus),
            "--output",
            str(output),
            "--set",
            "train.lr=0.002",
            "--set",
            "train.threads=1",
            "--no-progress",
            "--no-tensorboard",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]

    assert result.returncode == 2, result.stderr
    assert len(errors) == 1
    assert "training diverged: 5 steps in a row" in errors[0]
    assert "halving the learning rate to 6.25e-05" in errors[0]
    for k, lr in enumerate(["0.001", "0.0005", "0.00025", "0.000125"], start=1):
        assert f"halved the learning rate to {lr} ({k} in a row)" in result.stderr
    files = sorted(output.glob("**/*.safetensors"))
    assert files
    for path in files:
        assert _all_finite(load_file(str(path))), path


def _run(train: Path, output: Path, model: ModelConfig, settings: TrainConfig) -> Recorder:
    recorder = Recorder()
    spec = RunSpec(train=str(train), dev=None, output=str(output))
    train_model(spec, model, settings, consumers=[recorder])
    return recorder


def test_huge_lr_recovers_with_finite_weights(shared_data: Path, tmp_path: Path) -> None:
    train = first_sentences(shared_data / "conll2003" / "train.txt", 200, tmp_path / "train.txt")
    # Without clipping, SGD at this rate overflows the weights within a few steps.
    settings = TrainConfig(optimizer="sgd", lr=1e38, clip_norm=0, epochs=2, threads=1)
    recorder = _run(train, tmp_path / "model", ModelConfig(), settings)
    rejected = [e for e in recorder.events if isinstance(e, NonFiniteInfo)]

    assert rejected
    assert [e.new_lr for e in rejected] == [1e38 / 2**k for k in range(1, len(rejected) + 1)]
    files = sorted((tmp_path / "model").glob("**/*.safetensors"))
    assert files
    for path in files:
        assert _all_finite(load_file(str(path))), path


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.002), ("sgd", 0.1)])
def test_clipped_training_stays_finite(
    shared_data: Path, tmp_path: Path, optimizer: str, lr: float
) -> None:
    train = first_sentences(shared_data / "conll2003" / "train.txt", 200, tmp_path / "train.txt")
    settings = TrainConfig(optimizer=optimizer, lr=lr, clip_norm=5, epochs=3, threads=1)
    recorder = _run(train, tmp_path / "model", ModelConfig(word_dim=50, hidden=100), settings)
    steps = [e for e in recorder.events if isinstance(e, StepInfo)]

    assert not [e for e in recorder.events if isinstance(e, NonFiniteInfo)]
    assert steps
    assert all(math.isfinite(e.loss) and math.isfinite(e.grad_norm) for e in steps)
    assert _all_finite(load_file(str(tmp_path / "model" / "model.safetensors")))
