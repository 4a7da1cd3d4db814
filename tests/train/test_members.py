"""Ensemble training: members in processes of their own, combined, scored, resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from elman.data.readers import read_corpus
from elman.evaluate.metrics import score
from elman.model.ensemble import EnsembleTagger
from elman.model.inference import predict_tags
from elman.store import MANIFEST_FILE, load_model
from elman.train import members
from elman.train.launch import launch_training
from elman.train.members import MEMBERS_DIR

SETTINGS = [
    "model.members=2",
    "model.hidden=8",
    "model.word_dim=8",
    "train.epochs=2",
    "train.threads=2",
]


def _train(corpus: Path, output: Path, seed: int = 5) -> None:
    launch_training(
        train_path=str(corpus),
        dev=str(corpus),
        test=str(corpus),
        output=output,
        overrides=SETTINGS,
        seed=seed,
        progress=False,
    )


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import TINY_TRAIN

    root = tmp_path_factory.mktemp("ensemble")
    corpus = root / "tiny.conll"
    corpus.write_text(TINY_TRAIN, encoding="utf-8")
    _train(corpus, root / "model")
    return root / "model"


def test_members_train_with_own_seeds(ensemble_dir: Path) -> None:
    seeds = []
    for index in range(2):
        member = load_model(ensemble_dir / MEMBERS_DIR / str(index))
        seeds.append(member.train_config.seed)
        assert member.model_config.members == 1
        assert member.train_config.threads == 1
        assert (ensemble_dir / MEMBERS_DIR / str(index) / "checkpoints" / "last").is_dir()
    assert seeds == [10, 11]


def test_ensemble_is_saved_and_scored(ensemble_dir: Path) -> None:
    saved = load_model(ensemble_dir)
    assert isinstance(saved.model, EnsembleTagger)
    assert saved.model_config.members == 2

    corpus = read_corpus(ensemble_dir.parent / "tiny.conll")
    tokens = [sentence.tokens for sentence in corpus.sentences]
    gold = [sentence.tags or () for sentence in corpus.sentences]
    predicted = predict_tags(saved.model, saved.vocab, tokens)
    assert saved.scores["test"]["f1"] == pytest.approx(score(gold, predicted, "iob2").f1)
    assert [member["seed"] for member in saved.scores["members"]] == [10, 11]
    assert (ensemble_dir / "report" / "report.html").is_file()


def test_resume_keeps_finished_members(ensemble_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    subprocess.run(["cp", "-r", str(ensemble_dir), str(copy)], check=True)
    finished = copy / MEMBERS_DIR / "0" / "model.safetensors"
    finished_time = finished.stat().st_mtime_ns
    # Member 1 looks interrupted: its model was never saved.
    (copy / MEMBERS_DIR / "1" / MANIFEST_FILE).unlink()
    (copy / MANIFEST_FILE).unlink()

    saved = launch_training(train_path=None, dev=None, output=None, resume=copy, progress=False)

    assert finished.stat().st_mtime_ns == finished_time
    assert (copy / MEMBERS_DIR / "1" / MANIFEST_FILE).is_file()
    assert isinstance(load_model(copy).model, EnsembleTagger)
    assert saved.scores["test"]["f1"] == pytest.approx(
        json.loads((ensemble_dir / "scores.json").read_text())["test"]["f1"]
    )


def test_members_beyond_the_cores_wait_their_turn(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []
    real_pool = members.ProcessPoolExecutor

    def recording_pool(max_workers: int, **options: object) -> object:
        pools.append(max_workers)
        return real_pool(max_workers, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(members.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(members, "ProcessPoolExecutor", recording_pool)
    overrides = ["model.members=3", "model.hidden=8", "model.word_dim=8", "train.epochs=1"]

    saved = launch_training(
        train_path=str(tiny_corpus),
        dev=None,
        output=tmp_path / "model",
        overrides=overrides,
        progress=False,
        tensorboard=False,
    )

    assert pools == [2]
    assert [m["seed"] for m in saved.scores["members"]] == [39, 40, 41]
    assert all(
        (tmp_path / "model" / MEMBERS_DIR / str(i) / MANIFEST_FILE).is_file() for i in range(3)
    )


def test_cli_rejects_members_with_nproc(tmp_path: Path) -> None:
    from tests.conftest import TINY_TRAIN

    corpus = tmp_path / "tiny.conll"
    corpus.write_text(TINY_TRAIN, encoding="utf-8")
    command = [sys.executable, "-m", "elman", "train", "--train", str(corpus)]
    command += ["--output", str(tmp_path / "out"), "--set", "model.members=2", "--nproc", "2"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=os.environ
    )

    assert result.returncode == 2
    assert "model.members=2" in result.stderr
    assert "--nproc 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_member_data_error(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.conll"
    corpus.write_text("Harbor I-ORG\nWorkers'I-ORG\nGuild I-ORG\n", encoding="utf-8")
    command = [sys.executable, "-m", "elman", "-q", "train", "--train", str(corpus)]
    command += ["--output", str(tmp_path / "out"), "--set", "model.members=2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 2
    assert f"{corpus}:2:" in result.stderr
    assert "Traceback" not in result.stderr
