"""Linear and log-mel spectrograms exactly as RVC's mel_processing.py computes them.

The Slaney mel filter bank equals librosa.filters.mel's default (htk=False, norm="slaney"),
re-implemented here in numpy; banks are cached per parameter set by a pure cached function.
``htk=True`` gives librosa's HTK-scale bank (still Slaney area-normalised), RMVPE's input.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray, htk: bool = False) -> np.ndarray:
    """Slaney (or HTK) mel of frequencies in Hz (float64)."""
    hz = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    mel = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    return np.where(
        log_part, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mel
    )


def mel_to_hz(mel: np.ndarray, htk: bool = False) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return np.where(
        mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel
    )


@functools.lru_cache(maxsize=16)
def mel_filter_bank(
    sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None, htk: bool = False
) -> np.ndarray:
    """Read-only float32 [n_mels, n_fft//2+1] Slaney-normalised triangular filters (librosa's)."""
    if fmax is None:
        fmax = sr / 2.0
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    # librosa stores the triangles in float32 before scaling; do the same so values match.
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights.flags.writeable = False
    return weights


def spectrogram(wav: Tensor, n_fft: int, hop: int, win: int) -> Tensor:
    """Magnitude spectrogram [B, n_fft//2+1, N//hop] of wav [B, N]: reflect-padded, not centred."""
    pad = (n_fft - hop) // 2
    y = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(
        y,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=torch.hann_window(win, dtype=wav.dtype, device=wav.device),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-6)


def spec_to_mel(
    spec: Tensor,
    n_fft: int,
    n_mels: int,
    sr: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
) -> Tensor:
    """Log mel [B, n_mels, T] of a magnitude spectrogram: log(clamp(mel, 1e-5))."""
    basis = torch.tensor(
        mel_filter_bank(sr, n_fft, n_mels, fmin, fmax, htk), dtype=spec.dtype, device=spec.device
    )
    return torch.log(torch.clamp(torch.matmul(basis, spec), min=1e-5))


def mel_spectrogram(
    wav: Tensor,
    n_fft: int,
    n_mels: int,
    sr: int,
    hop: int,
    win: int,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> Tensor:
    """Log mel [B, n_mels, N//hop] of wav [B, N] (`spectrogram` then `spec_to_mel`)."""
    return spec_to_mel(spectrogram(wav, n_fft, hop, win), n_fft, n_mels, sr, fmin, fmax)


@dataclass(frozen=True)
class MelConfig:
    """The spectrogram settings of a config.json's data section."""

    sampling_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    fmin: float = 0.0
    fmax: float | None = None

    @classmethod
    def from_hparams(cls, h: dict[str, Any]) -> MelConfig:
        data = h["data"]
        return cls(
            sampling_rate=data["sampling_rate"],
            n_fft=data["filter_length"],
            hop_length=data["hop_length"],
            win_length=data["win_length"],
            n_mels=data["n_mel_channels"],
            fmin=data["mel_fmin"],
            fmax=data["mel_fmax"],
        )

    def spectrogram(self, wav: Tensor) -> Tensor:
        return spectrogram(wav, self.n_fft, self.hop_length, self.win_length)

    def spec_to_mel(self, spec: Tensor) -> Tensor:
        return spec_to_mel(spec, self.n_fft, self.n_mels, self.sampling_rate, self.fmin, self.fmax)

    def mel_spectrogram(self, wav: Tensor) -> Tensor:
        return self.spec_to_mel(self.spectrogram(wav))
