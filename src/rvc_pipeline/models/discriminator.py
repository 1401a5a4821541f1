"""HiFi-GAN multi-period discriminator (plus one scale discriminator), as RVC uses it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .commons import LRELU_SLOPE, get_padding, weight_norm
from .config import check_version

PERIODS = {"v1": (2, 3, 5, 7, 11, 17), "v2": (2, 3, 5, 7, 11, 17, 23, 37)}


def _narrow(channels: int, div: int) -> int:
    if channels % div:
        raise ValueError(f"discriminator channel divisor {div} does not divide {channels}")
    return channels // div


def _scores(convs: nn.ModuleList, conv_post: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run a discriminator's conv stack: (flattened scores, every layer's output)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


class DiscriminatorS(nn.Module):
    """Scale discriminator on the raw waveform: grouped strided 1-D convolutions."""

    def __init__(self, channel_div: int = 1) -> None:
        super().__init__()
        c16, c64, c256, c1024 = (_narrow(c, channel_div) for c in (16, 64, 256, 1024))
        # RVC's grouped layers see 4 input channels per group; narrowing keeps that.
        self.convs = nn.ModuleList(
            weight_norm(conv)
            for conv in (
                nn.Conv1d(1, c16, 15, 1, padding=7),
                nn.Conv1d(c16, c64, 41, 4, groups=max(c16 // 4, 1), padding=20),
                nn.Conv1d(c64, c256, 41, 4, groups=max(c64 // 4, 1), padding=20),
                nn.Conv1d(c256, c1024, 41, 4, groups=max(c256 // 4, 1), padding=20),
                nn.Conv1d(c1024, c1024, 41, 4, groups=max(c1024 // 4, 1), padding=20),
                nn.Conv1d(c1024, c1024, 5, 1, padding=2),
            )
        )
        self.conv_post = weight_norm(nn.Conv1d(c1024, 1, 3, 1, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x [B, 1, N] -> (scores [B, n], feature maps)."""
        return _scores(self.convs, self.conv_post, x)


class DiscriminatorP(nn.Module):
    """Period discriminator: the waveform folded into [N/period, period], 2-D convolutions."""

    def __init__(
        self, period: int, kernel_size: int = 5, stride: int = 3, channel_div: int = 1
    ) -> None:
        super().__init__()
        self.period = period
        chans = [1, *(_narrow(c, channel_div) for c in (32, 128, 512, 1024, 1024))]
        pad = (get_padding(kernel_size, 1), 0)
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv2d(c_in, c_out, (kernel_size, 1), (stride if i < 4 else 1, 1), padding=pad)
            )
            for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:], strict=True))
        )
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x [B, 1, N] -> (scores [B, n], feature maps)."""
        b, c, t = x.shape
        if t % self.period:
            # Reflect-pad to a whole number of periods.
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        return _scores(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    """RVC's discriminator: one scale discriminator + periods 2,3,5,7,11,17 (v2 adds 23, 37).

    ``channel_div`` narrows every layer (1 = RVC's widths; larger only for tiny test models).
    """

    def __init__(self, version: str, channel_div: int = 1) -> None:
        super().__init__()
        periods = PERIODS[check_version(version)]
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(channel_div)]
            + [DiscriminatorP(p, channel_div=channel_div) for p in periods]
        )

    def forward(
        self, y: Tensor, y_hat: Tensor
    ) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]], list[list[Tensor]]]:
        """Real y and generated y_hat [B, 1, N] -> (scores_r, scores_g, fmaps_r, fmaps_g)."""
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
        for d in self.discriminators:
            y_d_r, fmap_r = d(y)
            y_d_g, fmap_g = d(y_hat)
            y_d_rs.append(y_d_r)
            y_d_gs.append(y_d_g)
            fmap_rs.append(fmap_r)
            fmap_gs.append(fmap_g)
        return y_d_rs, y_d_gs, fmap_rs, fmap_gs


def build_discriminator(h: dict[str, Any], version: str) -> MultiPeriodDiscriminator:
    """The discriminator for a config.json dict (``model.discriminator_channel_div``, default 1)."""
    model = h["model"]
    if model.get("use_spectral_norm", False):
        raise ValueError("use_spectral_norm=true is not supported (RVC's configs all use false)")
    return MultiPeriodDiscriminator(version, int(model.get("discriminator_channel_div", 1)))
