"""Turn command-line choices into a training run, or resume an interrupted one."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

from elman.distributed import ddp
from elman.errors import ConfigError, ModelError
from elman.model.config import ModelConfig
from elman.settings import load_settings, with_seed
from elman.store import SavedModel
from elman.train import checkpoint, members
from elman.train.config import TrainConfig
from elman.train.lock import output_lock
from elman.train.output import claimed_output
from elman.train.progress import ProgressBar
from elman.train.run import (
    Consumer,
    RunSpec,
    TrainingInterrupted,
    train_model,
    validate_scheme,
)
from elman.train.tensorboard import TensorBoardWriter

logger = logging.getLogger(__name__)


def launch_training(
    *,
    train_path: str | None,
    dev: str | None,
    output: str | Path | None,
    test: str | None = None,
    extra: list[str] | None = None,
    format: str = "auto",
    scheme: str = "auto",
    sep: str = "auto",
    preset: str | None = None,
    config: Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    logdir: Path | None = None,
    nproc: int = 1,
    overwrite: bool = False,
) -> SavedModel:
    """Check the options, build the settings and run ``train_model``.

    With ``tensorboard`` on, event files go to ``logdir``, by default OUTPUT/tensorboard; the
    members of an ensemble (``model.members`` > 1, see ``elman.train.members``) write theirs to
    OUTPUT/members/I/tensorboard.
    ``extra`` lists annotated corpora added to the training data after renaming their entity
    types by ``train.extra_types`` (see ``TrainConfig``).
    ``nproc`` > 1 runs the ``elman train`` command line of this process in that many processes
    through torchrun (see ``elman.distributed.ddp``), unless torchrun started this process.
    A new run stops with ``ConfigError`` when ``output`` contains a model or another run's
    checkpoints, unless ``overwrite`` is set (see ``elman.train.output.claimed_output``). A run
    holds the lock of its folder (``elman.train.lock``) until it ends.
    """
    output = Path(output) if output is not None else None
    resume = Path(resume) if resume is not None else None
    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: expected 1 or more processes")
    if resume is not None and overwrite:
        raise ConfigError(
            f"--overwrite starts a new run and cannot be combined with --resume {resume}; "
            "drop one of them"
        )
    if resume is not None:
        _check_resume_alone(
            resume,
            {
                "--train": train_path is not None,
                "--dev": dev is not None,
                "--output": output is not None and output.resolve() != resume.resolve(),
                "--test": test is not None,
                "--extra": bool(extra),
                "--format": format != "auto",
                "--scheme": scheme != "auto",
                "--sep": sep != "auto",
                "--preset": preset is not None,
                "--config": config is not None,
                "--set": bool(overrides),
                "--seed": seed is not None,
            },
        )
    consumers: list[Consumer] = [ProgressBar(enabled=None if progress else False)]
    if resume is not None:
        with _resume_lock(resume) as lock:
            return _resume(resume, nproc, consumers, tensorboard, logdir, lock)

    if train_path is None or output is None:
        raise ConfigError("elman train needs --train and --output (or --resume DIR)")
    if tensorboard:
        consumers.append(TensorBoardWriter(logdir or output / "tensorboard"))
    model_config, train_config = load_settings(
        preset=preset, config_file=config, overrides=overrides or []
    )
    train_config = with_seed(train_config, seed)
    _check_members(model_config.members, nproc)
    reader = {"sep": sep} if format in ("auto", "conll") else {}
    spec = RunSpec(
        train=train_path,
        dev=dev,
        output=str(output),
        test=test,
        extra=list(extra or []),
        format=format,
        scheme=validate_scheme(scheme),
        reader=reader,
    )
    # Under torchrun, rank 0 alone writes files, so it alone checks the folder. The processes
    # that elman started share the lock of the process that started them.
    claim = (
        claimed_output(spec, model_config, train_config, overwrite, lock=_takes_lock())
        if ddp.is_main_process()
        else nullcontext()
    )
    with claim as lock:
        if model_config.members > 1:
            return members.train_members(spec, model_config, train_config, tensorboard=tensorboard)
        if _needs_processes(nproc):
            return _train_in_processes(nproc, output, lock)
        return train_model(spec, model_config, train_config, consumers=consumers)


def _resume(
    resume: Path,
    nproc: int,
    consumers: list[Consumer],
    tensorboard: bool,
    logdir: Path | None,
    lock: int | None,
) -> SavedModel:
    """Resume the run in ``resume``: an ensemble, a run in processes, or a run here."""
    if members.is_ensemble_run(resume):
        if nproc > 1:
            raise ConfigError(
                f"{resume} contains an ensemble, whose members train in processes of their own; "
                f"drop --nproc {nproc}"
            )
        return members.resume_members(resume, tensorboard=tensorboard)
    spec, model_config, train_config = _resumed_run(resume)
    if tensorboard:
        consumers.append(TensorBoardWriter(logdir or resume / "tensorboard"))
    if _needs_processes(nproc):
        return _train_in_processes(nproc, resume, lock)
    return train_model(spec, model_config, train_config, resume=True, consumers=consumers)


def _takes_lock() -> bool:
    """Return whether this process takes the output folder's lock: not when torchrun started it."""
    return not ddp.started_by_torchrun()


