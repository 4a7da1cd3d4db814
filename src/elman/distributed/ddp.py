"""Train one model in several processes with torch's ``DistributedDataParallel``.

``elman train --nproc N`` runs the same command in N processes on this machine through
``torch.distributed.run`` (torchrun, started by ``elman.distributed.torchrun``). A command that
torchrun starts directly, on one machine or several, trains the same way. Each process:

- joins the process group that torchrun describes in its environment (``RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``, ``MASTER_PORT``);
- reads the corpora and builds the vocabularies, which come out the same in every process;
- takes rank 0's shuffled batches and from each batch its own share, the sentences ``rank``,
  ``rank + N``, ..., so that every process takes the same number of steps;
- averages gradients through DDP, and agrees with the others on every non-finite check;
- tags a share of the dev set and gathers the rest, so that every process computes the same
  scores and makes the same learning-rate and early-stopping decisions.

Rank 0 alone writes checkpoints, the model, TensorBoard events and INFO logs. A resumed run loads
the checkpoint in every process.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from elman.data.batch import Batch
from elman.data.vocab import Vocabularies
from elman.errors import ConfigError, ElmanError
from elman.evaluate.metrics import Scores, score
from elman.model.elman import ElmanTagger
from elman.model.inference import predict_tags
from elman.train.checkpoint import interruption_hint
from elman.train.config import TrainConfig
from elman.train.lock import add_holder
from elman.train.loop import Pairs, Trainer
from elman.train.signals import Terminated

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
"""How long torchrun may take to stop after Ctrl-C before it gets SIGTERM."""
PARENT_REPORTS_INTERRUPTION = "ELMAN_PARENT_REPORTS_INTERRUPTION"
"""Set in the environment of the processes that ``train_in_processes`` starts."""


@dataclass(frozen=True)
class RankInfo:
    """This process's place in the process group."""

    rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def interruption_reported_by_parent() -> bool:
    """Return whether ``train_in_processes`` started this process and reports interruptions."""
    return os.environ.get(PARENT_REPORTS_INTERRUPTION) == "1"


def started_by_torchrun() -> bool:
    """Whether this process is one of several that torchrun started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """Whether this process writes files: rank 0, or the only process of a plain run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def join_process_group() -> RankInfo | None:
    """Join the process group that torchrun set up; return None when torchrun did not start us.

    The trainer runs on the CPU, so gradients travel over gloo. With CUDA present the group also
    gets NCCL for CUDA tensors (backend ``cpu:gloo,cuda:nccl``). Processes other than rank 0 log
    warnings and errors only.
    """
    if not started_by_torchrun():
        return None
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; train with one process")
    if not dist.is_initialized():
        # NOTE: the CUDA branch has not been run. The model stays on the CPU, so NCCL carries
        # nothing until the trainer learns to place the model and batches on a GPU.
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        atexit.register(_leave_process_group)
    info = RankInfo(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()))
    if not info.is_main:
        logging.getLogger("elman").setLevel(logging.WARNING)
    logger.info(
        "process %d of %d joined the %s process group", info.rank + 1, info.world_size, info.backend
    )
    return info


