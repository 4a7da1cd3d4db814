"""Training an ensemble: each member is an ordinary run in its own process, then they are combined.

With ``model.members`` = N, member i trains in OUTPUT/members/i with the seed ``seed * N + i``,
at most one member per core at a time, the threads (``train.threads``, or one per core) shared
among those that run together. Each member
directory is a complete run with its own checkpoints, TensorBoard events, report and saved
model. When all have finished, OUTPUT contains the ensemble (``elman.model.ensemble``), scored on
dev and test like any model.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from elman import atomic
from elman.data.sentence import Corpus
from elman.errors import ConfigError, ElmanError, ModelError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.model.ensemble import combine
from elman.store import MANIFEST_FILE, SavedModel, load_model, save_model
from elman.train.config import TrainConfig
from elman.train.progress import ProgressBar
from elman.train.run import (
    Consumer,
    RunSpec,
    TrainingInterrupted,
    final_scores,
    read_corpora,
    train_model,
    usable_threads,
    write_report,
)
from elman.train.signals import StopEvent, StopOnSignal, member_training, start_member_process
from elman.train.tensorboard import TensorBoardWriter

logger = logging.getLogger(__name__)

Corpora = tuple[Corpus, Corpus | None, Corpus | None]

MEMBERS_DIR = "members"
RUN_FILE = "run.json"
"""The ensemble's settings in OUTPUT/members, so that ``--resume OUTPUT`` can restart it."""


@dataclass(frozen=True)
class MemberJob:
    """The run, settings and logging options of one member's process."""

    index: int
    spec: RunSpec
    model_config: ModelConfig
    train_config: TrainConfig
    resume: bool
    tensorboard: bool
    log_level: int
    corpora: Corpora | None = None


def train_members(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    resume: bool = False,
    tensorboard: bool = True,
    corpora: Corpora | None = None,
) -> SavedModel:
    """Train ``model_config.members`` networks at the same time and save their ensemble.

    ``corpora`` (train, dev, test) replaces reading the paths in ``spec``, as in ``train_model``.
    """
    output = Path(spec.output)
    folder = output / MEMBERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    _write_run(folder / RUN_FILE, spec, model_config, train_config)
    jobs = _jobs(spec, model_config, train_config, resume, tensorboard, corpora)
    processes = member_processes(len(jobs))
    logger.info("training %d members, %d at a time, in %s", len(jobs), processes, folder)

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    pool = ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=start_member_process,
        initargs=(stop, os.getpid()),
    )
    with StopOnSignal(stop, str(_interrupted(output))) as signals:
        try:
            paths = _run_members(pool, jobs, stop)
        except BaseException as error:
            # After a signal, whatever a member raised (its interruption, or KeyboardInterrupt
            # while it read corpora or scored) means the same: the run was interrupted. So does
            # a member's interruption alone, by a signal sent to its process.
            if signals.received or isinstance(error, (TrainingInterrupted, KeyboardInterrupt)):
                raise _interrupted(output) from None
            if isinstance(error, BrokenProcessPool):
                raise ElmanError(
                    f"a member's training process ended abruptly ({error}), for example killed "
                    f"for lack of memory; resume with: elman train --resume {output}"
                ) from None
            raise
        finally:
            if stop.is_set():
                logger.info("waiting for the members to stop")
            pool.shutdown(wait=True, cancel_futures=True)
    if signals.received:
        raise _interrupted(output)
    return _save_ensemble(spec, train_config, [Path(path) for path in paths], corpora)


def _run_members(pool: ProcessPoolExecutor, jobs: list[MemberJob], stop: StopEvent) -> list[str]:
    """Train the members in ``pool`` and return their directories, in member order.

    At the first member that fails, ``stop`` is set, so the others stop and keep their last
    completed epoch (the members not started yet never start), and its error is raised.
    """
    futures = [pool.submit(_train_member, job) for job in jobs]
    wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        error = future.exception() if future.done() and not future.cancelled() else None
        if error is not None:
            stop.set()
            raise error
    return [future.result() for future in futures]


def _interrupted(output: Path) -> TrainingInterrupted:
    return TrainingInterrupted(
        f"interrupted; each member resumes from its last completed epoch with: "
        f"elman train --resume {output}"
    )


