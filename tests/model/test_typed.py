"""The tagging fast path gives the scores of the general forward pass, for every Elman layout."""

from __future__ import annotations

import pytest
import torch

from elman.data.batch import encode_batch
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.model.typed import supports_typed_path, typed_emissions

SENTENCES = [
    ["Ines", "met", "Olu", "in", "Lagos", "and", "Ines", "left", "."],
    ["Hello", "Olu"],
    ["Lagos"],
    ["and", "met", "met", "Ines", "."],
]
TAGS = [["O"] * len(tokens) for tokens in SENTENCES]

CONFIGS = [
    ModelConfig(hidden=12, word_dim=6),
    ModelConfig(hidden=12, word_dim=6, window=1, casing_dim=0),
    ModelConfig(hidden=12, word_dim=6, window=5, char_encoder="cnn", char_hidden=10),
    ModelConfig(hidden=12, word_dim=6, bidirectional=True, char_encoder="rnn", char_hidden=8),
    ModelConfig(hidden=12, word_dim=6, bidirectional=True, layers=3, output="crf"),
    ModelConfig(hidden=12, word_dim=6, nonlinearity="sigmoid", layers=2, char_encoder="cnn"),
    ModelConfig(hidden=12, word_dim=6, window=9, nonlinearity="sigmoid", bidirectional=True),
]


def _model(config: ModelConfig, seed: int) -> tuple[ElmanTagger, Vocabularies]:
    torch.manual_seed(seed)
    vocab = Vocabularies.build(SENTENCES[:2], TAGS[:2])
    model = ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(std=0.5)
    return model.eval(), vocab


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_typed_scores_equal_forward(config: ModelConfig, seed: int) -> None:
    model, vocab = _model(config, seed)
    batch = encode_batch(vocab, SENTENCES, chars=config.char_encoder != "none")
    with torch.no_grad():
        general = model(*batch.inputs())
        typed = typed_emissions(model, batch)
    assert typed.shape == general.shape
    assert torch.allclose(typed[batch.mask], general[batch.mask], atol=1e-5)


def test_eval_without_gradients_takes_the_typed_path(monkeypatch: pytest.MonkeyPatch) -> None:
    model, vocab = _model(CONFIGS[0], 0)
    batch = encode_batch(vocab, SENTENCES)
    calls = []
    monkeypatch.setattr(model, "forward", lambda *inputs: calls.append(inputs))
    with torch.inference_mode():
        model.emissions(batch)
    assert calls == []
    model.train()
    with torch.inference_mode():
        model.emissions(batch)
    assert len(calls) == 1


@pytest.mark.parametrize("cell", ["gru", "lstm", "jordan"])
def test_other_cells_keep_the_general_path(cell: str) -> None:
    model, _ = _model(ModelConfig(hidden=12, word_dim=6, cell=cell), 0)
    assert not supports_typed_path(model)