def wait_for_all() -> None:
    """Block until every process of the group gets here; return at once without a group.

    Used at the end of a run, so that no process leaves the group while rank 0 is still saving.
    NOTE: a test run once ended with one process aborted inside gloo ("terminate called without
    an active exception"). This wait is meant to prevent that, but the cause was not confirmed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def make_trainer(
    rank: RankInfo | None,
    model: ElmanTagger,
    vocab: Vocabularies,
    train: Pairs,
    dev: Pairs | None,
    config: TrainConfig,
    extra: Pairs | None = None,
) -> Trainer:
    """Return a ``Trainer`` for one process, or a ``DistributedTrainer`` for rank ``rank``."""
    if rank is None:
        return Trainer(model, vocab, train, dev, config, extra)
    return DistributedTrainer(model, vocab, train, dev, config, rank, extra)


class _LossModule(nn.Module):
    """Routes ``ElmanTagger.loss`` through ``forward``, where DDP hooks its gradient sync."""

    def __init__(self, model: ElmanTagger):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> tuple[torch.Tensor, int]:
        return self.model.loss(batch)


class DistributedTrainer(Trainer):
    """A ``Trainer`` that runs as one rank of a process group; every rank must create one."""

    def __init__(
        self,
        model: ElmanTagger,
        vocab: Vocabularies,
        train: Pairs,
        dev: Pairs | None,
        config: TrainConfig,
        rank: RankInfo,
        extra: Pairs | None = None,
    ):
        super().__init__(model, vocab, train, dev, config, extra)
        self.rank = rank
        # The buffers are constant tag-transition masks, the same in every process, so DDP need
        # not broadcast them before each forward pass.
        self.parallel = DistributedDataParallel(_LossModule(model), forward_sync_buffers=False)
        # DDP has just copied rank 0's initial weights into every process.
        self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _epoch_batches(self) -> list[list[int]]:
        # Only rank 0's generator decides the order. The others draw from theirs for rare-word
        # replacement in their own shares, so their generators no longer match rank 0's.
        batches = super()._epoch_batches() if self.rank.is_main else None
        holder = [batches]
        dist.broadcast_object_list(holder, src=0)
        return list(holder[0] or [])

    def _batch_loss(self, rows: list[int]) -> tuple[torch.Tensor, int]:
        share = rows[self.rank.rank :: self.rank.world_size]
        # A batch smaller than the world leaves some ranks without a sentence. They still run
        # forward and backward, because DDP all-reduces gradients at every step, but on a zero
        # loss. DDP averages over ranks, so such a step takes a proportionally smaller step.
        loss_sum, tokens = self.parallel(self._encode_rows(share or rows[:1]))
        if not share:
            return loss_sum * 0.0, 0
        return loss_sum / max(tokens, 1), tokens

    def _all_ranks(self, flag: bool) -> bool:
        value = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return bool(value.item())

    def _reduce_epoch(self, loss: float, tokens: int, seconds: float) -> tuple[float, int, float]:
        sums = torch.tensor([loss, float(tokens)], dtype=torch.float64)
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        longest = torch.tensor([seconds], dtype=torch.float64)
        # The time budget (train.max_minutes) must stop every rank in the same epoch.
        dist.all_reduce(longest, op=dist.ReduceOp.MAX)
        return float(sums[0]), round(float(sums[1])), float(longest[0])

    def _evaluate(self) -> Scores | None:
        if self.dev is None:
            return None
        tokens, gold = self.dev
        rank, world = self.rank.rank, self.rank.world_size
        # Each rank tags whole documents, because document-level consistency needs all of one.
        documents = self.dev_documents or range(len(tokens))
        mine = [i for i, document in enumerate(documents) if document % world == rank]
        tags = predict_tags(
            self.model,
            self.vocab,
            [tokens[i] for i in mine],
            documents=[documents[i] for i in mine],
        )
        gathered: list[list[tuple[int, list[str]]] | None] = [None] * world
        dist.all_gather_object(gathered, list(zip(mine, tags, strict=True)))
        predicted: list[list[str]] = [[] for _ in tokens]
        for part in gathered:
            for index, sentence_tags in part or []:
                predicted[index] = sentence_tags
        return score(gold, predicted, scheme="iob2", mode="conlleval")


def train_in_processes(nproc: int, output: Path, lock: int | None = None) -> Path:
    """Run this ``elman train`` command line in ``nproc`` processes through torchrun and wait.

    The processes rendezvous on the loopback interface. torchrun inherits the output folder's
    lock (``elman.train.lock``) from the file descriptor ``lock``. Returns the model directory
    ``output``, which rank 0 wrote.
    """
    command = [
        sys.executable,
        "-m",
        "elman.distributed.torchrun",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "elman",
        *_command_line_arguments(),
    ]
    environment = dict(os.environ)
    # torchrun would set 1 thread per process and print a banner about it; share the cores.
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    # This process prints the one message about an interruption, so torchrun's warnings about
    # stopping its processes and the processes' own messages are left out.
    environment.setdefault("LOGLEVEL", "ERROR")
    environment[PARENT_REPORTS_INTERRUPTION] = "1"
    loopback = _loopback_interface()
    if loopback is not None:
        # gloo otherwise connects through the address that the host name resolves to.
        environment.setdefault("GLOO_SOCKET_IFNAME", loopback)
    logger.info("starting %d training processes: %s", nproc, " ".join(command))
    process = subprocess.Popen(command, env=environment, pass_fds=() if lock is None else (lock,))
    if lock is not None:
        add_holder(lock, process.pid)
    try:
        status = process.wait()
    except KeyboardInterrupt as interrupt:
        status = _stop_torchrun(process, terminated=isinstance(interrupt, Terminated))
        if status == 0:
            return output  # the run had ended before torchrun heard of the interruption
        raise ElmanError(interruption_hint(output, f" --nproc {nproc}")) from None
    if status != 0:
        raise ElmanError(
            f"training in {nproc} processes failed: torchrun exited with status {status}; the "
            "messages above name the cause"
        )
    return output


def _stop_torchrun(process: subprocess.Popen[bytes], *, terminated: bool) -> int:
    """Stop torchrun after this process got SIGTERM or SIGINT; return its exit status.

    SIGTERM reached this process alone, so it is passed on. Ctrl-C in a terminal reaches
    torchrun and the training processes too, but ``kill -INT`` reaches this process alone, so
    torchrun gets SIGTERM when it is still running after ``STOP_GRACE_SECONDS``. torchrun then
    stops the training processes.
    """
    if not terminated:
        try:
            return process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    process.terminate()
    return process.wait()


def _command_line_arguments() -> list[str]:
    """Return the arguments of the running ``elman`` command, to repeat them in each process.

    ``--nproc`` is left out: the processes know their number from torchrun, and torchrun's
    argument parser would read ``--nproc`` as an abbreviation of its own ``--nproc-per-node``.
    """
    program = Path(sys.argv[0])
    is_elman = program.name == "elman" or (
        program.name == "__main__.py" and program.parent.name == "elman"
    )
    if not is_elman:
        raise ConfigError(
            "nproc > 1 restarts the elman command line under torchrun; from Python, start your "
            "script with torchrun --nproc-per-node N instead"
        )
    arguments: list[str] = []
    skip_value = False
    for argument in sys.argv[1:]:
        if skip_value:
            skip_value = False
        elif argument == "--nproc":
            skip_value = True
        elif not argument.startswith("--nproc="):
            arguments.append(argument)
    return arguments


def _loopback_interface() -> str | None:
    """Return the name of the loopback network interface (lo on Linux, lo0 on macOS)."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return None
    for name in names:
        if name in ("lo", "lo0"):
            return name
    return None
