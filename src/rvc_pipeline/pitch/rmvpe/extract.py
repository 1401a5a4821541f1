"""RMVPE pitch files of one source's segments: RVC's 2a_f0 (coarse) and 2b-f0nsf (Hz) layout."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf
import torch

from rvc_pipeline.devices import require_device
from rvc_pipeline.pitch.files import read_wav_16k, save_pitch
from rvc_pipeline.pitch.rmvpe.estimator import MIN_SAMPLES, plan_batches
from rvc_pipeline.pitch.rmvpe.loader import load_rmvpe

log = logging.getLogger(__name__)


def extract_rmvpe_dir(
    wav_dir: str | os.PathLike,
    coarse_dir: str | os.PathLike,
    hz_dir: str | os.PathLike,
    *,
    weights: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
    width: int = 1,
) -> None:
    """Write ``{name}.wav.npy`` (coarse int64 into coarse_dir, Hz float64 into hz_dir) for every *.wav.

    Segments of the same padded length run as one batch, ``width`` batches at once in threads of
    this process. ``threads`` sets torch's intra-op threads (process-wide; see
    ``features.extract_features_dir``).
    """
    require_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    estimator = load_rmvpe(weights, device)
    for folder in (coarse_dir, hz_dir):  # a source without segments still gets its (empty) outputs
        Path(folder).mkdir(parents=True, exist_ok=True)
    wavs = sorted(Path(wav_dir).glob("*.wav"))
    log.info("f0 (rmvpe, %s) of %d files in %s", device, len(wavs), wav_dir)

    def estimate(batch: list[int]) -> None:
        audios = []
        for i in batch:
            audio = read_wav_16k(wavs[i])
            if len(audio) < MIN_SAMPLES:
                raise ValueError(f"{wavs[i]}: {len(audio)} samples, RMVPE needs at least {MIN_SAMPLES}")
            audios.append(audio)
        for i, hz in zip(batch, estimator.f0_many(audios)):
            save_pitch(wavs[i], hz, coarse_dir, hz_dir)

    # Only a batch per thread is in memory at a time.
    batches = plan_batches([sf.info(wav).frames for wav in wavs], estimator.max_frames)
    with ThreadPoolExecutor(max(1, width)) as pool:
        for _ in pool.map(estimate, batches):
            pass