def resume_members(directory: Path, *, tensorboard: bool = True) -> SavedModel:
    """Resume an interrupted ensemble: finished members are kept, the others resume."""
    path = directory / MEMBERS_DIR / RUN_FILE
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        spec = replace(RunSpec(**run["run"]), output=str(directory))
        model_config = ModelConfig(**run["model"])
        train_config = TrainConfig(**run["train"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as error:
        raise ModelError(
            f"{path}: cannot read the ensemble's settings ({error}); start a new run without "
            "--resume"
        ) from error
    return train_members(spec, model_config, train_config, resume=True, tensorboard=tensorboard)


def is_ensemble_run(directory: Path) -> bool:
    """Return whether ``directory`` is the output of an ensemble's training."""
    return (directory / MEMBERS_DIR / RUN_FILE).is_file()


def _jobs(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    resume: bool,
    tensorboard: bool,
    corpora: Corpora | None,
) -> list[MemberJob]:
    count = model_config.members
    total = (
        usable_threads(train_config.threads) if train_config.threads > 0 else os.cpu_count() or 1
    )
    processes = member_processes(count)
    member_model = replace(model_config, members=1)
    level = logging.getLogger("elman").getEffectiveLevel()
    jobs = []
    for index in range(count):
        member_train = replace(
            train_config,
            seed=train_config.seed * count + index,
            threads=max(1, total // processes),
        )
        member_spec = replace(spec, output=str(Path(spec.output) / MEMBERS_DIR / str(index)))
        jobs.append(
            MemberJob(
                index, member_spec, member_model, member_train, resume, tensorboard, level, corpora
            )
        )
    return jobs


def member_processes(members: int) -> int:
    """Return how many members train at the same time: one per core at most.

    Each member has its own copy of the corpora and the network, so that a large
    ``model.members`` would otherwise run the machine out of memory.
    """
    return max(1, min(members, os.cpu_count() or 1))


def _train_member(job: MemberJob) -> str:
    """Train one member in this process and return its directory."""
    logging.basicConfig(
        level=job.log_level,
        format=f"%(asctime)s %(levelname)s member {job.index}: %(message)s",
        force=True,
    )
    output = Path(job.spec.output)
    if job.resume and (output / MANIFEST_FILE).is_file():
        logger.info("already trained: %s", output)
        return str(output)
    consumers: list[Consumer] = [ProgressBar(enabled=False)]
    if job.tensorboard:
        consumers.append(TensorBoardWriter(output / "tensorboard"))
    resume = job.resume and (output / "checkpoints" / "last").is_dir()
    with member_training():
        train_model(
            job.spec,
            job.model_config,
            job.train_config,
            resume=resume,
            consumers=consumers,
            corpora=job.corpora,
        )
    return str(output)


def _save_ensemble(
    spec: RunSpec, train_config: TrainConfig, paths: list[Path], corpora: Corpora | None
) -> SavedModel:
    """Combine the trained members, score the ensemble on dev and test, and save it."""
    members = [load_model(path) for path in paths]
    vocab = members[0].vocab
    for member, path in zip(members[1:], paths[1:], strict=True):
        if member.vocab.to_dict() != vocab.to_dict():
            raise ModelError(
                f"{path}: its vocabularies differ from those of {paths[0]}, so the members "
                "cannot be combined; train the ensemble again from the same corpora"
            )
    networks = [member.model for member in members if isinstance(member.model, ElmanTagger)]
    ensemble = combine(networks, len(vocab.words), len(vocab.chars))

    _, dev, test = read_corpora(spec, train_config, corpora)
    predictions: dict[str, tuple[list[tuple[str, ...]], list[list[str]]]] = {}
    scores: dict[str, Any] = {
        "best_epoch": max(member.scores.get("best_epoch", 0) for member in members),
        "epochs": max(member.scores.get("epochs", 0) for member in members),
        "history": [],
        "members": [_summary(member) for member in members],
        **final_scores(ensemble, vocab, dev, test, predictions),
    }
    output = Path(spec.output)
    saved = SavedModel(
        ensemble, vocab, ensemble.config, train_config, members[0].scheme, scores, output
    )
    save_model(saved, output)
    logger.info("saved the ensemble of %d members to %s", len(members), output)
    write_report(output, predictions)
    return saved


def _summary(member: SavedModel) -> dict[str, Any]:
    """Return a member's directory, epochs and F1 scores for the ensemble's scores.json."""
    summary: dict[str, Any] = {
        "path": str(member.path),
        "seed": member.train_config.seed,
        "best_epoch": member.scores.get("best_epoch"),
        "epochs": member.scores.get("epochs"),
    }
    for split in ("dev", "test"):
        if isinstance(member.scores.get(split), dict):
            summary[f"{split}_f1"] = member.scores[split]["f1"]
    return summary


def _write_run(
    path: Path, spec: RunSpec, model_config: ModelConfig, train_config: TrainConfig
) -> None:
    run = {"run": asdict(spec), "model": asdict(model_config), "train": asdict(train_config)}
    with atomic.atomic_path(path) as temporary:
        temporary.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
