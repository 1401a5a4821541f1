"""Pitch error of a rendering against its recording: cents on frames voiced in both, and voicing error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rvc_pipeline.pitch.classic import compute_f0


@dataclass(frozen=True)
class PitchError:
    """``cents``: mean of |1200·log2(estimate / reference)| over the frames voiced in both (NaN when
    there are none); ``voicing_error``: share of frames voiced in one track and not in the other."""

    cents: float
    voicing_error: float
    voiced_frames: int


def pitch_error(reference_hz: np.ndarray, estimate_hz: np.ndarray) -> PitchError:
    """Compare two f0 tracks in Hz (0 = unvoiced) frame by frame; the longer one is cut to the shorter."""
    n = min(len(reference_hz), len(estimate_hz))
    if n == 0:
        raise ValueError("pitch error of an empty f0 track")
    reference = np.asarray(reference_hz[:n], dtype=np.float64)
    estimate = np.asarray(estimate_hz[:n], dtype=np.float64)
    ref_voiced, est_voiced = reference > 0, estimate > 0
    both = ref_voiced & est_voiced
    cents = np.abs(1200.0 * np.log2(estimate[both] / reference[both]))
    return PitchError(
        cents=float(cents.mean()) if both.any() else math.nan,
        voicing_error=float(np.mean(ref_voiced != est_voiced)),
        voiced_frames=int(both.sum()),
    )


def pitch_error_of_audio(reference16k: np.ndarray, estimate16k: np.ndarray, method: str) -> PitchError:
    """`pitch_error` of two 16 kHz signals of the same timing, both tracked with ``method``
    (``rvc_pipeline.pitch.classic.compute_f0``: pm, harvest or dio)."""
    return pitch_error(compute_f0(reference16k, method), compute_f0(estimate16k, method))
