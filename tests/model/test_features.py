"""The character CNN: short and long words encoded apart, and padding rows."""

from __future__ import annotations

import pytest
import torch

from elman.data.vocab import PAD_ID
from elman.model.features import SHORT_WORD, CharCNN


def _rows(lengths: list[int], width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    rows = torch.full((len(lengths), width), PAD_ID, dtype=torch.long)
    for row, length in enumerate(lengths):
        rows[row, :length] = torch.randint(2, 40, (length,), generator=generator)
    return rows


def test_char_cnn_split_equals_one_pass() -> None:
    torch.manual_seed(0)
    encoder = CharCNN(40, 6, 5)
    chars = _rows([0, 1, 3, SHORT_WORD, SHORT_WORD + 1, 17, 2], width=17)
    split = encoder(chars)
    whole = encoder._encode(chars)
    assert torch.allclose(split, whole, atol=1e-6)
    assert not split[0].any()


def test_char_cnn_split_has_gradients() -> None:
    encoder = CharCNN(40, 6, 5)
    encoder(_rows([2, SHORT_WORD + 4], width=12)).sum().backward()
    assert encoder.conv.weight.grad is not None
    assert encoder.conv.weight.grad.abs().sum() > 0


def test_char_cnn_summed_rows_equal_the_convolution() -> None:
    torch.manual_seed(1)
    encoder = CharCNN(40, 6, 5)
    chars = _rows([0, 1, 2, 3, SHORT_WORD, SHORT_WORD + 1, 17, 5], width=17)
    with torch.no_grad():
        convolved = encoder._encode(chars)
        summed = encoder._encode_summed(chars, encoder._kernel_table())
        through_forward = encoder(chars)
    assert torch.allclose(summed, convolved, atol=1e-5)
    assert torch.allclose(through_forward, convolved, atol=1e-5)
    assert not summed[0].any()


def test_char_cnn_summed_rows_have_the_convolution_gradients() -> None:
    torch.manual_seed(2)
    encoder = CharCNN(40, 6, 5)
    chars = _rows([1, 4, 9], width=9)
    gradients = []
    encoders = (encoder._encode, lambda rows: encoder._encode_summed(rows, encoder._kernel_table()))
    for encode in encoders:
        encoder.zero_grad()
        (encode(chars) ** 2).sum().backward()
        weights = (encoder.embedding.weight, encoder.conv.weight, encoder.conv.bias)
        gradients.append([w.grad.clone() for w in weights if w is not None and w.grad is not None])
    assert len(gradients[1]) == 3
    for convolved, summed in zip(*gradients, strict=True):
        assert torch.allclose(convolved, summed, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_char_cnn_convolves_only_while_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = CharCNN(40, 6, 5)
    chars = _rows([3, 4], width=4)
    calls: list[int] = []
    convolve = encoder._encode

    def counted(rows: torch.Tensor) -> torch.Tensor:
        calls.append(rows.size(0))
        return convolve(rows)

    monkeypatch.setattr(encoder, "_encode", counted)
    encoder(chars)
    with torch.inference_mode():
        encoder(chars)
    assert calls == []
    torch.jit.trace(encoder, (chars,))
    assert calls
