"""The output layer: a CRF or the tag scheme's constraints, and decoding with them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from elman.model.config import ModelConfig
from elman.model.crf import CRF
from elman.model.decode import constrained_argmax, transition_constraints


class OutputLayer(nn.Module):
    """The last layer of a tagger, which turns emission scores into tags with a linear-chain CRF or
    constrained argmax decoding.

    The base of a network (``ElmanTagger``) and of an ensemble of networks (``EnsembleTagger``).
    """

    crf: CRF | None
    start_mask: torch.Tensor
    transition_mask: torch.Tensor
    end_mask: torch.Tensor

    def __init__(self, config: ModelConfig, tags: Sequence[str]):
        super().__init__()
        self.config = config
        self.tags = list(tags)

    def _add_decoding(self) -> None:
        """Add the CRF (for ``output = "crf"``) and the scheme's constraints.

        A subclass calls this after adding its own layers, so that the CRF's parameters come
        last, the order that optimizer states in checkpoints follow.
        """
        constraints = transition_constraints(self.tags)
        self.crf = CRF(len(self.tags), constraints) if self.config.output == "crf" else None
        for name, mask in zip(
            ("start_mask", "transition_mask", "end_mask"), constraints, strict=True
        ):
            self.register_buffer(name, mask, persistent=False)

    def decode(self, scores: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Turn emission scores into one list of tag ids per row, of the row's real length."""
        if self.crf is not None:
            return self.crf.decode(scores, mask)
        if self.config.constrained_decoding:
            masks = (self.start_mask, self.transition_mask, self.end_mask)
            return constrained_argmax(scores, mask, *masks)
        best = scores.argmax(dim=-1).tolist()
        return [row[: int(n)] for row, n in zip(best, mask.sum(dim=1).tolist(), strict=True)]

    def tag_probabilities(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return p(tag | sentence) per token, (batch, time, num_tags): CRF marginals or softmax."""
        if self.crf is not None:
            return self.crf.marginals(scores, mask)
        return torch.softmax(scores, dim=-1)

    def decoding_scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (start, transitions, end) as decoding adds them to per-token scores."""
        if self.crf is not None:
            return self.crf.scores()
        return self.start_mask, self.transition_mask, self.end_mask
