"""Dropout: the share of zeroed elements, the scaling of the others, seeding and eval mode."""

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


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_rate_per_word_position(p: float) -> None:
    # Each 64-bit draw gives four consecutive elements their bits: all four must be uniform.
    torch.manual_seed(2)
    out = Dropout(p)(torch.ones(400_000)).view(-1, 4)
    dropped = (out == 0).float().mean(dim=0)
    assert torch.allclose(dropped, torch.full((4,), p), atol=0.006)


def test_dropout_rounds_p_to_sixteen_bits() -> None:
    torch.manual_seed(3)
    layer = Dropout(1e-6)  # rounds to 0: nothing is dropped, nothing is scaled
    assert torch.equal(layer(torch.ones(1000)), torch.ones(1000))
    out = Dropout(0.3)(torch.ones(1000))
    scaled = out[out != 0]
    assert torch.allclose(scaled, torch.full_like(scaled, 65536 / 45875))


def test_dropout_mask_follows_the_torch_seed() -> None:
    x = torch.ones(3, 5, 7)
    torch.manual_seed(4)
    first = Dropout(0.5)(x)
    torch.manual_seed(4)
    assert torch.equal(Dropout(0.5)(x), first)
    assert first.shape == x.shape


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
