"""Synthetic "voice" recordings for the built-in demo: no downloads, no copied audio.

WORLD's vocoder (pyworld) renders phrases with a pitch contour (declination, vibrato, jitter),
formant envelopes gliding between vowels, aperiodic fricatives, breath noise and pauses. It sounds
like a hummed robot, not like a person: enough to exercise every step of the workflow for real.
"""

from __future__ import annotations

import os

import numpy as np
import pyworld

from rvc_pipeline.audio import write_wav

FRAME_MS = 5.0
# (F1, F2, F3) in Hz of a few vowels: a, e, i, o, u.
VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]])


def _envelope(freqs: np.ndarray, formants: np.ndarray, tilt_db_per_khz: float) -> np.ndarray:
    """Power spectral envelope [T, bins] from per-frame formant frequencies [T, 3]."""
    bandwidths = np.array([80.0, 100.0, 150.0])
    gains_db = np.array([0.0, -6.0, -12.0])
    f = freqs[None, :, None]
    level_db = gains_db + 0.0 * formants[:, None, :]
    peaks = 10 ** (level_db / 10) / (1 + ((f - formants[:, None, :]) / bandwidths) ** 2)
    tilt = 10 ** (tilt_db_per_khz * freqs / 1000 / 10)
    return (peaks.sum(-1) + 1e-3) * tilt[None, :]


def synthesize_voice(seconds: float, sr: int, seed: int, base_f0: float = 140.0) -> np.ndarray:
    """A float32 signal of about ``seconds`` with phrases separated by pauses and breaths."""
    return voice_and_pitch(seconds, sr, seed, base_f0)[0]


def voice_and_pitch(seconds: float, sr: int, seed: int, base_f0: float = 140.0) -> tuple[np.ndarray, np.ndarray]:
    """`synthesize_voice`'s signal and the pitch it was rendered with: Hz every ``FRAME_MS`` (0 = unvoiced)."""
    rng = np.random.default_rng(seed)
    fft_size = pyworld.get_cheaptrick_fft_size(sr)
    freqs = np.linspace(0, sr / 2, fft_size // 2 + 1)
    f0_parts, sp_parts, ap_parts = [], [], []
    frames_total = int(seconds * 1000 / FRAME_MS)
    frames_done = 0
    while frames_done < frames_total:
        n = int(rng.uniform(1.5, 4.5) * 1000 / FRAME_MS)  # a phrase
        t = np.arange(n) * FRAME_MS / 1000
        contour = base_f0 * (1.15 - 0.25 * t / t[-1])  # declination over the phrase
        contour *= 2 ** (rng.uniform(-3, 5) * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t) / 12)
        contour *= 1 + 0.015 * np.sin(2 * np.pi * 5.5 * t) + 0.004 * rng.standard_normal(n)
        # Syllables: vowel targets every ~180 ms, linearly interpolated (formant glides).
        knots = np.arange(0, n + 36, 36)
        targets = VOWELS[rng.integers(0, len(VOWELS), len(knots))] * rng.uniform(0.93, 1.07, (len(knots), 1))
        formants = np.stack([np.interp(np.arange(n), knots, targets[:, k]) for k in range(3)], axis=1)
        sp = _envelope(freqs, formants, tilt_db_per_khz=-3.0) * 1e-3
        ap = np.clip(freqs[None, :] / (sr / 2), 0.02, 1.0) ** 0.6 * np.ones((n, 1))
        f0 = contour.copy()
        # Unvoiced consonants between some syllables: aperiodic, brighter.
        for k in knots[1:-1]:
            if rng.random() < 0.35:
                lo, hi = max(0, k - 8), min(n, k + 8)
                f0[lo:hi] = 0.0
                ap[lo:hi] = 1.0
                sp[lo:hi] *= 0.05 * (freqs[None, :] > 2500) + 0.01
        f0_parts.append(f0), sp_parts.append(sp), ap_parts.append(ap)
        # Pause with a soft breath in the middle, then silence.
        m = int(rng.uniform(0.6, 1.2) * 1000 / FRAME_MS)
        breath = np.full((m, len(freqs)), 1e-12)
        b0, b1 = m // 4, m // 4 + int(0.25 * 1000 / FRAME_MS)
        breath[b0:b1] = 3e-9 * (freqs[None, :] > 500) + 1e-12
        f0_parts.append(np.zeros(m)), sp_parts.append(breath), ap_parts.append(np.ones((m, len(freqs))))
        frames_done += n + m
    f0 = np.concatenate(f0_parts)
    sp = np.ascontiguousarray(np.concatenate(sp_parts))
    ap = np.ascontiguousarray(np.concatenate(ap_parts))
    y = pyworld.synthesize(f0, sp, ap, sr, FRAME_MS)
    y = y / (np.abs(y).max() + 1e-9) * 0.6
    return y.astype(np.float32), f0


def write_demo_recording(recording: str | os.PathLike, index: int, seconds: float = 40.0, sr: int = 44100) -> None:
    """Write demo recording number ``index`` (deterministic: the seed is the index) as a float WAV."""
    samples = synthesize_voice(seconds, sr, seed=index, base_f0=110.0 + 25.0 * (index % 4))
    write_wav(recording, samples, sr)
