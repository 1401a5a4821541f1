"""Mel-cepstral distortion (MCD) between a rendering and its recording, frame by frame.

Definition used here: each signal (16 kHz) is analysed into the speaker encoder's 40-band mel
power spectrogram (25 ms Hann window, 10 ms hop, Slaney mel bank from 0 to 8 kHz, see
`rvc_pipeline.quality.speaker.mel_power`). Per frame, the natural log of the mel amplitude
(power floored at 1e-10, i.e. amplitude 1e-5) is turned into cepstral coefficients
c_d = DCT-II_d / sqrt(2·40) (orthonormal DCT), scaled so that log amplitude = c_0 + 2·Σ c_d·cos(…).
Orders 1–24 are kept; c_0 (overall loudness) is left out, so a gain change costs nothing. Then

    MCD = mean over frames of (10 / ln 10) · sqrt(2 · Σ_{d=1..24} (c_d − ĉ_d)²)   [dB]

over all frames, silent ones included, with no time warping: a rendering has its recording's
timing. The longer signal is cut to the shorter one's frames. Being from a 25 ms mel spectrum
rather than a pitch-adaptive envelope (WORLD), a pitch change moves it a little too.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from rvc_pipeline.quality.speaker import mel_power

ORDER = 24
POWER_FLOOR = 1e-10
DB_PER_NEPER = 10.0 / np.log(10.0)


def cepstrum(log_amplitude: np.ndarray, order: int = ORDER) -> np.ndarray:
    """Cepstral coefficients c_1..c_order [frames, order] of log mel amplitudes [frames, bands]."""
    bands = log_amplitude.shape[-1]
    return dct(log_amplitude, type=2, norm="ortho", axis=-1)[..., 1 : order + 1] / np.sqrt(2.0 * bands)


def mel_cepstrum(wav16k: np.ndarray, order: int = ORDER) -> np.ndarray:
    """Mel cepstrum c_1..c_order [frames, order] of 16 kHz audio (float64)."""
    power = mel_power(wav16k).astype(np.float64)
    return cepstrum(0.5 * np.log(np.maximum(power, POWER_FLOOR)), order)


def cepstral_distortion(reference: np.ndarray, estimate: np.ndarray) -> float:
    """MCD in dB of two cepstra [frames, order] (c_0 excluded), frame by frame, no warping."""
    n = min(len(reference), len(estimate))
    if n == 0:
        raise ValueError("mel-cepstral distortion of an empty signal")
    diff = reference[:n] - estimate[:n]
    return float(np.mean(DB_PER_NEPER * np.sqrt(2.0 * np.sum(diff**2, axis=-1))))


def mel_cepstral_distortion(reference16k: np.ndarray, estimate16k: np.ndarray) -> float:
    """MCD in dB of a 16 kHz rendering against its 16 kHz recording (see the module's definition)."""
    return cepstral_distortion(mel_cepstrum(reference16k), mel_cepstrum(estimate16k))
