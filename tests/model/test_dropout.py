"""Dropout: the share of zeroed elements, the scaling of the others, and eval mode."""

from __future__ import annotations

import pytest
import torch

from elman.model.dropout import Dropout


def test_dropout_zeroes_about_p_and_scales_the_rest() -> None:
    torch.manual_seed(0)
    layer = Dropout(0.3)
    out = layer(torch.ones(200_000))
    dropped = float((out == 0).float().mean())
    assert abs(dropped - 0.3) < 0.005
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    assert abs(float(out.mean()) - 1.0) < 0.01


def test_dropout_gradient_follows_the_mask() -> None:
    torch.manual_seed(1)
    x = torch.ones(1000, requires_grad=True)
    out = Dropout(0.5)(x)
    out.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, out.detach())


def test_dropout_eval_mode_returns_input() -> None:
    x = torch.randn(50)
    assert Dropout(0.5).eval()(x) is x


def test_dropout_zero_returns_input() -> None:
    x = torch.randn(50)
    assert Dropout(0.0)(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_rejects_invalid_probability(p: float) -> None:
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(p)
