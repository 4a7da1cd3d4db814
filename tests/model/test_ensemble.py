"""Ensembles: mean scores, combined CRF transitions, saving and loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from elman.data.batch import encode_batch
from elman.data.vocab import Vocabularies
from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.model.decode import viterbi
from elman.model.elman import ElmanTagger
from elman.model.ensemble import EnsembleTagger, build_network, combine
from elman.store import SavedModel, load_model, save_model
from elman.train.config import TrainConfig

SENTENCES = [["Mara", "flew", "to", "Lund"], ["Hi", "Oslo"]]
TAGS = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]


def _vocab() -> Vocabularies:
    return Vocabularies.build(SENTENCES, [["B-PER", "O", "O", "B-LOC"], ["O", "B-LOC"]])


def _networks(count: int, output: str = "crf") -> tuple[Vocabularies, list[ElmanTagger]]:
    vocab = _vocab()
    config = ModelConfig(output=output, char_encoder="cnn", hidden=8, word_dim=8)
    networks = []
    for seed in range(count):
        torch.manual_seed(seed)
        network = ElmanTagger(config, len(vocab.words), len(vocab.chars), vocab.tags).eval()
        if network.crf is not None:
            torch.nn.init.normal_(network.crf.transitions)
        networks.append(network)
    return vocab, networks


def test_ensemble_scores_are_member_mean() -> None:
    vocab, networks = _networks(3)
    ensemble = combine(networks, len(vocab.words), len(vocab.chars))
    batch = encode_batch(vocab, SENTENCES, chars=True)

    with torch.inference_mode():
        expected = torch.stack([network.emissions(batch) for network in networks]).mean(dim=0)
        assert torch.allclose(ensemble.emissions(batch), expected, atol=1e-6)
        assert torch.allclose(ensemble(*batch.inputs()), expected, atol=1e-6)


def test_ensemble_crf_is_member_mean() -> None:
    vocab, networks = _networks(2)
    ensemble = combine(networks, len(vocab.words), len(vocab.chars))

    assert ensemble.crf is not None
    first, second = (network.crf for network in networks)
    assert first is not None
    assert second is not None
    mean = (first.transitions + second.transitions) / 2
    assert torch.allclose(ensemble.crf.transitions, mean)
    assert not torch.allclose(ensemble.crf.transitions, first.transitions)


def test_ensemble_decodes_with_mean_transitions() -> None:
    vocab, networks = _networks(2)
    ensemble = combine(networks, len(vocab.words), len(vocab.chars))
    scores = torch.randn(4, 6, len(vocab.tags))
    mask = torch.ones(4, 6, dtype=torch.bool)

    start, transitions, end = (
        torch.stack(parts).mean(dim=0)
        for parts in zip(*(network.decoding_scores() for network in networks), strict=True)
    )
    assert ensemble.decode(scores, mask) == viterbi(scores, mask, start, transitions, end)


def test_build_network_by_member_count() -> None:
    single = build_network(ModelConfig(), 10, 10, TAGS)
    double = build_network(ModelConfig(members=2), 10, 10, TAGS)

    assert isinstance(single, ElmanTagger)
    assert isinstance(double, EnsembleTagger)
    assert len(double.members) == 2
    assert all(member.config.members == 1 for member in double.members)


def test_config_rejects_zero_members() -> None:
    with pytest.raises(ConfigError, match=r"model\.members=0"):
        ModelConfig(members=0)


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_ensemble_survives_save_and_load(tmp_path: Path, output: str) -> None:
    vocab, networks = _networks(2, output)
    ensemble = combine(networks, len(vocab.words), len(vocab.chars))
    saved = SavedModel(ensemble, vocab, ensemble.config, TrainConfig())
    save_model(saved, tmp_path / "model")

    loaded = load_model(tmp_path / "model")

    assert isinstance(loaded.model, EnsembleTagger)
    assert loaded.model_config.members == 2
    batch = encode_batch(vocab, SENTENCES, chars=True)
    with torch.inference_mode():
        assert torch.equal(loaded.model.emissions(batch), ensemble.emissions(batch))
