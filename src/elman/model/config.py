"""Settings of the network, saved with its weights."""

from __future__ import annotations

from dataclasses import dataclass

from elman.errors import ConfigError

CELLS = ("elman", "jordan", "gru", "lstm")
NONLINEARITIES = ("tanh", "sigmoid")
CHAR_ENCODERS = ("none", "cnn", "rnn")
OUTPUTS = ("softmax", "crf")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the tagger: inputs, recurrence and output layer.

    ``window`` is the number of words whose embeddings are concatenated for each position (the word
    itself and ``window // 2`` neighbours on each side); 1 turns the context window off.
    ``document_consistency`` gives a name the same label throughout a document: before decoding,
    each mention of a capitalised word gets ``document_evidence`` times the tag probabilities of
    its other mentions (``elman.model.evidence``; 0 skips this step), and after decoding the
    document's entities vote on their labels (``elman.model.consistency``). ``members`` > 1
    trains that many networks apart and averages their scores (``elman.model.ensemble``).
    ``lm_words`` > 0 adds a training objective: each direction of the recurrence also predicts
    the next word it has not read, among the ``lm_words`` most frequent word ids and one class
    for the rest, and its cross-entropy, times ``lm_weight``, joins the loss
    (``elman.model.language``).
    """

    word_dim: int = 100
    window: int = 3
    casing_dim: int = 8
    char_encoder: str = "none"
    char_dim: int = 25
    char_hidden: int = 50
    cell: str = "elman"
    nonlinearity: str = "tanh"
    hidden: int = 200
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.3
    output: str = "softmax"
    constrained_decoding: bool = True
    document_consistency: bool = False
    document_evidence: float = 4.0
    members: int = 1
    pretrained: str = ""
    freeze_pretrained: bool = False
    lm_words: int = 0
    lm_weight: float = 0.3

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        _choice("char_encoder", self.char_encoder, CHAR_ENCODERS)
        _choice("output", self.output, OUTPUTS)
        if self.window < 1 or self.window % 2 == 0:
            raise ConfigError(f"model.window={self.window}: expected an odd number >= 1 (1 is off)")
        for name in ("word_dim", "hidden", "layers", "char_dim", "char_hidden", "members"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"model.{name}={getattr(self, name)}: expected a positive integer"
                )
        if self.lm_words < 0:
            raise ConfigError(f"model.lm_words={self.lm_words}: expected 0 (off) or more")
        if not 0.0 <= self.lm_weight < float("inf"):
            raise ConfigError(f"model.lm_weight={self.lm_weight}: expected a finite value >= 0")
        if self.lm_words > 0 and self.bidirectional and self.layers > 1:
            raise ConfigError(
                f"model.lm_words={self.lm_words} with layers={self.layers}: above the first "
                "layer of a bidirectional stack, each state has read the whole sentence, so "
                "there is no word left to predict; set model.layers=1 or model.lm_words=0"
            )
        if self.casing_dim < 0:
            raise ConfigError(f"model.casing_dim={self.casing_dim}: expected 0 (off) or more")
        if not 0.0 <= self.document_evidence < float("inf"):
            raise ConfigError(
                f"model.document_evidence={self.document_evidence}: expected a finite value >= 0"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout}: expected a value in [0, 1)")
        if self.cell == "jordan" and self.bidirectional:
            raise ConfigError(
                "model.cell='jordan' feeds back the previous output, which only exists left to "
                "right; set model.bidirectional=false or choose another cell"
            )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"model.{name}={value!r}: expected one of {', '.join(allowed)}")
