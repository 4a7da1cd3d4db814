"""ONNX export of the network and an onnxruntime backend for the tagger.

The ONNX graph computes the emission scores, from padded ids to (batch, time, num_tags); decoding
(Viterbi with the scheme's constraints, or the CRF's) stays in PyTorch, so both backends share it.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from elman import atomic
from elman.data.batch import Batch, encode_batch
from elman.errors import ModelError
from elman.logs import raised_level
from elman.store import SavedModel

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INPUTS = ("words", "casing", "chars", "char_index", "mask", "lengths")
OPSET = 17
# Metadata key of the model's digest. NOTE: files exported before it existed lack it and are
# loaded unchecked.
DIGEST_KEY = "elman.model_sha256"


def _check_exportable(cell: str, nonlinearity: str) -> None:
    """Raise ``ModelError`` for the recurrences that run a Python loop over the time steps.

    Tracing records such a loop for the sample's length only, so the graph would fail or score
    wrongly on sentences of other lengths.
    """
    if cell == "jordan" or (cell == "elman" and nonlinearity == "sigmoid"):
        raise ModelError(
            f"cannot export model.cell={cell!r} with model.nonlinearity={nonlinearity!r} to "
            "ONNX: its recurrence is a Python loop, which the exported graph would fix to one "
            "sentence length; tag with the PyTorch backend (the default) instead"
        )


def export_onnx(saved: SavedModel, path: str | Path, *, quantize: bool = False) -> Path:
    """Write the network of ``saved`` as an ONNX file; ``quantize`` stores int8 weights."""
    target = Path(path)
    model = saved.model.eval()
    _check_exportable(model.config.cell, model.config.nonlinearity)
    chars = model.config.char_encoder != "none"
    sample = encode_batch(saved.vocab, [["Example", "text", "."], ["Two"]], chars=chars)
    axes = {
        "words": {0: "batch", 1: "time"},
        "casing": {0: "batch", 1: "time"},
        "chars": {0: "types", 1: "width"},
        "char_index": {0: "batch", 1: "time"},
        "mask": {0: "batch", 1: "time"},
        "lengths": {0: "batch"},
        "emissions": {0: "batch", 1: "time"},
    }
    with atomic.atomic_path(target) as temporary, warnings.catch_warnings():
        # The TorchScript-based exporter warns about RNN batch sizes it cannot know; the
        # dynamic axes above cover them.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            sample.inputs(),
            str(temporary),
            input_names=list(INPUTS),
            output_names=["emissions"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # The quantizer logs on the root logger, at WARNING, advice meant for image models
            # and a message for each tensor that it leaves unquantized, such as integer ones.
            with raised_level(logging.getLogger(), logging.ERROR):
                quantize_dynamic(str(temporary), str(temporary), weight_type=QuantType.QInt8)
        _record_digest(temporary, model_digest(saved))
    logger.info("wrote %s%s", target, " (int8 weights)" if quantize else "")
    return target


def model_digest(saved: SavedModel) -> str:
    """Return the SHA-256 of a model's vocabularies and weights, which its ONNX file records."""
    digest = hashlib.sha256(saved.vocab.digest().encode("ascii"))
    for name, tensor in sorted(saved.model.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _record_digest(path: Path, digest: str) -> None:
    import onnx

    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {DIGEST_KEY: digest})
    onnx.save(graph, str(path))


class OnnxEmissions:
    """Computes emission scores with onnxruntime; a drop-in for ``ElmanTagger.emissions``.

    ``digest``, when given, must equal the ``model_digest`` that ``export_onnx`` stored in the
    file: the scores of a graph exported from another model would be wrong or fail. ``model``,
    the model directory, is named in the hints of errors.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int = 0,
        digest: str | None = None,
        model: Path | None = None,
    ):
        import onnxruntime as ort

        source = Path(path)
        folder = "MODEL" if model is None else str(model)
        if not source.exists():
            raise ModelError(
                f"{source}: no ONNX file; create it with: elman export {folder} --onnx {source}"
            )
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(source), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors on bad files
            raise ModelError(f"{source}: cannot load the ONNX file ({error})") from error
        stored = self.session.get_modelmeta().custom_metadata_map.get(DIGEST_KEY)
        if digest is not None and stored is not None and stored != digest:
            raise ModelError(
                f"{source}: exported from another model or another version of this one; "
                f"export {folder} to a file of its own with: elman export {folder} and tag "
                "with --backend onnx"
            )
        self.inputs = [node.name for node in self.session.get_inputs()]
        ranks = {node.name: len(node.shape) for node in self.session.get_inputs()}
        if ranks.get("chars", 2) != 2:
            raise ModelError(
                f"{source}: exported by an older elman, whose character input no longer matches; "
                f"export it again with: elman export {folder} --onnx {source}"
            )

    def __call__(self, batch: Batch) -> torch.Tensor:
        feeds = dict(zip(INPUTS, (tensor.numpy() for tensor in batch.inputs()), strict=True))
        (scores,) = self.session.run(None, {name: feeds[name] for name in self.inputs})
        return torch.from_numpy(np.asarray(scores))
