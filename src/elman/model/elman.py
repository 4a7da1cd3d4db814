"""The tagger network: token features and context window -> recurrence -> emission scores."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from elman.data.batch import IGNORE_INDEX, Batch
from elman.model.config import ModelConfig
from elman.model.crf import CRF
from elman.model.decode import constrained_argmax, transition_constraints
from elman.model.dropout import Dropout
from elman.model.features import TokenFeatures
from elman.model.recurrent import RecurrentStack
from elman.model.typed import supports_typed_path, typed_emissions


class ElmanTagger(nn.Module):
    """Scores every tag at every token; a softmax or CRF layer turns the scores into tags."""

    start_mask: torch.Tensor
    transition_mask: torch.Tensor
    end_mask: torch.Tensor

    def __init__(self, config: ModelConfig, num_words: int, num_chars: int, tags: Sequence[str]):
        super().__init__()
        self.config = config
        self.tags = list(tags)
        self.features = TokenFeatures(config, num_words, num_chars)
        self.dropout = Dropout(config.dropout)
        self.recurrent = RecurrentStack(config, self.features.output_size, len(self.tags))
        self.output = nn.Linear(self.recurrent.output_size, len(self.tags))
        constraints = transition_constraints(self.tags)
        self.crf: CRF | None = CRF(len(self.tags), constraints) if config.output == "crf" else None
        self._typed = supports_typed_path(self)
        for name, mask in zip(
            ("start_mask", "transition_mask", "end_mask"), constraints, strict=True
        ):
            self.register_buffer(name, mask, persistent=False)

    def forward(
        self,
        words: torch.Tensor,
        casing: torch.Tensor,
        chars: torch.Tensor,
        char_index: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Return emission scores (batch, time, num_tags) for the inputs of a ``Batch``."""
        # (batch, time, window * token_size)
        x = self.features(words, casing, chars, char_index, mask)
        x = self.dropout(x)
        x = self.recurrent(x, lengths)  # (batch, time, hidden * directions)
        x = self.dropout(x)
        return self.output(x)

    def emissions(self, batch: Batch) -> torch.Tensor:
        """Return emission scores (batch, time, num_tags) of a ``Batch``.

        Without gradients in eval mode, an all-Elman model takes the faster path of
        ``elman.model.typed``, which gives the same scores up to float rounding.
        """
        if self._typed and not self.training and not torch.is_grad_enabled():
            return typed_emissions(self, batch)
        return self(*batch.inputs())

    def loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """Return the summed loss over the batch's real tokens and the number of those tokens.

        Padding and tags unknown to the model carry ``IGNORE_INDEX`` and add nothing.
        """
        assert batch.tags is not None, "loss() needs a batch encoded with tags"
        scores = self.emissions(batch)  # (batch, time, num_tags)
        counted = batch.tags != IGNORE_INDEX
        tokens = int(counted.sum())
        if self.crf is not None:
            return self.crf.negative_log_likelihood(scores, batch.tags, batch.mask), tokens
        flat = F.cross_entropy(
            scores.reshape(-1, scores.size(-1)),
            batch.tags.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return flat, tokens

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
