"""The output folder of a new training run: reject an earlier run in it, or clear it on request."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from elman.errors import ConfigError
from elman.logs import raised_level
from elman.model.config import ModelConfig
from elman.store import MANIFEST_FILE
from elman.train.config import TrainConfig
from elman.train.lock import output_lock
from elman.train.members import MEMBERS_DIR, RUN_FILE, Corpora
from elman.train.run import DEV_NEEDED, RunSpec, read_corpora, read_extra_corpora

logger = logging.getLogger(__name__)

EARLIER_RUN = {
    MANIFEST_FILE: MANIFEST_FILE,
    "model.safetensors": "model.safetensors",
    "checkpoints": "checkpoints/last/state.json",
    MEMBERS_DIR: f"{MEMBERS_DIR}/{RUN_FILE}",
}
"""Each file or folder of an earlier run, with the file that shows elman wrote it."""
CLEARED = {
    "checkpoints": "checkpoints/last",
    MEMBERS_DIR: f"{MEMBERS_DIR}/{RUN_FILE}",
    "tensorboard": "tensorboard/events.out.tfevents.*",
    "report": "report/report.html",
}
"""Folders that ``overwrite`` deletes, because a new run would mix its files with theirs, each
with the file that shows elman wrote it. A folder without that file is left alone."""


@contextmanager
def claimed_output(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    overwrite: bool,
    corpora: Corpora | None = None,
    *,
    lock: bool = True,
) -> Iterator[int | None]:
    """Check the output folder, hold its lock through the block, and clear an earlier run.

    An output folder that contains an earlier run is rejected, unless ``overwrite`` is set.
    The checks run before the run writes anything, so they also reject ``train.with_dev``
    without a dev corpus, which a run would find only after creating the folder. With
    ``overwrite``, the corpora (``corpora``, or the paths in ``spec``) are read first, so that an
    error in them leaves the earlier run as it was. Then, holding the folder's lock
    (``elman.train.lock``, unless ``lock`` is false), its checkpoints, members, TensorBoard events
    and report are deleted. Its model files stay until the new model replaces them. The block
    receives the lock's file descriptor, or None.
    """
    output = Path(spec.output)
    existed = output.is_dir()
    with ExitStack() as stack:
        # An existing folder is locked before the checks, so that a run training in it is named.
        # A new one is created only once the checks have passed.
        descriptor = stack.enter_context(output_lock(output)) if lock and existed else None
        earlier = _earlier_run(spec, model_config, train_config, overwrite, corpora)
        if lock and not existed:
            descriptor = stack.enter_context(output_lock(output))
        for name, marker in CLEARED.items():
            if earlier and _written(output, marker):
                shutil.rmtree(output / name)
                logger.info("--overwrite: deleted %s of the earlier run", output / name)
        yield descriptor


def _earlier_run(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    overwrite: bool,
    corpora: Corpora | None,
) -> bool:
    """Return whether ``spec.output`` contains an earlier run to replace; raise when it may not."""
    if train_config.with_dev and spec.dev is None:
        raise ConfigError(DEV_NEEDED)
    output = Path(spec.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file; give a folder for the model")
    earlier = [name for name, marker in EARLIER_RUN.items() if _written(output, marker)]
    if not earlier:
        return False
    if not overwrite:
        raise ConfigError(
            f"{output} already contains a model or a training run ({', '.join(earlier)}); "
            f"continue that run with --resume {output}, replace it with --overwrite "
            "(overwrite=True in Python), or choose another --output"
        )
    _check_inputs(spec, model_config, train_config, corpora)
    return True


def _written(output: Path, marker: str) -> bool:
    """Return whether ``output`` contains ``marker``, a path that may end in a glob pattern."""
    return any(output.glob(marker))


def _check_inputs(
    spec: RunSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    corpora: Corpora | None,
) -> None:
    """Read the corpora as the run will, so that their errors are raised before any deletion."""
    # The run reads the corpora again and logs what it finds then, so errors only here.
    with raised_level(logging.getLogger("elman"), logging.ERROR):
        train, _, _ = read_corpora(spec, train_config, corpora)
        read_extra_corpora(spec, train_config, train)
    vectors = model_config.pretrained
    if vectors and not Path(vectors).is_file():
        raise ConfigError(f"model.pretrained={vectors!r}: file not found")
