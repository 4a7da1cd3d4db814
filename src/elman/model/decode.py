"""Decoding emission scores into tag ids: Viterbi with scheme constraints, and the K best paths."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import torch

from elman.data import scheme

IMPOSSIBLE = -1e4
"""Score added to forbidden transitions: low enough to never win, finite so sums stay finite."""


def transition_constraints(tags: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return additive masks (start, transitions, end) that forbid sequences IOB2 does not allow.

    ``transitions[i, j]`` is 0 when tag j may follow tag i and ``IMPOSSIBLE`` otherwise; ``start``
    and ``end`` do the same for the first and the last tag of a sentence.
    """
    size = len(tags)
    start = torch.zeros(size)
    end = torch.zeros(size)
    transitions = torch.zeros(size, size)
    for j, cur in enumerate(tags):
        if not scheme.allowed_transition("O", cur, "iob2"):
            start[j] = IMPOSSIBLE
        if not scheme.allowed_end(cur, "iob2"):
            end[j] = IMPOSSIBLE
        for i, prev in enumerate(tags):
            if not scheme.allowed_transition(prev, cur, "iob2"):
                transitions[i, j] = IMPOSSIBLE
    return start, transitions, end


def viterbi(
    scores: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    transitions: torch.Tensor,
    end: torch.Tensor,
) -> list[list[int]]:
    """Return the best tag path of each row, one list per row with its real length.

    ``scores`` is (batch, time, num_tags), ``mask`` (batch, time) with real tokens first;
    ``transitions[i, j]`` scores tag j after tag i. Decoding needs no gradient, so it runs in
    NumPy, whose per-operation cost on these small arrays is a fraction of torch's.
    """
    emissions = scores.detach().cpu().numpy()  # (batch, time, num_tags)
    real = mask.cpu().numpy()
    moves = transitions.detach().cpu().numpy()  # (num_tags, num_tags)
    batch, time, num_tags = emissions.shape
    rows = np.arange(batch)

    best = start.detach().cpu().numpy() + emissions[:, 0]  # (batch, num_tags)
    identity = np.broadcast_to(np.arange(num_tags), (batch, num_tags))
    backpointers = np.empty((max(time - 1, 0), batch, num_tags), dtype=np.int64)
    for t in range(1, time):
        # candidates[b, i, j]: best path ending in i at t - 1, then j at t
        candidates = best[:, :, None] + moves + emissions[:, t, None, :]
        step_from = candidates.argmax(axis=1)  # (batch, num_tags)
        step_best = np.take_along_axis(candidates, step_from[:, None, :], axis=1)[:, 0]
        keep = real[:, t, None]
        best = np.where(keep, step_best, best)
        backpointers[t - 1] = np.where(keep, step_from, identity)
    best = best + end.detach().cpu().numpy()

    # Backtrack all rows at once from the last column. At padding steps the backpointers are the
    # identity, so each row keeps its final tag until its own last real token.
    path = np.empty((batch, time), dtype=np.int64)
    path[:, time - 1] = best.argmax(axis=1)
    for t in range(time - 2, -1, -1):
        path[:, t] = backpointers[t][rows, path[:, t + 1]]
    lengths = real.sum(axis=1).tolist()
    return [row[:length] for row, length in zip(path.tolist(), lengths, strict=True)]


def constrained_argmax(
    scores: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    transitions: torch.Tensor,
    end: torch.Tensor,
) -> list[list[int]]:
    """Best allowed tag paths under a softmax: ``viterbi`` on the log-probabilities of ``scores``.

    The masks only allow (0) or forbid (``IMPOSSIBLE``). So a row whose per-token best tags form an
    allowed sequence has no better allowed path, and only the other rows (a few percent with a
    trained model) need Viterbi.
    """
    best = scores.argmax(dim=-1).numpy()  # (batch, time)
    real = mask.numpy()
    allowed = transitions.numpy() == 0
    last = real.sum(axis=1) - 1  # (batch,)
    rows = np.arange(best.shape[0])

    valid = (start.numpy()[best[:, 0]] == 0) & (end.numpy()[best[rows, last]] == 0)
    steps_ok = allowed[best[:, :-1], best[:, 1:]] | ~real[:, 1:]  # (batch, time - 1)
    valid &= steps_ok.all(axis=1)

    paths = [row[: n + 1] for row, n in zip(best.tolist(), last.tolist(), strict=True)]
    redo = np.flatnonzero(~valid)
    if redo.size:
        index = torch.from_numpy(redo)
        log_probs = torch.log_softmax(scores[index], dim=-1)
        fixed = viterbi(log_probs, mask[index], start, transitions, end)
        for row, path in zip(redo.tolist(), fixed, strict=True):
            paths[row] = path
    return paths


def nbest(
    scores: torch.Tensor,
    start: torch.Tensor,
    transitions: torch.Tensor,
    end: torch.Tensor,
    k: int,
) -> list[tuple[float, list[int]]]:
    """Return the ``k`` best paths of one sentence with their total scores, best first.

    ``scores`` is (time, num_tags). Keeps the k best partial paths per tag at each step, which is
    exact for additive path scores.
    """
    time, num_tags = scores.shape
    emit = scores.tolist()
    trans = transitions.tolist()
    stop = end.tolist()
    # beams[j]: up to k (score, path) pairs of the best paths ending in tag j
    beams = [[(float(start[j]) + emit[0][j], [j])] for j in range(num_tags)]
    for t in range(1, time):
        beams = [
            heapq.nlargest(
                k,
                (
                    (score + trans[i][j] + emit[t][j], [*path, j])
                    for i in range(num_tags)
                    for score, path in beams[i]
                ),
                key=lambda item: item[0],
            )
            for j in range(num_tags)
        ]
    finals = ((score + stop[path[-1]], path) for beam in beams for score, path in beam)
    return heapq.nlargest(k, finals, key=lambda item: item[0])
