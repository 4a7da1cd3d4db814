"""Turn command-line choices into a training run, or resume an interrupted one."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.settings import load_settings, with_seed
from elman.store import SavedModel
from elman.train import checkpoint
from elman.train.config import TrainConfig
from elman.train.progress import ProgressBar
from elman.train.run import Consumer, RunSpec, train_model, validate_scheme
from elman.train.tensorboard import TensorBoardWriter

logger = logging.getLogger(__name__)


def launch_training(
    *,
    train_path: str | None,
    dev: str | None,
    output: Path | None,
    test: str | None = None,
    format: str = "auto",
    scheme: str = "auto",
    sep: str = "auto",
    preset: str | None = None,
    config: Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
    resume: Path | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    logdir: Path | None = None,
) -> SavedModel:
    """Check the options, build the settings and run ``train_model``.

    With ``tensorboard`` on, event files go to ``logdir``, by default OUTPUT/tensorboard.
    """
    consumers: list[Consumer] = [ProgressBar(enabled=None if progress else False)]
    if resume is not None:
        spec, model_config, train_config = _resumed_run(resume)
        if tensorboard:
            consumers.append(TensorBoardWriter(logdir or resume / "tensorboard"))
        return train_model(spec, model_config, train_config, resume=True, consumers=consumers)

    if train_path is None or output is None:
        raise ConfigError("elman train needs --train and --output (or --resume DIR)")
    if tensorboard:
        consumers.append(TensorBoardWriter(logdir or output / "tensorboard"))
    model_config, train_config = load_settings(
        preset=preset, config_file=config, overrides=overrides or []
    )
    train_config = with_seed(train_config, seed)
    reader = {"sep": sep} if format != "parallel" else {}
    spec = RunSpec(
        train=train_path,
        dev=dev,
        output=str(output),
        test=test,
        format=format,
        scheme=validate_scheme(scheme),
        reader=reader,
    )
    return train_model(spec, model_config, train_config, consumers=consumers)


def _resumed_run(directory: Path) -> tuple[RunSpec, ModelConfig, TrainConfig]:
    run = checkpoint.read_run(directory / "checkpoints" / "last")
    spec = RunSpec(**run)
    spec = replace(spec, output=str(directory))
    return spec, ModelConfig(**spec.model), TrainConfig(**spec.training)
