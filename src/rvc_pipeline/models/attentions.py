"""Transformer encoder with relative-position self-attention (VITS/RVC text encoder body)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .modules import LayerNorm


class Encoder(nn.Module):
    """Post-norm Transformer layers: relative self-attention, then a convolutional FFN."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 1,
        p_dropout: float = 0.0,
        window_size: int = 10,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(
                    hidden_channels, hidden_channels, n_heads, p_dropout, window_size
                )
            )
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(
                FFN(hidden_channels, hidden_channels, filter_channels, kernel_size, p_dropout)
            )
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + self.drop(attn(x, x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask


class MultiHeadAttention(nn.Module):
    """Multi-head attention with relative position embeddings shared by all heads."""

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        p_dropout: float = 0.0,
        window_size: int = 10,
    ) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"{channels} channels do not split into {n_heads} heads")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        rel_stddev = self.k_channels**-0.5
        shape = (1, 2 * window_size + 1, self.k_channels)
        self.emb_rel_k = nn.Parameter(torch.randn(shape) * rel_stddev)
        self.emb_rel_v = nn.Parameter(torch.randn(shape) * rel_stddev)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: Tensor, c: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        return self.conv_o(
            self._attention(self.conv_q(x), self.conv_k(c), self.conv_v(c), attn_mask)
        )

    def _attention(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None) -> Tensor:
        b, d, t_s = key.size()
        t_t = query.size(2)
        if t_s != t_t:
            raise ValueError("relative attention needs equal query and key lengths")
        query = query.view(b, self.n_heads, self.k_channels, t_t).transpose(2, 3)
        key = key.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        value = value.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)

        query = query / math.sqrt(self.k_channels)
        scores = torch.matmul(query, key.transpose(-2, -1))
        rel_keys = self._relative_embeddings(self.emb_rel_k, t_s)
        rel_logits = torch.matmul(query, rel_keys.unsqueeze(0).transpose(-2, -1))
        scores = scores + _relative_to_absolute(rel_logits)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e4)
        p_attn = self.drop(F.softmax(scores, dim=-1))
        output = torch.matmul(p_attn, value)
        rel_values = self._relative_embeddings(self.emb_rel_v, t_s)
        output = output + torch.matmul(_absolute_to_relative(p_attn), rel_values.unsqueeze(0))
        return output.transpose(2, 3).contiguous().view(b, d, t_t)

    def _relative_embeddings(self, embeddings: Tensor, length: int) -> Tensor:
        """Embeddings for offsets -(length-1)..length-1: zero-padded beyond the window."""
        pad_length = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        if pad_length > 0:
            embeddings = F.pad(embeddings, [0, 0, pad_length, pad_length])
        return embeddings[:, start : start + 2 * length - 1]


def _relative_to_absolute(x: Tensor) -> Tensor:
    """[b, h, l, 2l-1] logits by relative offset -> [b, h, l, l] by absolute key position."""
    batch, heads, length, _ = x.size()
    x = F.pad(x, [0, 1])
    x_flat = F.pad(x.view(batch, heads, length * 2 * length), [0, length - 1])
    return x_flat.view(batch, heads, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]


def _absolute_to_relative(x: Tensor) -> Tensor:
    """[b, h, l, l] weights by absolute key position -> [b, h, l, 2l-1] by relative offset."""
    batch, heads, length, _ = x.size()
    x = F.pad(x, [0, length - 1])
    x_flat = F.pad(x.view(batch, heads, length**2 + length * (length - 1)), [length, 0])
    return x_flat.view(batch, heads, length, 2 * length)[:, :, :, 1:]


class FFN(nn.Module):
    """Two 'same'-padded convolutions with a ReLU between, masked."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        filter_channels: int,
        kernel_size: int,
        p_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.padding = [(kernel_size - 1) // 2, kernel_size // 2]
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = self.conv_1(F.pad(x * x_mask, self.padding))
        x = self.drop(torch.relu(x))
        x = self.conv_2(F.pad(x * x_mask, self.padding))
        return x * x_mask
