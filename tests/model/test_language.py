"""The language-model objective: no head reads the word it predicts, and tagging never runs it."""

from __future__ import annotations

import math

import pytest
import torch

from elman.data.batch import Batch, encode_batch
from elman.data.vocab import Vocabularies
from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger

SENTENCES = [
    ["Mara", "Quist", "flew", "to", "Lund", "on", "a", "Tuesday", "."],
    ["Hi", "Olu", "!"],
    ["ok"],
]
TAGS = [["B-PER", "I-PER", "O", "O", "B-LOC", "O", "O", "O", "O"], ["O", "B-PER", "O"], ["O"]]


def _model(**settings: object) -> tuple[ElmanTagger, Batch]:
    config = ModelConfig(
        word_dim=8, hidden=12, dropout=0.0, char_encoder="cnn", lm_words=6, **settings
    )
    vocab = Vocabularies.build(SENTENCES, TAGS)
    torch.manual_seed(1)
    model = ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags)
    return model, encode_batch(vocab, SENTENCES, TAGS, chars=True)


@pytest.mark.parametrize("window", [1, 3, 5])
@pytest.mark.parametrize("cell", ["elman", "gru", "lstm"])
def test_heads_never_see_their_target(window: int, cell: str) -> None:
    model, batch = _model(window=window, cell=cell, bidirectional=True)
    model.train()
    embedded: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        embedded.append(output)

    model.features.words.register_forward_hook(keep)
    states = model._states(*batch.inputs())  # (batch, time, 2 * hidden)
    assert model.lm is not None
    k, t, hidden = window // 2 + 1, 2, model.config.hidden

    model.lm.heads[0](states[0, t, :hidden]).sum().backward(retain_graph=True)
    ahead = embedded[0].grad[0].abs().sum(dim=-1)  # (time,)
    assert float(ahead[t + k - 1]) > 0  # the last word the state has read
    assert float(ahead[t + k :].sum()) == 0  # the predicted word and those after it

    embedded[0].grad = None
    model.lm.heads[1](states[0, t + k, hidden:]).sum().backward()
    behind = embedded[0].grad[0].abs().sum(dim=-1)
    assert float(behind[t + 1]) > 0
    assert float(behind[: t + 1].sum()) == 0  # the predicted word (at t) and those before it


@pytest.mark.parametrize("bidirectional", [False, True])
def test_uniform_heads_cost_log_classes(bidirectional: bool) -> None:
    model, batch = _model(window=3, bidirectional=bidirectional, lm_weight=0.5)
    assert model.lm is not None
    with torch.no_grad():
        for head in model.lm.heads:
            head.weight.zero_()
            head.bias.zero_()

    tagging, _ = model.eval().loss(batch)  # eval mode leaves the objective out
    total, _ = model.train().loss(batch)

    # With window 3 each direction predicts the word two places away: 7 + 1 + 0 words per
    # direction, none from padding.
    predicted = 8 * (2 if bidirectional else 1)
    expected = 0.5 * predicted * math.log(model.config.lm_words + 1)
    assert float((total - tagging).detach()) == pytest.approx(expected, rel=1e-5)


def test_targets_of_rare_words_share_one_class() -> None:
    model, batch = _model(window=1)
    assert model.lm is not None
    assert int(batch.words.max()) > model.config.lm_words  # some words fall in the shared class
    with torch.no_grad():
        for head in model.lm.heads:
            head.weight.zero_()
            head.bias.zero_()
            head.bias[model.config.lm_words] = 50.0  # all mass on the shared class

    states = model._states(*batch.inputs())
    loss = model.lm.loss(states, batch.words, batch.mask)
    shared = batch.words[:, 1:][batch.mask[:, 1:]] >= model.config.lm_words
    assert float(loss.detach()) == pytest.approx(50.0 * int((~shared).sum()), rel=1e-4)


def test_short_batch_still_gives_head_gradients() -> None:
    # DistributedDataParallel fails when a parameter gets no gradient in a step.
    model, _ = _model(window=5, bidirectional=True)
    vocab = Vocabularies.build(SENTENCES, TAGS)
    batch = encode_batch(vocab, [["Hi", "Olu"], ["ok"]], [["O", "B-PER"], ["O"]], chars=True)
    loss, _ = model.train().loss(batch)
    loss.backward()
    assert model.lm is not None
    for parameter in model.lm.parameters():
        assert parameter.grad is not None


def test_classes_capped_at_vocabulary_size() -> None:
    vocab = Vocabularies.build(SENTENCES, TAGS)
    config = ModelConfig(word_dim=8, hidden=12, lm_words=3_000_000)
    model = ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags)
    assert model.lm is not None
    assert model.lm.classes == len(vocab.words) + 1
    assert model.lm.heads[0].out_features == len(vocab.words) + 1


def test_tagging_ignores_heads() -> None:
    model, batch = _model(window=3, bidirectional=True)
    model.eval()
    with torch.no_grad():
        before = model.emissions(batch)
        assert model.lm is not None
        for parameter in model.lm.parameters():
            parameter.add_(1.0)
        after = model.emissions(batch)
    assert torch.equal(before, after)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lm_words": -1}, "model.lm_words=-1: expected 0"),
        ({"lm_words": 10, "lm_weight": -0.1}, "model.lm_weight=-0.1: expected a finite value"),
        ({"lm_words": 10, "lm_weight": math.inf}, "model.lm_weight=inf: expected a finite value"),
        (
            {"lm_words": 10, "bidirectional": True, "layers": 2},
            "each state has read the whole sentence",
        ),
    ],
)
def test_config_rejects_invalid_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**settings)  # type: ignore[arg-type]


def test_config_accepts_stacked_left_to_right_layers() -> None:
    assert ModelConfig(lm_words=10, layers=2).layers == 2
