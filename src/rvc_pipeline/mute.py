"""RVC's mute (silence) assets of an experiment: one segment of silence in every stage folder.

RVC ships them in ``logs/mute/``; here they are computed for the experiment's rate and version,
the features by the experiment's own HuBERT (docs/formats.md). The filelist adds two lines of
them, as RVC does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rvc_pipeline.atomic import save_npy
from rvc_pipeline.audio import write_wav
from rvc_pipeline.layout import F0_COARSE, F0_HZ, FEATURE_RATE, GT_WAVS, WAVS_16K, feature_folder, rate_name

MUTE_SECONDS = 3.0
MUTE_F0_FRAMES = 301  # RVC's shipped 2a_f0 / 2b-f0nsf mute files have 301 frames


def mute_paths(mute_dir: str | os.PathLike, sample_rate: int, version: str) -> list[Path]:
    """The four mute files of a filelist line: wav, features, coarse f0, f0 in Hz."""
    root = Path(os.path.abspath(mute_dir))
    return [
        root / GT_WAVS / f"mute{rate_name(sample_rate)}.wav",
        root / feature_folder(version) / "mute.npy",
        root / F0_COARSE / "mute.wav.npy",
        root / F0_HZ / "mute.wav.npy",
    ]


def write_mute_assets(
    mute_dir: str | os.PathLike,
    sample_rate: int,
    version: str,
    *,
    weights: str | None,
    standin: str = "base",
) -> None:
    """Generate RVC's silence assets for one rate and version.

    Wavs are 3.0 s of float32 zeros (RVC's are int16 zeros; our loader reads float wavs), the
    f0 files are 301 frames of coarse 1 / 0 Hz, and the features are the HuBERT model's output on
    the 16 kHz silence, so they match the feature extractor the experiment uses.
    """
    from rvc_pipeline.features.extract import extract_features_dir

    wav, feats, coarse, hz = mute_paths(mute_dir, sample_rate, version)
    root = wav.parent.parent
    write_wav(wav, np.zeros(int(MUTE_SECONDS * sample_rate), np.float32), sample_rate)
    wav16k_dir = root / WAVS_16K
    write_wav(wav16k_dir / "mute.wav", np.zeros(int(MUTE_SECONDS * FEATURE_RATE), np.float32), FEATURE_RATE)
    save_npy(coarse, np.ones(MUTE_F0_FRAMES, np.int64))
    save_npy(hz, np.zeros(MUTE_F0_FRAMES, np.float64))
    problems = extract_features_dir(
        wav16k_dir, feats.parent, weights=weights, version=version, standin=standin
    )
    if problems or not feats.is_file():
        raise RuntimeError(f"feature extraction of the mute wav {wav16k_dir / 'mute.wav'} failed: {problems}")
