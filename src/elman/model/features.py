"""Per-token input features: word and casing embeddings, character encoders, the context window."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from elman.data.vocab import CASINGS, PAD_ID
from elman.model.config import ModelConfig
from elman.model.recurrent import reverse_within_lengths

SHORT_WORD = 8
"""Words of at most this many characters are encoded in a narrower tensor (most words are)."""


class CharCNN(nn.Module):
    """A word's characters -> one vector: embeddings, a width-3 convolution, max over positions."""

    def __init__(self, num_chars: int, char_dim: int, filters: int):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(char_dim, filters, kernel_size=3, padding=1)
        self.output_size = filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """(words, width) character ids -> (words, filters); an all-padding row gives zeros.

        The convolution is computed as sums of looked-up rows (``_encode_summed``), except while
        tracing for ONNX, where the convolution operator is exported. Short and long words are
        encoded apart, so that short words are not padded to the longest one. The padding
        embedding is zero, like the convolution's own padding, so all ways give the same vectors.
        """
        if torch.jit.is_tracing():
            return self._encode(chars)
        table = self._kernel_table()
        if chars.size(1) <= SHORT_WORD:
            return self._encode_summed(chars, table)
        short = (chars[:, SHORT_WORD:] == PAD_ID).all(dim=1)  # (words,)
        encoded = chars.new_empty((chars.size(0), self.output_size), dtype=torch.float)
        encoded[short] = self._encode_summed(chars[short, :SHORT_WORD], table)
        encoded[~short] = self._encode_summed(chars[~short], table)
        return encoded

    def _encode(self, chars: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(chars).transpose(1, 2)  # (words, char_dim, width)
        convolved = self.conv(embedded)  # (words, filters, width)
        padding = (chars == PAD_ID).unsqueeze(1)
        convolved = convolved.masked_fill(padding, float("-inf"))
        return _max_or_zero(convolved.max(dim=2).values)

    def _kernel_table(self) -> torch.Tensor:
        """Return (chars * kernel, filters): row ``c * kernel + k`` is character c at offset k."""
        # Looked up rather than read from the weight, so that the padding row gets no gradient.
        characters = self.embedding(torch.arange(self.embedding.num_embeddings))  # (chars, dim)
        table = torch.einsum("cd,fdk->ckf", characters, self.conv.weight)
        return table.reshape(-1, self.output_size)

    def _encode_summed(self, chars: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``_encode`` without the convolution operator, with the same vectors and gradients.

        The convolution is linear in the character embeddings, so the output at a position is
        the bias plus, for each of the 3 kernel offsets, a row looked up by the character there.
        On a CPU this is several times faster than oneDNN's convolution on these small inputs,
        in training too. It also leaves oneDNN's cache of compiled convolutions empty. That
        cache grows with every new input shape, by about 90 MB over a long tagging run.
        """
        words, width = chars.shape
        kernel = self.conv.weight.size(2)
        padded = F.pad(chars, (kernel // 2, kernel // 2), value=PAD_ID)
        rows = torch.stack(
            [padded[:, k : k + width] * kernel + k for k in range(kernel)], dim=-1
        )  # (words, width, kernel)
        convolved = F.embedding_bag(rows.view(-1, kernel), table, mode="sum")
        convolved = convolved.view(words, width, self.output_size)
        convolved.masked_fill_((chars == PAD_ID).unsqueeze(-1), float("-inf"))
        return _max_or_zero(convolved.amax(dim=1) + self.conv.get_parameter("bias"))


def _max_or_zero(pooled: torch.Tensor) -> torch.Tensor:
    """Replace the -inf maxima of words with no characters (padding rows) by zeros."""
    return torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)


class CharRNN(nn.Module):
    """A word's characters -> one vector: the last states of a GRU read each way over them.

    The right-to-left GRU reads each word reversed within its own length, so that padding comes
    after the characters in both directions. This avoids packed sequences, which ONNX cannot
    export.
    """

    def __init__(self, num_chars: int, char_dim: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.forward_rnn = nn.GRU(char_dim, hidden // 2, batch_first=True)
        self.backward_rnn = nn.GRU(char_dim, hidden // 2, batch_first=True)
        self.output_size = 2 * (hidden // 2)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """(words, width) character ids -> (words, 2 * (hidden // 2))."""
        lengths = (chars != PAD_ID).sum(dim=1).clamp(min=1)  # (words,)
        embedded = self.embedding(chars)  # (words, width, char_dim)
        last = (lengths - 1).view(-1, 1, 1)

        forward, _ = self.forward_rnn(embedded)  # (words, width, hidden // 2)
        reversed_chars = reverse_within_lengths(embedded, lengths)
        backward, _ = self.backward_rnn(reversed_chars)
        pick = last.expand(-1, 1, forward.size(2))
        encoded = torch.cat([forward.gather(1, pick), backward.gather(1, pick)], dim=-1)
        return encoded.squeeze(1)


class TokenFeatures(nn.Module):
    """Concatenate word, casing and character features, then the context window around each word."""

    def __init__(self, config: ModelConfig, num_words: int, num_chars: int):
        super().__init__()
        self.window = config.window
        self.words = nn.Embedding(num_words, config.word_dim, padding_idx=PAD_ID)
        size = config.word_dim
        self.casing: nn.Embedding | None = None
        if config.casing_dim > 0:
            self.casing = nn.Embedding(len(CASINGS), config.casing_dim, padding_idx=PAD_ID)
            size += config.casing_dim
        self.chars: nn.Module | None = None
        if config.char_encoder == "cnn":
            self.chars = CharCNN(num_chars, config.char_dim, config.char_hidden)
            size += config.char_hidden
        elif config.char_encoder == "rnn":
            self.chars = CharRNN(num_chars, config.char_dim, config.char_hidden)
            size += 2 * (config.char_hidden // 2)
        self.token_size = size
        self.output_size = size * config.window

    def forward(
        self,
        words: torch.Tensor,
        casing: torch.Tensor,
        chars: torch.Tensor,
        char_index: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Return (batch, time, window * token_size) from the inputs of a ``Batch``."""
        parts = [self.words(words)]  # (batch, time, word_dim)
        if self.casing is not None:
            parts.append(self.casing(casing))
        if self.chars is not None:
            # Encode each distinct token once, then copy its vector to every position it fills.
            encoded = self.chars(chars)  # (types, char_features)
            parts.append(encoded[char_index])  # (batch, time, char_features)
        # Zero the padding positions, so that the window of a sentence's last word sees the same
        # zeros in a padded batch as at the end of a sentence tagged alone.
        tokens = torch.cat(parts, dim=-1) * mask.unsqueeze(-1)  # (batch, time, token_size)
        return context_window(tokens, self.window)


def context_window(x: torch.Tensor, window: int) -> torch.Tensor:
    """Concatenate each position's vector with its ``window // 2`` neighbours on either side.

    Positions outside the sentence contribute zeros. (batch, time, d) -> (batch, time, window * d).
    """
    if window == 1:
        return x
    half = window // 2
    time = x.size(1)
    padded = F.pad(x, (0, 0, half, half))  # (batch, time + 2 * half, d)
    return torch.cat([padded[:, offset : offset + time] for offset in range(window)], dim=-1)
