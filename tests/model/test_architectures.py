"""Every architecture learns: a few optimizer steps on one batch lower its loss."""

from __future__ import annotations

import pytest
import torch

from elman.data.batch import encode_batch
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.ensemble import build_network

SENTENCES = [
    ["Ines", "Kallio", "flew", "from", "Oslo", "to", "Lima", "."],
    ["The", "Quorn", "board", "met", "in", "Turku", "on", "Monday", "."],
    ["Olu", "works", "for", "Vantor", "Labs", "."],
]
TAGS = [
    ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "O"],
    ["O", "B-ORG", "O", "O", "O", "B-LOC", "O", "O", "O"],
    ["B-PER", "O", "O", "B-ORG", "I-ORG", "O"],
]

ARCHITECTURES = {
    "elman": {},
    "elman-sigmoid": {"nonlinearity": "sigmoid"},
    "elman-no-window": {"window": 1},
    "bielman-crf-cnn": {"bidirectional": True, "output": "crf", "char_encoder": "cnn"},
    "elman-two-layers": {"layers": 2, "char_encoder": "rnn"},
    "bielman-two-layers": {"layers": 2, "bidirectional": True},
    "jordan": {"cell": "jordan"},
    "gru-crf": {"cell": "gru", "bidirectional": True, "output": "crf"},
    "lstm": {"cell": "lstm", "bidirectional": True, "char_encoder": "cnn"},
    "bielman-language-model": {"bidirectional": True, "lm_words": 12},
    "elman-language-model-crf": {"lm_words": 12, "output": "crf"},
    "ensemble": {"members": 2, "bidirectional": True},
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_few_steps_lower_loss(name: str) -> None:
    config = ModelConfig(word_dim=16, hidden=24, dropout=0.0, **ARCHITECTURES[name])
    vocab = Vocabularies.build(SENTENCES, TAGS)
    torch.manual_seed(3)
    model = build_network(config, len(vocab.words), len(vocab.chars), vocab.tags).train()
    batch = encode_batch(vocab, SENTENCES, TAGS, chars=config.char_encoder != "none")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = _loss(model, batch)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))

    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


def _loss(model: torch.nn.Module, batch: object) -> torch.Tensor:
    """Return the summed loss; an ensemble's members each add their own."""
    members = getattr(model, "members", None)
    networks = list(members) if members is not None else [model]
    return torch.stack([network.loss(batch)[0] for network in networks]).sum()
