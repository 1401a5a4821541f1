"""RMVPE's input: the log of an HTK-scale mel of the centred STFT magnitude of 16 kHz audio."""

from __future__ import annotations

import torch
from torch import Tensor

from rvc_pipeline.layout import FEATURE_RATE, HOP
from rvc_pipeline.models.mel import spec_to_mel
from rvc_pipeline.pitch.rmvpe.network import N_MELS

N_FFT = 1024
FMIN = 30.0
FMAX = 8000.0


def n_frames(n_samples: int) -> int:
    """Mel frames (and f0 values) of ``n_samples`` of audio: ``n_samples // 160 + 1`` (centred STFT)."""
    return n_samples // HOP + 1


def log_mel(audio: Tensor, center: bool = True) -> Tensor:
    """Log-mel [B, 128, N//160 + 1] of 16 kHz audio [B, N] (N > 512 for the reflect padding).

    Hann window of 1024, centred with reflect padding; magnitude sqrt(re² + im²) with no
    epsilon; librosa's HTK mel bank (Slaney normalised) for 30–8000 Hz; log of clamp(·, 1e-5).
    ``center=False`` takes audio already padded by 512 samples at each end (frames of a window of
    a longer input): [B, (N - 1024)//160 + 1].
    """
    spec = torch.stft(
        audio,
        N_FFT,
        hop_length=HOP,
        win_length=N_FFT,
        window=torch.hann_window(N_FFT, dtype=audio.dtype, device=audio.device),
        center=center,
        pad_mode="reflect",
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2))
    return spec_to_mel(magnitude, N_FFT, N_MELS, FEATURE_RATE, FMIN, FMAX, htk=True)
