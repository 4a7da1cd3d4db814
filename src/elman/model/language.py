"""An auxiliary language-model objective: the recurrent states also predict nearby words.

Each direction of the recurrence predicts the next word it has not read yet: the left-to-right
state at position t the word at t + k, the right-to-left state the word at t - k, where
k = window // 2 + 1 because the context window has already shown the state the words up to
window // 2 positions away. Every word then gives the states a training signal of its own, on top
of its tag's. The heads are used in training only, and tagging never runs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from elman.data.batch import IGNORE_INDEX
from elman.model.config import ModelConfig


class LanguageModelHeads(nn.Module):
    """One softmax over the ``lm_words`` most frequent word ids per direction of the recurrence.

    Word ids are ranked by frequency (``elman.data.vocab``), so ids below ``lm_words`` are the
    most frequent words (with padding and ``<unk>``), and one more class stands for all others.
    An ``lm_words`` above the vocabulary's size counts as the vocabulary's size.
    """

    def __init__(self, config: ModelConfig, num_words: int):
        super().__init__()
        self.hidden = config.hidden
        self.classes = min(config.lm_words, num_words) + 1
        self.offset = config.window // 2 + 1
        directions = 2 if config.bidirectional else 1
        self.heads = nn.ModuleList(
            nn.Linear(config.hidden, self.classes) for _ in range(directions)
        )

    def loss(self, states: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return the summed cross-entropy of the predicted words of a batch.

        ``states`` (batch, time, hidden * directions) are the recurrence's outputs, the
        left-to-right half first; ``words`` (batch, time) the word ids and ``mask`` the real
        tokens.
        """
        # A batch of sentences no longer than k predicts no word. The heads still run (on empty
        # slices), so that their parameters get gradients, which DistributedDataParallel needs.
        k = self.offset
        targets = words.clamp(max=self.classes - 1).masked_fill(~mask, IGNORE_INDEX)

        # Left to right: the state at t predicts the word at t + k.
        ahead = self.heads[0](states[:, :-k, : self.hidden])  # (batch, time - k, classes)
        total = _summed_cross_entropy(ahead, targets[:, k:])

        # Right to left: the state at t predicts the word at t - k. The state must be a real
        # token's too: at padding t - k can still be a real word.
        if len(self.heads) > 1:
            behind = self.heads[1](states[:, k:, self.hidden :])  # (batch, time - k, classes)
            targets = targets[:, :-k].masked_fill(~mask[:, k:], IGNORE_INDEX)
            total = total + _summed_cross_entropy(behind, targets)
        return total


def _summed_cross_entropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(
        scores.reshape(-1, scores.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
