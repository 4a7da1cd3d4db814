"""An ensemble: several networks trained apart, whose scores are averaged before decoding.

Networks that differ only in their random initialisation, dropout masks and batch order make
partly different errors, so the mean of their emission scores is more accurate than any one of
them. With a CRF the ensemble decodes with the mean of the members' transition scores, which is
the same as multiplying the members' sequence probabilities (up to normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from elman.data.batch import Batch
from elman.model.config import ModelConfig
from elman.model.elman import ElmanTagger
from elman.model.output import OutputLayer


class EnsembleTagger(OutputLayer):
    """``config.members`` networks of the same shape; the scores of each token are their mean."""

    def __init__(self, config: ModelConfig, num_words: int, num_chars: int, tags: Sequence[str]):
        super().__init__(config, tags)
        member = replace(config, members=1)
        self.members = nn.ModuleList(
            ElmanTagger(member, num_words, num_chars, tags) for _ in range(config.members)
        )
        self._add_decoding()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Return the members' mean emission scores (batch, time, num_tags) for a batch's inputs."""
        return torch.stack([member(*inputs) for member in self.members]).mean(dim=0)

    def emissions(self, batch: Batch) -> torch.Tensor:
        """Return the members' mean emission scores (batch, time, num_tags) of a ``Batch``."""
        return torch.stack([member.emissions(batch) for member in self._networks()]).mean(dim=0)

    def _networks(self) -> list[ElmanTagger]:
        return [member for member in self.members if isinstance(member, ElmanTagger)]


def combine(networks: Sequence[ElmanTagger], num_words: int, num_chars: int) -> EnsembleTagger:
    """Return an ensemble of trained ``networks`` built on the same vocabularies and settings.

    The ensemble's CRF, if any, gets the mean of the members' start, transition and end scores.
    """
    first = networks[0]
    config = replace(first.config, members=len(networks))
    ensemble = EnsembleTagger(config, num_words, num_chars, first.tags)
    for target, source in zip(ensemble.members, networks, strict=True):
        target.load_state_dict(source.state_dict())
    if ensemble.crf is not None:
        crfs = [network.crf for network in networks if network.crf is not None]
        with torch.no_grad():
            for name in ("start", "transitions", "end"):
                mean = torch.stack([getattr(crf, name) for crf in crfs]).mean(dim=0)
                getattr(ensemble.crf, name).copy_(mean)
    return ensemble.eval()


Network = ElmanTagger | EnsembleTagger
"""A model that tags: one network or an ensemble of them."""


def build_network(
    config: ModelConfig, num_words: int, num_chars: int, tags: Sequence[str]
) -> Network:
    """Return an untrained network, or an ensemble of them when ``config.members`` > 1."""
    if config.members > 1:
        return EnsembleTagger(config, num_words, num_chars, tags)
    return ElmanTagger(config, num_words, num_chars, tags)
