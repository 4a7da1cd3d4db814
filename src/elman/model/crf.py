"""A linear-chain conditional random field over the tagger's emission scores."""

from __future__ import annotations

import torch
from torch import nn

from elman.model.decode import viterbi


class CRF(nn.Module):
    """Transition scores between tags, the forward algorithm for the loss and Viterbi for decoding.

    ``constraints`` (start, transitions, end) are added to the learnt scores and set the transitions
    that the tag scheme forbids to a score that never wins.
    """

    start_mask: torch.Tensor
    transition_mask: torch.Tensor
    end_mask: torch.Tensor

    def __init__(self, num_tags: int, constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        start_mask, transition_mask, end_mask = constraints
        self.register_buffer("start_mask", start_mask, persistent=False)
        self.register_buffer("transition_mask", transition_mask, persistent=False)
        self.register_buffer("end_mask", end_mask, persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (start, transitions, end) with the scheme's forbidden moves applied."""
        return (
            self.start + self.start_mask,
            self.transitions + self.transition_mask,
            self.end + self.end_mask,
        )

    def negative_log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Return the summed negative log-likelihood of ``tags`` over the batch.

        ``emissions`` is (batch, time, num_tags). ``tags`` (batch, time) contains valid tag ids at
        real positions and anything at padding. ``mask`` (batch, time) is True at real tokens.
        Rows with no real token contribute 0.
        """
        safe_tags = tags.clamp(min=0)
        gold = self._path_score(emissions, safe_tags, mask)  # (batch,)
        partition = self.log_partition(emissions, mask)  # (batch,)
        has_tokens = mask[:, 0]
        return torch.where(has_tokens, partition - gold, torch.zeros_like(gold)).sum()

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return log Z per row by the forward algorithm: log-sum-exp over all tag paths."""
        start, transitions, end = self.scores()
        alpha = start + emissions[:, 0]  # (batch, num_tags)
        for t in range(1, emissions.size(1)):
            # sum over the previous tag i of exp(alpha_i + transition_ij), in log space
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return p(tag at t = j | sentence) as (batch, time, num_tags) by forward-backward."""
        start, transitions, end = self.scores()
        batch, time, num_tags = emissions.shape
        alphas = [start + emissions[:, 0]]
        for t in range(1, time):
            step = torch.logsumexp(alphas[-1].unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alphas.append(torch.where(mask[:, t].unsqueeze(1), step, alphas[-1]))
        beta = end.expand(batch, num_tags)
        betas = [beta] * time
        for t in range(time - 2, -1, -1):
            step = torch.logsumexp(
                transitions + (emissions[:, t + 1] + betas[t + 1]).unsqueeze(1), 2
            )
            # Before a row's last real token beta follows the recursion; at it (and in the
            # padding after it) beta is the end score.
            betas[t] = torch.where(mask[:, t + 1].unsqueeze(1), step, end.expand(batch, num_tags))
        alpha = torch.stack(alphas, dim=1)  # (batch, time, num_tags)
        beta_all = torch.stack(betas, dim=1)
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)  # (batch,)
        return torch.exp(alpha + beta_all - log_z.view(batch, 1, 1))

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        start, transitions, end = self.scores()
        return viterbi(emissions, mask, start, transitions, end)

    def _path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        start, transitions, end = self.scores()
        weights = mask.to(emissions.dtype)  # (batch, time)
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (batch, time)
        moves = transitions[tags[:, :-1], tags[:, 1:]]  # (batch, time - 1)
        last = tags.gather(1, (mask.sum(dim=1, keepdim=True) - 1).clamp(min=0)).squeeze(1)
        return (
            start[tags[:, 0]]
            + (emitted * weights).sum(dim=1)
            + (moves * weights[:, 1:]).sum(dim=1)
            + end[last]
        )
