"""The unrolled Elman training path equals the layer-by-layer path, in values and gradients."""

from __future__ import annotations

import pytest
import torch

from elman.model import recurrent
from elman.model.config import ModelConfig
from elman.model.recurrent import RecurrentStack

LENGTHS = torch.tensor([7, 3, 5, 1, 7])
LAYOUTS = [
    ("tanh", False, 1),
    ("tanh", True, 1),
    ("tanh", True, 3),
    ("sigmoid", False, 2),
    ("sigmoid", True, 2),
]


def _stack(nonlinearity: str, bidirectional: bool, layers: int, seed: int) -> RecurrentStack:
    torch.manual_seed(seed)
    config = ModelConfig(
        hidden=9, nonlinearity=nonlinearity, bidirectional=bidirectional, layers=layers, dropout=0
    )
    stack = RecurrentStack(config, input_size=6, num_tags=4)
    with torch.no_grad():
        for parameter in stack.parameters():
            parameter.normal_(std=0.6)
    return stack


def _real(lengths: torch.Tensor, time: int) -> torch.Tensor:
    return (torch.arange(time) < lengths.unsqueeze(1)).unsqueeze(-1)  # (batch, time, 1)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("nonlinearity", "bidirectional", "layers"), LAYOUTS)
def test_unrolled_equals_layer_by_layer(
    nonlinearity: str, bidirectional: bool, layers: int, seed: int
) -> None:
    stack = _stack(nonlinearity, bidirectional, layers, seed)
    x = torch.randn(len(LENGTHS), 7, 6, requires_grad=True)
    real = _real(LENGTHS, 7)
    weights = torch.randn(len(LENGTHS), 7, stack.output_size)  # a loss that mixes every output

    results = []
    for run in (stack._by_layer, stack.forward):
        output = run(x, LENGTHS)
        loss = (output * real * weights).sum()
        gradients = torch.autograd.grad(loss, [x, *stack.parameters()])
        results.append((output * real, gradients))

    (expected, expected_grads), (unrolled, unrolled_grads) = results
    assert unrolled.shape == expected.shape
    assert torch.allclose(unrolled, expected, atol=1e-5)
    for got, want in zip(unrolled_grads, expected_grads, strict=True):
        assert torch.allclose(got, want, atol=1e-4)


def test_unrolled_backward_padding_zero() -> None:
    stack = _stack("tanh", True, 1, 0)
    output = stack(torch.randn(len(LENGTHS), 7, 6), LENGTHS)
    backward = output[..., 9:]
    padding = ~_real(LENGTHS, 7).expand_as(backward)
    assert padding.any()
    assert torch.equal(backward[padding], torch.zeros(int(padding.sum())))
    assert (backward[~padding] != 0).all()


def _fail_if_called(*args: object) -> None:
    raise AssertionError("the unrolled path ran")


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tracing_uses_cell_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _stack("tanh", True, 2, 0).eval()
    x = torch.randn(2, 4, 6)
    lengths = torch.tensor([4, 2])
    expected = stack(x, lengths)
    monkeypatch.setattr(recurrent, "unrolled_layers", _fail_if_called)
    traced = torch.jit.trace(stack, (x, lengths), check_trace=False)
    real = _real(lengths, 4)
    assert torch.allclose(traced(x, lengths) * real, expected * real, atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm", "jordan"])
def test_gated_cells_run_by_layer(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recurrent, "unrolled_layers", _fail_if_called)
    stack = RecurrentStack(ModelConfig(hidden=5, cell=cell), input_size=6, num_tags=4)
    assert stack(torch.randn(2, 3, 6), torch.tensor([3, 1])).shape == (2, 3, 5)
