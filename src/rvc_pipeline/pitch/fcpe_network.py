"""The FCPE network of torchfcpe's bundled ``fcpe_c_v001.pt``: log-mel [B, T, 128] -> salience [B, T, 360].

A convolution stem (conv3 - GroupNorm - LeakyReLU - conv3), six conformer convolution modules
(the checkpoint was trained with ``conv_only``: no attention), a LayerNorm and a weight-normalised
linear layer with a sigmoid. Module and attribute names follow the checkpoint's keys, so its
``model`` state dict loads strictly.

Every frame sees ``RECEPTIVE_RADIUS`` frames on each side, except through the stem's GroupNorm,
whose statistics span the whole input. So the statistics are an argument here: whoever runs the
network on parts of an input (windows of a long one, rows of a padded batch) computes them over
the input's own frames (`stem_statistics`), and zeroes the frames beyond its end (``mask``), which
is what the convolutions' zero padding sees when the input runs alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

N_MELS = 128
N_BINS = 360  # pitch classes spaced evenly in cents from F0_MIN to F0_MAX
HIDDEN = 512
LAYERS = 6
GROUPS = 4  # of the stem's GroupNorm
KERNEL = 31  # depthwise convolution of each conformer module
EXPANSION = 2
F0_MIN = 32.70
F0_MAX = 1975.5
NORM_EPS = 1e-5  # torch's GroupNorm / LayerNorm default, which the checkpoint was trained with
# Frames on each side that reach an output frame: two conv3 in the stem, a conv31 per layer.
RECEPTIVE_RADIUS = 2 * 1 + LAYERS * (KERNEL // 2)


class Transpose(nn.Module):
    """[B, T, C] <-> [B, C, T]."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2)


class DepthwiseConv(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class ConvModule(nn.Module):
    """LayerNorm, pointwise conv + GLU, depthwise conv, SiLU, pointwise conv: [B, T, C] -> [B, T, C]."""

    def __init__(self, dim: int):
        super().__init__()
        inner = dim * EXPANSION
        self.net = nn.Sequential(
            nn.LayerNorm(dim, eps=NORM_EPS),
            Transpose(),
            nn.Conv1d(dim, 2 * inner, 1),
            nn.GLU(dim=1),
            DepthwiseConv(inner, KERNEL),
            nn.SiLU(),
            nn.Conv1d(inner, dim, 1),
            Transpose(),
        )

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """``mask`` [B, 1, T] (1 on real frames) zeroes what the depthwise conv must see as padding."""
        norm, _, expand, _, depthwise, silu, project, _ = self.net
        # The pointwise convs as matrix products over [B, T, C]: the same sums, several times
        # faster on CPU than torch's 1×1 Conv1d.
        x = F.glu(F.linear(norm(x), expand.weight[..., 0], expand.bias), dim=-1).transpose(1, 2)
        if mask is not None:
            x = x * mask
        return F.linear(silu(depthwise(x)).transpose(1, 2), project.weight[..., 0], project.bias)


class EncoderLayer(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conformer = ConvModule(dim)
        # The attention's pre-norm: trained and saved, but unused in a conv_only model.
        self.norm = nn.LayerNorm(dim, eps=NORM_EPS)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return x + self.conformer(x, mask)


class Encoder(nn.Module):
    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.encoder_layers = nn.ModuleList([EncoderLayer(dim) for _ in range(layers)])

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return x


class WeightNormLinear(nn.Module):
    """A linear layer stored as direction ``weight_v`` and per-output length ``weight_g``."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(n_out, 1))
        self.weight_v = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_v * (self.weight_g / self.weight_v.norm(dim=1, keepdim=True))
        return F.linear(x, weight, self.bias)


class Fcpe(nn.Module):
    """FCPE as bundled with torchfcpe 0.0.4 (``CFNaiveMelPE``, conv_only, 6 layers of 512)."""

    def __init__(self):
        super().__init__()
        self.input_stack = nn.Sequential(
            nn.Conv1d(N_MELS, HIDDEN, 3, padding=1),
            nn.GroupNorm(GROUPS, HIDDEN, eps=NORM_EPS),
            nn.LeakyReLU(),
            nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1),
        )
        self.net = Encoder(HIDDEN, LAYERS)
        self.norm = nn.LayerNorm(HIDDEN, eps=NORM_EPS)
        self.output_proj = WeightNormLinear(HIDDEN, N_BINS)
        # The cents of the 360 classes (and a training-only bound), saved in the checkpoint.
        self.register_buffer("cent_table", torch.zeros(N_BINS))
        self.register_buffer("gaussian_blurred_cent_mask", torch.zeros(()))

    def stem_conv(self, mel: Tensor) -> Tensor:
        """The first convolution, log-mel [B, T, 128] -> [B, 512, T]: what the GroupNorm normalises."""
        return self.input_stack[0](mel.transpose(1, 2))

    def forward(self, stem: Tensor, mean: Tensor, rstd: Tensor, mask: Tensor | None = None) -> Tensor:
        """Salience [B, T, 360] in 0..1 from `stem_conv`'s output, normalised per group with
        ``mean`` and ``rstd`` ([B, 4]: `stem_statistics` of each whole input)."""
        _, group_norm, activation, conv = self.input_stack
        channels = HIDDEN // GROUPS
        x = (stem - mean.repeat_interleave(channels, 1)[..., None]) * rstd.repeat_interleave(channels, 1)[..., None]
        x = activation(x * group_norm.weight[:, None] + group_norm.bias[:, None])
        if mask is not None:
            x = x * mask
        x = self.net(conv(x).transpose(1, 2), mask)
        return torch.sigmoid(self.output_proj(self.norm(x)))


def stem_statistics(sums: Tensor, squares: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
    """GroupNorm's (mean, 1/std) per input and group ([B, 4]) from `group_sums` over ``frames`` [B]
    frames of each input (biased variance, as GroupNorm)."""
    count = frames.reshape(-1, 1).to(torch.float64) * (HIDDEN // GROUPS)
    mean = sums / count
    variance = (squares / count - mean * mean).clamp(min=0)
    return mean.float(), torch.rsqrt(variance + NORM_EPS).float()


def group_sums(stem: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Float64 sums of `stem_conv`'s values and squares per input and group ([B, 4] each), over the
    frames where ``mask`` [B, 1, T] is 1 (all frames without one)."""
    x = stem.to(torch.float64)
    if mask is not None:
        x = x * mask
    grouped = x.reshape(x.shape[0], GROUPS, -1)
    return grouped.sum(-1), grouped.pow(2).sum(-1)