def _resume_lock(resume: Path) -> AbstractContextManager[int | None]:
    """Return the lock of an existing folder to resume; a missing one raises later, unlocked."""
    return output_lock(resume) if resume.is_dir() and _takes_lock() else nullcontext()


def interruption(output: Path | None, resume: Path | None) -> TrainingInterrupted:
    """Return the error for Ctrl-C or SIGTERM outside the epochs, for example while reading corpora.

    Within the epochs ``train_model`` reports the interruption itself.
    """
    directory = resume or output
    if directory is None:
        return TrainingInterrupted("interrupted")
    if members.is_ensemble_run(directory):
        return TrainingInterrupted(
            f"interrupted; resume from the last completed epoch with: "
            f"elman train --resume {directory}"
        )
    return TrainingInterrupted(checkpoint.interruption_hint(directory))


def _check_resume_alone(resume: Path, options: dict[str, bool]) -> None:
    """Raise ConfigError for each option that would choose corpora or settings.

    A resumed run keeps the corpora and settings saved in its checkpoint.
    """
    ignored = [option for option, present in options.items() if present]
    if ignored:
        pronoun = "them" if len(ignored) > 1 else "it"
        raise ConfigError(
            f"--resume {resume} continues with the corpora and settings saved in {resume} and "
            f"would ignore {', '.join(ignored)}; drop {pronoun}, or start a new run with "
            f"{pronoun} (--overwrite replaces the interrupted one)"
        )


def _check_members(count: int, nproc: int) -> None:
    if count > 1 and nproc > 1:
        raise ConfigError(
            f"model.members={count} trains each member in a process of its own and cannot be "
            f"combined with --nproc {nproc}; drop --nproc or set model.members=1"
        )


def _needs_processes(nproc: int) -> bool:
    return nproc > 1 and not ddp.started_by_torchrun()


def _train_in_processes(nproc: int, output: Path, lock: int | None) -> SavedModel:
    """Train in ``nproc`` processes after this process checked the settings; load the result.

    torchrun inherits the file descriptor ``lock``, so the lock lasts as long as its processes.
    """
    from elman.distributed.ddp import train_in_processes
    from elman.store import load_model

    return load_model(train_in_processes(nproc, output, lock))


def _resumed_run(directory: Path) -> tuple[RunSpec, ModelConfig, TrainConfig]:
    last = directory / "checkpoints" / "last"
    run = checkpoint.read_run(last)
    try:
        spec = replace(RunSpec(**run), output=str(directory))
        return spec, ModelConfig(**spec.model), TrainConfig(**spec.training)
    except (TypeError, ConfigError) as error:
        raise ModelError(
            f"{last}: damaged checkpoint, its run settings are invalid ({error}); "
            "start a new run without --resume"
        ) from error
