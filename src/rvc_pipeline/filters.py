"""RVC's Butterworth high-pass: causal before slicing (preprocessing), zero-phase before conversion."""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from rvc_pipeline.layout import HIGHPASS_HZ, HIGHPASS_ORDER

HIGHPASS_MODES = ("lfilter", "filtfilt")


@functools.cache
def _butter(sr: int) -> tuple[np.ndarray, np.ndarray]:
    return signal.butter(N=HIGHPASS_ORDER, Wn=HIGHPASS_HZ, btype="high", fs=sr)


def highpass(samples: np.ndarray, sr: int, mode: str = "lfilter") -> np.ndarray:
    """The high-pass (order ``HIGHPASS_ORDER`` at ``HIGHPASS_HZ``) of ``samples`` at rate ``sr``:
    causal ``lfilter`` as RVC's preprocessing, or zero-phase ``filtfilt`` as its conversion."""
    b, a = _butter(sr)
    if mode == "lfilter":
        return signal.lfilter(b, a, samples)
    if mode == "filtfilt":
        return signal.filtfilt(b, a, samples)
    raise ValueError(f"highpass mode must be one of {HIGHPASS_MODES}, not {mode!r}")
