"""The prior (content) encoder and the posterior (spectrogram) encoder."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import attentions
from .commons import sequence_mask
from .config import ModelConfig
from .modules import WN


class TextEncoder(nn.Module):
    """HuBERT features (+ coarse pitch) -> prior mean and log-std per frame, and the frame mask."""

    def __init__(self, cfg: ModelConfig, phone_channels: int, f0: bool) -> None:
        super().__init__()
        self.hidden_channels = cfg.hidden_channels
        self.out_channels = cfg.inter_channels
        self.emb_phone = nn.Linear(phone_channels, cfg.hidden_channels)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        if f0:
            self.emb_pitch = nn.Embedding(256, cfg.hidden_channels)
        self.encoder = attentions.Encoder(
            cfg.hidden_channels,
            cfg.filter_channels,
            cfg.n_heads,
            cfg.n_layers,
            cfg.kernel_size,
            float(cfg.p_dropout),
        )
        self.proj = nn.Conv1d(cfg.hidden_channels, cfg.inter_channels * 2, 1)

    def forward(
        self, phone: Tensor, pitch: Tensor | None, lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """phone [B, T, D], pitch [B, T] (1..255) or None -> (m, logs [B, C, T], mask [B, 1, T])."""
        x = self.emb_phone(phone)
        if pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = self.lrelu(x * math.sqrt(self.hidden_channels)).transpose(1, -1)
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return m, logs, x_mask


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> posterior sample z, its mean and log-std, and the frame mask."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self, x: Tensor, lengths: Tensor, g: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.enc(self.pre(x) * x_mask, x_mask, g=g)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * x_mask
        return z, m, logs, x_mask
