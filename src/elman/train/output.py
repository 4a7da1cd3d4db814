"""The output folder of a new training run: reject an earlier run in it, or clear it on request."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.store import MANIFEST_FILE, MODEL_FILES
from elman.train.config import TrainConfig
from elman.train.members import MEMBERS_DIR
from elman.train.run import RunSpec, read_corpora, read_extra_corpora

logger = logging.getLogger(__name__)

EARLIER_RUN = (*MODEL_FILES, MANIFEST_FILE, "checkpoints", MEMBERS_DIR)
"""Files and folders that mark a folder as the output of an earlier run."""
CLEARED = ("checkpoints", MEMBERS_DIR, "tensorboard", "report")
"""Folders that ``overwrite`` deletes, because a new run would mix its own files with theirs."""


def claim_output(
    spec: RunSpec, model_config: ModelConfig, train_config: TrainConfig, overwrite: bool
) -> None:
    """Reject an output folder that contains an earlier run, unless ``overwrite`` is set.

    With ``overwrite``, the corpora are read first, so that an error in them leaves the earlier
    run as it was. Then its checkpoints, members, TensorBoard events and report are deleted. Its
    model files stay until the new model replaces them.
    """
    output = Path(spec.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file; give a folder for the model")
    earlier = [name for name in EARLIER_RUN if (output / name).exists()]
    if not earlier:
        return
    if not overwrite:
        raise ConfigError(
            f"{output} already contains a model or a training run ({', '.join(earlier)}); "
            f"continue that run with --resume {output}, replace it with --overwrite, "
            "or choose another --output"
        )
    _check_inputs(spec, model_config, train_config)
    for name in CLEARED:
        if (output / name).is_dir():
            shutil.rmtree(output / name)
            logger.info("--overwrite: deleted %s of the earlier run", output / name)


def _check_inputs(spec: RunSpec, model_config: ModelConfig, train_config: TrainConfig) -> None:
    """Read the corpora as the run will, so that their errors are raised before any deletion."""
    train, _, _ = read_corpora(spec, train_config)
    read_extra_corpora(spec, train_config, train)
    vectors = model_config.pretrained
    if vectors and not Path(vectors).is_file():
        raise ConfigError(f"model.pretrained={vectors!r}: file not found")
