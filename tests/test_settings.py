"""Settings from presets, TOML files and --set overrides."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from elman.errors import ConfigError
from elman.settings import load_settings


def test_bool_override_parsed() -> None:
    _, train = load_settings(overrides=["train.with_dev=true"])

    assert train.with_dev is True


@pytest.mark.parametrize("value", ["yes", "1", "True"])
def test_bool_error_names_spelling(value: str) -> None:
    with pytest.raises(ConfigError, match=r"expected a value of type bool \(true or false\)"):
        load_settings(overrides=[f"train.with_dev={value}"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs=0", "train.epochs=0: expected a positive value"),
        ("train.patience=-1", "train.patience=-1: expected 0 or more epochs"),
        ("train.lr_patience=-2", "train.lr_patience=-2: expected 0 or more epochs"),
        ("train.threads=-1", r"train.threads=-1: expected 0 \(one per core\) or more"),
        ("train.min_count=0", r"train.min_count=0: expected 1 \(keep every word\) or more"),
        ("train.max_length=-5", r"train.max_length=-5: expected 0 \(no limit\) or more"),
        ("train.clip_norm=nan", r"train.clip_norm=nan: expected 0 \(off\) or a finite value"),
        ("train.weight_decay=inf", "train.weight_decay=inf: expected 0"),
        ("train.weight_decay=-0.1", "train.weight_decay=-0.1: expected 0"),
        ("train.max_minutes=nan", "train.max_minutes=nan: expected 0"),
        ("train.extra_ratio=inf", "train.extra_ratio=inf: expected 0"),
        ("train.momentum=1.0", r"train.momentum=1.0: expected a value in \[0, 1\)"),
        ("train.momentum=nan", r"train.momentum=nan: expected a value in \[0, 1\)"),
        ("train.lr=0.0", "train.lr=0.0: expected a positive value below"),
        ("train.seed=-1", r"train.seed=-1: expected 0 or more"),
        ("train.lowercase=1.5", r"train.lowercase=1.5: expected a probability in \[0, 1\]"),
        ("train.lr=nan", "train.lr=nan: expected a positive value below"),
        ("train.lr=1e39", "train.lr=1e[+]39: expected a positive value below"),
    ],
)
def test_out_of_range_setting_names_accepted_values(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(overrides=[override])


def test_bounds_accept_their_limits() -> None:
    overrides = [
        "train.patience=0",
        "train.lr_patience=0",
        "train.threads=0",
        "train.min_count=1",
        "train.clip_norm=0",
        "train.momentum=0",
    ]
    _, train = load_settings(overrides=overrides)

    assert (train.patience, train.threads, train.min_count, train.momentum) == (0, 0, 1, 0.0)


def test_empty_preset_name_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown preset ''; available: "):
        load_settings(preset="")


def test_threads_beyond_cores_use_cores(
    tiny_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from elman.train.launch import launch_training

    cores = os.cpu_count() or 1
    with caplog.at_level(logging.WARNING, logger="elman"):
        launch_training(
            train_path=str(tiny_corpus),
            dev=None,
            output=tmp_path / "model",
            overrides=["train.threads=100000", "train.epochs=1", "model.hidden=8"],
            progress=False,
            tensorboard=False,
        )

    assert f"train.threads=100000 is more than the {cores} cores; using {cores}" in caplog.text
    assert (tmp_path / "model" / "model.safetensors").is_file()
