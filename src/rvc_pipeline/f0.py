"""Pitch (f0) extraction at 16 kHz with RVC's pm / harvest / dio settings (docs/formats.md)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import parselmouth
import pyworld
import soundfile as sf

from rvc_pipeline.atomic import save_npy
from rvc_pipeline.layout import FEATURE_RATE, HOP, WAVS_16K
from rvc_pipeline.workers import WorkerPool, imap

log = logging.getLogger(__name__)

F0_MIN = 50.0
F0_MAX = 1100.0
MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)


def read_wav_16k(path: str | os.PathLike) -> np.ndarray:
    """Read a mono 16 kHz WAV as float32; any other rate or channel count is an error naming the file."""
    samples, rate = sf.read(path, dtype="float32")
    if rate != FEATURE_RATE:
        raise ValueError(f"{path}: sample rate is {rate} Hz, expected {FEATURE_RATE} Hz (a {WAVS_16K} file)")
    if samples.ndim != 1:
        raise ValueError(f"{path}: has {samples.shape[1]} channels, expected mono")
    return samples


def _pm(x: np.ndarray) -> np.ndarray:
    p_len = len(x) // HOP
    pitch = parselmouth.Sound(x, FEATURE_RATE).to_pitch_ac(
        time_step=HOP / FEATURE_RATE, voicing_threshold=0.6, pitch_floor=F0_MIN, pitch_ceiling=F0_MAX
    )
    f0 = pitch.selected_array["frequency"]
    # Praat's frames start half an analysis window in, so it yields fewer than p_len; RVC centres
    # the contour with zeros, the odd one on the left.
    left = (p_len - len(f0) + 1) // 2
    return np.pad(f0, (left, p_len - len(f0) - left))


def _world(x: np.ndarray, estimator: Callable) -> np.ndarray:
    x64 = x.astype(np.float64)
    f0, t = estimator(x64, fs=FEATURE_RATE, f0_ceil=F0_MAX, f0_floor=F0_MIN, frame_period=1000 * HOP / FEATURE_RATE)
    return pyworld.stonemask(x64, f0, t, FEATURE_RATE)


def _harvest(x: np.ndarray) -> np.ndarray:
    return _world(x, pyworld.harvest)


def _dio(x: np.ndarray) -> np.ndarray:
    return _world(x, pyworld.dio)


_ESTIMATORS = {"pm": _pm, "harvest": _harvest, "dio": _dio}
F0_METHODS = tuple(_ESTIMATORS)


def _estimator(method: str) -> Callable[[np.ndarray], np.ndarray]:
    if method not in _ESTIMATORS:
        raise ValueError(f"unknown f0 method {method!r}; expected one of {', '.join(F0_METHODS)}")
    return _ESTIMATORS[method]


def compute_f0(x16k: np.ndarray, method: str) -> np.ndarray:
    """f0 in Hz (float64, 0 = unvoiced) of 16 kHz audio, one value per 10 ms.

    Length ``len(x)//160`` for pm and ``len(x)//160 + 1`` for harvest and dio, as in RVC.
    """
    return _estimator(method)(x16k)


def coarse_f0(hz: np.ndarray) -> np.ndarray:
    """RVC's 1..255 pitch bins (int64): mel-scaled between 50 and 1100 Hz; unvoiced (0 Hz) gives 1."""
    mel = 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - MEL_MIN) * 254.0 / (MEL_MAX - MEL_MIN) + 1.0
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)


def extract_f0_files(wavs: list[Path], coarse_dir: Path, hz_dir: Path, method: str) -> None:
    """f0 of 16 kHz WAVs: ``{name}.npy`` in Hz (float64) into ``hz_dir``, coarse (int64) into ``coarse_dir``."""
    estimate = _estimator(method)
    for wav in wavs:
        f0 = estimate(read_wav_16k(wav))
        save_npy(hz_dir / f"{wav.name}.npy", f0)
        save_npy(coarse_dir / f"{wav.name}.npy", coarse_f0(f0))


def extract_f0_dir(
    wav_dir: str | os.PathLike,
    coarse_dir: str | os.PathLike,
    hz_dir: str | os.PathLike,
    method: str,
    *,
    pool: WorkerPool | None = None,
    width: int = 1,
) -> None:
    """Write ``{name}.wav.npy`` (coarse int64 into coarse_dir, Hz float64 into hz_dir) for every *.wav.

    With a ``pool``, ``width`` of its worker processes share the files, in runs of several files
    (a task costs about a millisecond more than its work: as much as pm takes for a second of audio).
    """
    _estimator(method)  # an unknown method fails here, before any file
    for folder in (coarse_dir, hz_dir):  # a source without segments still gets its (empty) outputs
        Path(folder).mkdir(parents=True, exist_ok=True)
    wavs = sorted(Path(wav_dir).glob("*.wav"))
    log.info("f0 (%s) of %d files in %s", method, len(wavs), wav_dir)
    # Four runs per worker: few tasks, and still a balanced end when files differ in length.
    size = max(1, -(-len(wavs) // (4 * width)))
    tasks = [
        {"wavs": wavs[start : start + size], "coarse_dir": Path(coarse_dir), "hz_dir": Path(hz_dir), "method": method}
        for start in range(0, len(wavs), size)
    ]
    for _ in imap(extract_f0_files, tasks, pool, width):
        pass
