"""Waveform decoders: HiFi-GAN (no pitch) and HiFi-GAN with a neural source filter (NSF)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .commons import LRELU_SLOPE, maybe_checkpoint, weight_norm
from .config import ModelConfig
from .modules import ResBlock1, ResBlock2


class SineGen(nn.Module):
    """Sine excitation from frame-rate f0, upsampled to sample rate; noise where unvoiced.

    The phase is accumulated per frame, upsampled linearly and wrapped the way RVC does it,
    so the waveform matches RVC's sample for sample. Noise comes from ``torch.rand`` (initial
    phase of the harmonics) and ``torch.randn_like`` (additive noise), in that order.
    """

    def __init__(
        self,
        sampling_rate: int,
        harmonic_num: int = 0,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.sampling_rate = sampling_rate
        self.dim = harmonic_num + 1
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold

    @torch.no_grad()
    def forward(self, f0: Tensor, upp: int) -> tuple[Tensor, Tensor]:
        """f0 [B, T] in Hz -> (excitation [B, T*upp, dim], voiced mask [B, T*upp, 1])."""
        f0 = f0.unsqueeze(-1)
        harmonics = torch.arange(1, self.dim + 1, device=f0.device, dtype=f0.dtype)
        rad_values = (f0 * harmonics / self.sampling_rate) % 1
        rand_ini = torch.rand(f0.shape[0], self.dim, device=f0.device)
        rand_ini[:, 0] = 0  # the fundamental starts at phase zero
        rad_values[:, 0, :] = rad_values[:, 0, :] + rand_ini
        # Frame-rate phase, scaled and interpolated to samples, only to find the wrap points.
        phase = torch.cumsum(rad_values, 1) * upp
        phase = F.interpolate(
            phase.transpose(2, 1), scale_factor=upp, mode="linear", align_corners=True
        ).transpose(2, 1)
        rad_values = F.interpolate(
            rad_values.transpose(2, 1), scale_factor=upp, mode="nearest"
        ).transpose(2, 1)
        phase = phase % 1
        wraps = (phase[:, 1:, :] - phase[:, :-1, :]) < 0
        cumsum_shift = torch.zeros_like(rad_values)
        cumsum_shift[:, 1:, :] = wraps * -1.0
        sine_waves = torch.sin(torch.cumsum(rad_values + cumsum_shift, dim=1) * 2 * math.pi)
        sine_waves = sine_waves * self.sine_amp
        uv = (f0 > self.voiced_threshold).to(f0.dtype)
        uv = F.interpolate(uv.transpose(2, 1), scale_factor=upp, mode="nearest").transpose(2, 1)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        noise = noise_amp * torch.randn_like(sine_waves)
        return sine_waves * uv + noise, uv


class SourceModuleHnNSF(nn.Module):
    """Harmonic-plus-noise source: SineGen merged to one channel by Linear + tanh."""

    def __init__(self, sampling_rate: int, harmonic_num: int = 0) -> None:
        super().__init__()
        self.l_sin_gen = SineGen(sampling_rate, harmonic_num)
        self.l_linear = nn.Linear(harmonic_num + 1, 1)
        self.l_tanh = nn.Tanh()

    def forward(self, f0: Tensor, upp: int) -> Tensor:
        """f0 [B, T] -> source [B, T*upp, 1]."""
        sine_waves, _ = self.l_sin_gen(f0, upp)
        return self.l_tanh(self.l_linear(sine_waves.to(self.l_linear.weight.dtype)))


class Generator(nn.Module):
    """HiFi-GAN decoder: latent frames [B, C, T] -> waveform [B, 1, T*hop] in [-1, 1].

    With ``source`` (GeneratorNSF) each upsampling stage also adds a strided convolution of
    the NSF excitation; the module order in the state dict then matches RVC's GeneratorNSF.
    """

    noise_convs: nn.ModuleList
    checkpointing = False  # recompute the stages' activations in the backward pass (Synthesizer.use_checkpointing)

    def __init__(self, cfg: ModelConfig, source: SourceModuleHnNSF | None = None) -> None:
        super().__init__()
        rates, kernels = cfg.upsample_rates, cfg.upsample_kernel_sizes
        init_ch = cfg.upsample_initial_channel
        if source is not None:
            self.m_source = source
            self.noise_convs = nn.ModuleList(
                _noise_conv(
                    init_ch // 2 ** (i + 1), math.prod(rates[i + 1 :]), last=i == len(rates) - 1
                )
                for i in range(len(rates))
            )
        self.conv_pre = nn.Conv1d(cfg.inter_channels, init_ch, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            weight_norm(
                nn.ConvTranspose1d(
                    init_ch // 2**i, init_ch // 2 ** (i + 1), k, u, padding=(k - u) // 2
                )
            )
            for i, (u, k) in enumerate(zip(rates, kernels, strict=True))
        )
        resblock = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.resblocks = nn.ModuleList(
            resblock(init_ch // 2 ** (i + 1), k, d)
            for i in range(len(rates))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True)
        )
        self.conv_post = nn.Conv1d(init_ch // 2 ** len(rates), 1, 7, 1, padding=3, bias=False)
        if cfg.gin_channels:
            self.cond = nn.Conv1d(cfg.gin_channels, init_ch, 1)
        self.upp = cfg.hop_length

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        return self._decode(x, g, None)

    def _stage(self, i: int, x: Tensor, source: Tensor | None) -> Tensor:
        """Upsampling stage ``i``: transposed convolution, the source's share, the resblocks."""
        x = self.ups[i](F.leaky_relu(x, LRELU_SLOPE))
        if source is not None:
            x = x + self.noise_convs[i](source)
        blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
        xs = blocks[0](x)
        for block in blocks[1:]:
            xs = xs + block(x)
        return xs / self.num_kernels

    def _decode(self, x: Tensor, g: Tensor | None, source: Tensor | None) -> Tensor:
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for i in range(len(self.ups)):
            # Stage by stage: the stages near the sample rate hold most of the activations.
            x = maybe_checkpoint(self.checkpointing, self._stage, i, x, source)
        # RVC's final activation uses leaky_relu's default slope 0.01, not LRELU_SLOPE.
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)


def _noise_conv(channels: int, stride: int, last: bool) -> nn.Conv1d:
    """Bring the sample-rate source down to the rate of one upsampling stage's output."""
    if last:
        return nn.Conv1d(1, channels, kernel_size=1)
    return nn.Conv1d(1, channels, kernel_size=stride * 2, stride=stride, padding=stride // 2)


class GeneratorNSF(Generator):
    """HiFi-GAN decoder driven by an f0 sine source (RVC's models with pitch)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg, SourceModuleHnNSF(cfg.sampling_rate))

    def forward(  # type: ignore[override]
        self, x: Tensor, f0: Tensor, g: Tensor | None = None
    ) -> Tensor:
        """x [B, C, T], f0 [B, T] in Hz -> waveform [B, 1, T*hop]."""
        source = self.m_source(f0, self.upp).transpose(1, 2)
        return self._decode(x, g, source)
