"""Padding never changes a real token's scores, its loss or its predicted tags."""

from __future__ import annotations

import pytest
import torch

from elman.data.batch import encode_batch
from elman.data.vocab import Vocabularies
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger

SENTENCES = [["Ines", "met", "Olu"], ["Hello"]]
TAGS = [["B-PER", "O", "B-PER"], ["O"]]

CONFIGS = [
    ModelConfig(hidden=16, word_dim=8, dropout=0.0),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, window=5, char_encoder="cnn"),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, bidirectional=True, layers=2),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, cell="lstm", bidirectional=True),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, cell="gru", char_encoder="rnn"),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, cell="jordan", nonlinearity="sigmoid"),
    ModelConfig(hidden=16, word_dim=8, dropout=0.0, nonlinearity="sigmoid", output="crf"),
]


def _model(config: ModelConfig) -> tuple[ElmanTagger, Vocabularies]:
    torch.manual_seed(0)
    vocab = Vocabularies.build(SENTENCES, TAGS)
    return ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags), vocab


def _pad_to(batch_tensor: torch.Tensor, time: int, value: int) -> torch.Tensor:
    extra = time - batch_tensor.size(1)
    shape = (batch_tensor.size(0), extra, *batch_tensor.shape[2:])
    return torch.cat([batch_tensor, torch.full(shape, value, dtype=batch_tensor.dtype)], dim=1)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.cell}-{c.output}-{c.char_encoder}")
def test_padding_leaves_scores_unchanged(config: ModelConfig) -> None:
    model, vocab = _model(config)
    model.eval()
    chars = config.char_encoder != "none"
    batch = encode_batch(vocab, SENTENCES, TAGS, chars=chars)
    together = model.emissions(batch)
    alone = model.emissions(encode_batch(vocab, [SENTENCES[1]], [TAGS[1]], chars=chars))
    assert torch.allclose(together[1, :1], alone[0, :1], atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.cell}-{c.output}-{c.char_encoder}")
def test_extra_padding_leaves_loss_unchanged(config: ModelConfig) -> None:
    model, vocab = _model(config)
    model.eval()
    chars = config.char_encoder != "none"
    batch = encode_batch(vocab, SENTENCES, TAGS, chars=chars)
    loss_short, tokens_short = model.loss(batch)
    batch.words = _pad_to(batch.words, 50, 0)
    batch.casing = _pad_to(batch.casing, 50, 0)
    batch.char_index = _pad_to(batch.char_index, 50, 0)
    batch.mask = _pad_to(batch.mask, 50, False)
    assert batch.tags is not None
    batch.tags = _pad_to(batch.tags, 50, -100)
    loss_long, tokens_long = model.loss(batch)
    assert tokens_short == tokens_long == 4
    assert abs(float(loss_short.detach()) - float(loss_long.detach())) < 1e-5


def test_decoded_lengths_match_sentences() -> None:
    model, vocab = _model(CONFIGS[0])
    batch = encode_batch(vocab, SENTENCES, TAGS)
    paths = model.decode(model.emissions(batch), batch.mask)
    assert [len(path) for path in paths] == [3, 1]
    assert all(0 <= tag < len(vocab.tags) for path in paths for tag in path)


def test_all_ignored_tags_give_zero_loss() -> None:
    model, vocab = _model(CONFIGS[0])
    batch = encode_batch(vocab, SENTENCES, TAGS)
    assert batch.tags is not None
    batch.tags = torch.full_like(batch.tags, -100)
    loss, tokens = model.loss(batch)
    assert tokens == 0
    assert float(loss.detach()) / max(tokens, 1) == 0.0
