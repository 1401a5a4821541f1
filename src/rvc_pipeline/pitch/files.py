"""RVC's pitch files: the coarse 1..255 bins, and one segment's two files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rvc_pipeline.atomic import save_npy

F0_MIN = 50.0
F0_MAX = 1100.0
MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)


def coarse_f0(hz: np.ndarray) -> np.ndarray:
    """RVC's 1..255 pitch bins (int64): mel-scaled between 50 and 1100 Hz; unvoiced (0 Hz) gives 1."""
    mel = 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - MEL_MIN) * 254.0 / (MEL_MAX - MEL_MIN) + 1.0
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)


def save_pitch(wav: Path, hz: np.ndarray, coarse_dir: str | os.PathLike, hz_dir: str | os.PathLike) -> None:
    """``{wav name}.npy``: Hz (float64, RVC's 2b-f0nsf) into ``hz_dir``, coarse (int64, 2a_f0) into ``coarse_dir``."""
    hz = np.asarray(hz, dtype=np.float64)
    save_npy(Path(hz_dir) / f"{wav.name}.npy", hz)
    save_npy(Path(coarse_dir) / f"{wav.name}.npy", coarse_f0(hz))
