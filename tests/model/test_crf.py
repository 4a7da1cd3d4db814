"""The CRF's forward algorithm, Viterbi and marginals against brute-force enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from elman.model.crf import CRF
from elman.model.decode import (
    IMPOSSIBLE,
    constrained_argmax,
    nbest,
    transition_constraints,
    viterbi,
)

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _crf(seed: int, constrained: bool = True) -> CRF:
    torch.manual_seed(seed)
    size = len(TAGS)
    constraints = (
        transition_constraints(TAGS)
        if constrained
        else (torch.zeros(size), torch.zeros(size, size), torch.zeros(size))
    )
    crf = CRF(size, constraints)
    with torch.no_grad():
        crf.start.normal_()
        crf.transitions.normal_()
        crf.end.normal_()
    return crf


def _path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    start, transitions, end = (scores.detach() for scores in crf.scores())
    total = start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        total = total + transitions[path[t - 1], path[t]] + emissions[t, path[t]]
    return total + end[path[-1]]


def _all_paths(length: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(len(TAGS)), repeat=length))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_equals_enumeration(seed: int, constrained: bool) -> None:
    crf = _crf(seed, constrained)
    emissions = torch.randn(2, 4, len(TAGS))
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    computed = crf.log_partition(emissions, mask)
    for row, length in enumerate((4, 2)):
        scores = [_path_score(crf, emissions[row], p) for p in _all_paths(length)]
        expected = torch.logsumexp(torch.stack(scores), dim=0)
        assert torch.allclose(computed[row], expected, atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_equals_brute_force_argmax(seed: int) -> None:
    crf = _crf(seed)
    emissions = torch.randn(2, 4, len(TAGS))
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    decoded = crf.decode(emissions, mask)
    for row, length in enumerate((4, 3)):
        best = max(_all_paths(length), key=lambda p: float(_path_score(crf, emissions[row], p)))
        assert decoded[row] == list(best)


@pytest.mark.parametrize("seed", range(3))
def test_marginals_equal_enumeration(seed: int) -> None:
    crf = _crf(seed, constrained=False)
    emissions = torch.randn(2, 3, len(TAGS))
    mask = torch.tensor([[True, True, True], [True, True, False]])
    marginals = crf.marginals(emissions, mask).detach()
    for row, length in enumerate((3, 2)):
        paths = _all_paths(length)
        weights = torch.softmax(
            torch.stack([_path_score(crf, emissions[row], p) for p in paths]), dim=0
        )
        for t in range(length):
            for tag in range(len(TAGS)):
                expected = sum(
                    float(w) for w, p in zip(weights.detach(), paths, strict=True) if p[t] == tag
                )
                assert abs(float(marginals[row, t, tag]) - expected) < 1e-4


def test_negative_log_likelihood_of_gold_path() -> None:
    crf = _crf(0)
    emissions = torch.randn(1, 3, len(TAGS))
    tags = torch.tensor([[1, 2, 0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    expected = crf.log_partition(emissions, mask)[0] - _path_score(crf, emissions[0], (1, 2, 0))
    computed = crf.negative_log_likelihood(emissions, tags, mask)
    assert torch.allclose(computed, expected, atol=1e-5)


@pytest.mark.parametrize("seed", range(20))
def test_constrained_viterbi_never_outputs_forbidden_transition(seed: int) -> None:
    torch.manual_seed(seed)
    start, transitions, end = transition_constraints(TAGS)
    # Random scores that favour I- tags, which IOB2 forbids after O.
    scores = torch.randn(4, 6, len(TAGS))
    scores[..., 2] += 2.0
    scores[..., 4] += 2.0
    mask = torch.ones(4, 6, dtype=torch.bool)
    for path in viterbi(scores, mask, start, transitions, end):
        assert start[path[0]] == 0
        for previous, current in itertools.pairwise(path):
            assert transitions[previous, current] == 0, (TAGS[previous], TAGS[current])


def test_transition_constraints_iob2() -> None:
    start, transitions, _ = transition_constraints(TAGS)
    assert start[TAGS.index("I-PER")] == IMPOSSIBLE
    assert transitions[TAGS.index("O"), TAGS.index("I-LOC")] == IMPOSSIBLE
    assert transitions[TAGS.index("B-PER"), TAGS.index("I-LOC")] == IMPOSSIBLE
    assert transitions[TAGS.index("B-PER"), TAGS.index("I-PER")] == 0
    assert transitions[TAGS.index("I-PER"), TAGS.index("B-PER")] == 0


@pytest.mark.parametrize("seed", range(3))
def test_nbest_equals_sorted_enumeration(seed: int) -> None:
    crf = _crf(seed)
    emissions = torch.randn(3, len(TAGS))
    start, transitions, end = crf.scores()
    best = nbest(emissions, start.detach(), transitions.detach(), end.detach(), k=4)
    ranked = sorted(_all_paths(3), key=lambda p: -float(_path_score(crf, emissions, p)))[:4]
    assert [path for _, path in best] == [list(p) for p in ranked]
    for score, path in best:
        assert abs(score - float(_path_score(crf, emissions, tuple(path)))) < 1e-4


@pytest.mark.parametrize("seed", range(20))
def test_constrained_argmax_equals_viterbi(seed: int) -> None:
    torch.manual_seed(seed)
    start, transitions, end = transition_constraints(TAGS)
    scores = torch.randn(8, 7, len(TAGS))
    scores[:4, :, 2] += 1.5  # favour I-PER, which IOB2 forbids after O, in half of the rows
    mask = torch.arange(7).unsqueeze(0) < torch.randint(1, 8, (8, 1))
    log_probs = torch.log_softmax(scores, dim=-1)
    assert constrained_argmax(scores, mask, start, transitions, end) == viterbi(
        log_probs, mask, start, transitions, end
    )
