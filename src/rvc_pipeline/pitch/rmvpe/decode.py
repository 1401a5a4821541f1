"""Salience [T, 360] -> f0 in Hz: a salience-weighted average of the cents of 9 bins around the peak."""

from __future__ import annotations

import numpy as np

from rvc_pipeline.pitch.rmvpe.network import N_BINS

CENTS_PER_BIN = 20.0
# Bin 0's pitch in cents above 10 Hz (about 31.7 Hz), as in CREPE, whose bins RMVPE reuses.
CENTS_OFFSET = 1997.3794084376191
REFERENCE_HZ = 10.0
HALF_WINDOW = 4  # 9 bins: the peak and 4 on each side
THRESHOLD = 0.03  # RVC's thred: frames whose peak salience is at most this are unvoiced

BIN_CENTS = CENTS_PER_BIN * np.arange(N_BINS) + CENTS_OFFSET


def local_average_cents(salience: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Cents (float64, 0 = unvoiced) per frame of salience [T, 360].

    Around each frame's argmax, bins ``argmax-4 .. argmax+4`` that exist are averaged, weighted by
    their salience (bins beyond 0 or 359 count as zero weight). A frame whose maximum is
    ``<= threshold`` is unvoiced.
    """
    salience = np.asarray(salience)
    if salience.ndim != 2 or salience.shape[1] != N_BINS:
        raise ValueError(f"salience must be [frames, {N_BINS}], got {salience.shape}")
    frames = np.arange(len(salience))[:, None]
    bins = salience.argmax(axis=1)[:, None] + np.arange(-HALF_WINDOW, HALF_WINDOW + 1)
    inside = (bins >= 0) & (bins < N_BINS)
    bins = np.clip(bins, 0, N_BINS - 1)
    weights = np.where(inside, salience[frames, bins], 0.0).astype(np.float64)
    total = weights.sum(axis=1)
    voiced = (salience.max(axis=1) > threshold) & (total > 0)
    return np.divide((weights * BIN_CENTS[bins]).sum(axis=1), total, out=np.zeros(len(salience)), where=voiced)


def cents_to_hz(cents: np.ndarray) -> np.ndarray:
    """10 Hz · 2^(cents/1200), with 0 cents (unvoiced) giving 0 Hz."""
    cents = np.asarray(cents, dtype=np.float64)
    return np.where(cents == 0, 0.0, REFERENCE_HZ * 2.0 ** (cents / 1200.0))


def salience_to_hz(salience: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """f0 in Hz (float64, 0 = unvoiced) per frame of salience [T, 360]."""
    return cents_to_hz(local_average_cents(salience, threshold))
