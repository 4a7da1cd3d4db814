"""The tagger network: token features and context window -> recurrence -> emission scores."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from elman.data.batch import IGNORE_INDEX, Batch
from elman.model.config import ModelConfig
from elman.model.dropout import Dropout
from elman.model.features import TokenFeatures
from elman.model.language import LanguageModelHeads
from elman.model.output import OutputLayer
from elman.model.recurrent import RecurrentStack
from elman.model.typed import supports_typed_path, typed_emissions


class ElmanTagger(OutputLayer):
    """Scores every tag at every token; a softmax or CRF layer turns the scores into tags."""

    def __init__(self, config: ModelConfig, num_words: int, num_chars: int, tags: Sequence[str]):
        super().__init__(config, tags)
        self.features = TokenFeatures(config, num_words, num_chars)
        self.dropout = Dropout(config.dropout)
        self.recurrent = RecurrentStack(config, self.features.output_size, len(self.tags))
        self.output = nn.Linear(self.recurrent.output_size, len(self.tags))
        self.lm = LanguageModelHeads(config, num_words) if config.lm_words > 0 else None
        self._add_decoding()
        self._typed = supports_typed_path(self)

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
        return self.output(self._states(words, casing, chars, char_index, mask, lengths))

    def _states(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Return the recurrence's outputs (batch, time, hidden * directions), after dropout."""
        words, casing, chars, char_index, mask, lengths = inputs
        x = self.features(words, casing, chars, char_index, mask)  # (batch, time, window * token)
        x = self.dropout(x)
        x = self.recurrent(x, lengths)  # (batch, time, hidden * directions)
        return self.dropout(x)

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

        Padding and tags unknown to the model carry ``IGNORE_INDEX`` and add nothing. In training
        mode with ``lm_words`` > 0 the loss includes the language-model objective, weighted by
        ``lm_weight`` (``elman.model.language``).
        """
        assert batch.tags is not None, "loss() needs a batch encoded with tags"
        tokens = int((batch.tags != IGNORE_INDEX).sum())
        if self.lm is None or not self.training:
            return self._tag_loss(self.emissions(batch), batch), tokens

        states = self._states(*batch.inputs())
        prediction = self.config.lm_weight * self.lm.loss(states, batch.words, batch.mask)
        return self._tag_loss(self.output(states), batch) + prediction, tokens

    def _tag_loss(self, scores: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Return the summed tagging loss of emission scores (batch, time, num_tags)."""
        assert batch.tags is not None
        if self.crf is not None:
            return self.crf.negative_log_likelihood(scores, batch.tags, batch.mask)
        return F.cross_entropy(
            scores.reshape(-1, scores.size(-1)),
            batch.tags.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
