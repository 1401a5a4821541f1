"""pm, harvest and dio at 16 kHz with RVC's settings (docs/formats.md), run in the CPU worker pool."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import parselmouth
import pyworld

from rvc_pipeline.layout import FEATURE_RATE, HOP
from rvc_pipeline.audio import read_wav_16k
from rvc_pipeline.pitch.files import F0_MAX, F0_MIN, save_pitch
from rvc_pipeline.pitch.registry import POOL, implementation, names
from rvc_pipeline.pitch.registry import method as method_named
from rvc_pipeline.workers import WorkerPool, imap

log = logging.getLogger(__name__)

F0_METHODS = names(POOL)


def pm(x: np.ndarray) -> np.ndarray:
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


def harvest(x: np.ndarray) -> np.ndarray:
    return _world(x, pyworld.harvest)


def dio(x: np.ndarray) -> np.ndarray:
    return _world(x, pyworld.dio)


def _estimator(method: str) -> Callable[[np.ndarray], np.ndarray]:
    return implementation(method_named(method, runs=POOL).name)


def compute_f0(x16k: np.ndarray, method: str) -> np.ndarray:
    """f0 in Hz (float64, 0 = unvoiced) of 16 kHz audio, one value per 10 ms.

    Length ``len(x)//160`` for pm and ``len(x)//160 + 1`` for harvest and dio, as in RVC.
    """
    return _estimator(method)(x16k)


def extract_f0_files(wavs: list[Path], coarse_dir: Path, hz_dir: Path, method: str) -> None:
    """f0 of 16 kHz WAVs: ``{name}.npy`` in Hz (float64) into ``hz_dir``, coarse (int64) into ``coarse_dir``."""
    estimate = _estimator(method)
    for wav in wavs:
        save_pitch(wav, estimate(read_wav_16k(wav)), coarse_dir, hz_dir)


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
