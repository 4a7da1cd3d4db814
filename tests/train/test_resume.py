"""Resuming: after SIGKILL or Ctrl-C a resumed run ends with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from elman.data.readers import read_corpus
from elman.data.vocab import Vocabularies
from elman.errors import ConfigError, ModelError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.train.config import TrainConfig
from elman.train.launch import launch_training
from elman.train.loop import Trainer
from elman.train.run import RunSpec, train_model
from tests.train import first_sentences

EPOCHS = 4
RUN_SETTINGS = [
    "--set",
    f"train.epochs={EPOCHS}",
    "--set",
    "train.deterministic=true",
    "--set",
    "train.threads=1",
    "--seed",
    "7",
    "--no-progress",
]


def _elman(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``elman`` in a subprocess that turns SIGINT into KeyboardInterrupt.

    A shell running the tests in the background may ignore SIGINT, and Python then keeps ignoring
    it, so the child resets it to the default action before Python starts.
    """
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "elman", "-q", *args],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _checkpoint_epoch(output: Path) -> int:
    """Return the epoch of OUTPUT/checkpoints/last, or -1 while there is none."""
    try:
        state = json.loads((output / "checkpoints" / "last" / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return -1
    return int(state["trainer"]["epoch"])


def _wait_for_epoch(process: subprocess.Popen[bytes], output: Path, epoch: int) -> None:
    deadline = time.monotonic() + 120
    while _checkpoint_epoch(output) < epoch:
        assert process.poll() is None, f"training exited with {process.returncode} too early"
        assert time.monotonic() < deadline, f"no checkpoint of epoch {epoch} after 120 s"
        time.sleep(0.01)


def _tensors_equal(first: Path, second: Path) -> bool:
    a, b = load_file(str(first)), load_file(str(second))
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def _logged_losses(output: Path) -> list[tuple[int, float]]:
    events = EventAccumulator(str(output / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars("train/loss")]


@pytest.fixture(scope="module")
def corpora(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Train and dev slices large enough that an epoch takes a fraction of a second."""
    root = tmp_path_factory.mktemp("corpora")
    train = first_sentences(shared_data / "conll2003" / "train.txt", 600, root / "train.txt")
    dev = first_sentences(shared_data / "conll2003" / "dev.txt", 100, root / "dev.txt")
    return ["--train", str(train), "--dev", str(dev)]


@pytest.fixture(scope="module")
def reference(corpora: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run's model.safetensors."""
    output = tmp_path_factory.mktemp("reference") / "model"
    log = output.parent / "log.txt"
    process = _elman("train", *corpora, "--output", str(output), *RUN_SETTINGS, log=log)
    assert process.wait(timeout=300) == 0, log.read_text()
    return output / "model.safetensors"


@pytest.mark.slow
def test_sigkill_resume_is_bit_identical(
    corpora: list[str], reference: Path, tmp_path: Path
) -> None:
    output = tmp_path / "model"
    log = tmp_path / "log.txt"
    process = _elman("train", *corpora, "--output", str(output), *RUN_SETTINGS, log=log)
    _wait_for_epoch(process, output, 2)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert not (output / "model.safetensors").exists(), "the kill landed after training ended"
    assert _checkpoint_epoch(output) in (2, 3)

    resumed = _elman("train", "--resume", str(output), "--no-progress", log=log)
    assert resumed.wait(timeout=300) == 0, log.read_text()
    assert _tensors_equal(reference, output / "model.safetensors")
    # The resumed run's event file hides the steps logged after the checkpoint.
    assert _logged_losses(output) == _logged_losses(reference.parent)


@pytest.mark.slow
def test_ctrl_c_exits_and_resumes(corpora: list[str], reference: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    log = tmp_path / "log.txt"
    process = _elman("train", *corpora, "--output", str(output), *RUN_SETTINGS, log=log)
    # The checkpoint of epoch 0 is written before the first step: interrupt epoch 1.
    _wait_for_epoch(process, output, 0)
    process.send_signal(signal.SIGINT)
    returncode = process.wait(timeout=60)
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]

    assert returncode == 2, log.read_text()
    assert len(errors) == 1
    assert f"elman train --resume {output}" in errors[0]
    assert _checkpoint_epoch(output) >= 0

    resumed = _elman("train", "--resume", str(output), "--no-progress", log=log)
    assert resumed.wait(timeout=300) == 0, log.read_text()
    assert _tensors_equal(reference, output / "model.safetensors")


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no checkpoint to resume from"):
        launch_training(train_path=None, dev=None, output=None, resume=tmp_path, progress=False)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("overrides", ["model.hidden=10"]),
        ("train_path", "other.conll"),
        ("extra", ["news.conll"]),
        ("preset", "wnut"),
        ("seed", 3),
        ("scheme", "iob1"),
        ("output", "elsewhere"),
    ],
)
def test_resume_rejects_ignored_option(option: str, value: object, tmp_path: Path) -> None:
    settings: dict[str, object] = {"train_path": None, "dev": None, "output": None, option: value}
    flag = {"overrides": "--set", "train_path": "--train"}.get(option, f"--{option}")

    expected = f"would ignore {flag}; drop it, or start a new run with it"
    with pytest.raises(ConfigError, match=expected):
        launch_training(resume=tmp_path, progress=False, **settings)  # type: ignore[arg-type]


def test_resume_accepts_own_output(tmp_path: Path) -> None:
    # The folder has no checkpoint: getting that far shows that --output passed the check.
    with pytest.raises(ModelError, match="no checkpoint to resume from"):
        launch_training(train_path=None, dev=None, output=tmp_path, resume=tmp_path, progress=False)


def _small_run(train: Path, output: Path) -> list[float]:
    """Train two epochs in this process; return the per-epoch training losses."""
    spec = RunSpec(train=str(train), dev=str(train), output=str(output))
    model_config = ModelConfig(word_dim=16, hidden=32, casing_dim=4)
    train_config = TrainConfig(epochs=2, threads=1, seed=11, batch_size=8)
    saved = train_model(spec, model_config, train_config)
    return [record["train_loss"] for record in saved.scores["history"]]


def test_same_seed_gives_same_run(shared_data: Path, tmp_path: Path) -> None:
    train = first_sentences(shared_data / "conll2003" / "train.txt", 50, tmp_path / "train.txt")
    first_losses = _small_run(train, tmp_path / "first")
    second_losses = _small_run(train, tmp_path / "second")

    assert first_losses == second_losses
    assert _tensors_equal(
        tmp_path / "first" / "model.safetensors", tmp_path / "second" / "model.safetensors"
    )


def test_resume_after_early_stop_trains_no_more(tiny_corpus: Path) -> None:
    corpus = read_corpus(tiny_corpus)
    tokens = [s.tokens for s in corpus.sentences]
    tags = [s.tags or () for s in corpus.sentences]
    vocab = Vocabularies.build(tokens, tags)
    config = ModelConfig(word_dim=8, hidden=8)
    model = ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags)
    trainer = Trainer(model, vocab, (tokens, tags), (tokens, tags), TrainConfig(patience=2))
    # The state that a checkpoint contains after the epoch that ran out of patience.
    trainer.state.epoch = 5
    trainer.state.epochs_without_improvement = 2

    assert list(trainer.run()) == []


def _train_one_epoch(corpus: Path, output: Path) -> None:
    settings = ["model.hidden=8", "model.word_dim=8", "train.epochs=1", "train.threads=1"]
    launch_training(
        train_path=str(corpus),
        dev=None,
        output=output,
        overrides=settings,
        progress=False,
        tensorboard=False,
    )


def _resume_error(output: Path) -> str:
    with pytest.raises(ModelError) as error:
        launch_training(train_path=None, dev=None, output=None, resume=output, progress=False)
    return str(error.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("won O\n", "won O\n\nQuillon B-PER\nwaved O\n"),  # new words: other table sizes
        ("Quist", "Quast"),  # one word renamed: the same sizes
    ],
)
def test_resume_after_corpus_edit_names_cause(
    tiny_corpus: Path, tmp_path: Path, old: str, new: str
) -> None:
    _train_one_epoch(tiny_corpus, tmp_path / "model")
    text = tiny_corpus.read_text(encoding="utf-8")
    tiny_corpus.write_text(text.replace(old, new), encoding="utf-8")

    message = _resume_error(tmp_path / "model")

    assert "the vocabularies built from the corpora now differ" in message
    assert "a corpus or the model.pretrained file changed since the run started" in message
    assert "damaged" not in message


def test_resume_of_older_checkpoint_checks_shapes(tiny_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "model"
    _train_one_epoch(tiny_corpus, output)
    state_path = output / "checkpoints" / "last" / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    del state["vocab_sha256"]  # as written before checkpoints stored the digest
    state_path.write_text(json.dumps(state), encoding="utf-8")
    with open(tiny_corpus, "a", encoding="utf-8") as handle:
        handle.write("\nQuillon B-PER\nwaved O\n")

    assert "features.words.weight has shape" in _resume_error(output)
