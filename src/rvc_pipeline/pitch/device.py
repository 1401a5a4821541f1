"""A source's pitch files from a method that runs on the job's device (``extract_f0_device``)."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf
import torch

from rvc_pipeline.devices import require_device
from rvc_pipeline.audio import read_wav_16k
from rvc_pipeline.pitch.files import save_pitch
from rvc_pipeline.pitch.registry import DEVICE, implementation, method

log = logging.getLogger(__name__)

FILES_PER_CALL = 16  # segments handed to the estimator at once (it batches them on a GPU)


def extract_device_dir(
    wav_dir: str | os.PathLike,
    coarse_dir: str | os.PathLike,
    hz_dir: str | os.PathLike,
    *,
    method_name: str,
    weights: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
    width: int = 1,
) -> None:
    """Write ``{name}.wav.npy`` (coarse int64 into coarse_dir, Hz float64 into hz_dir) for every *.wav.

    The weights load once per process; ``width`` runs of segments go at once in threads of this
    process, so only those segments are in memory: the estimator's own runs where it plans them
    (``runs(lengths)``, as RMVPE does by padded length), else runs of 16. ``threads`` sets torch's
    intra-op threads (process-wide; see ``features.extract_features_dir``).
    """
    entry = method(method_name, runs=DEVICE)
    require_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    estimator = implementation(entry.name)(weights, device)
    for folder in (coarse_dir, hz_dir):  # a source without segments still gets its (empty) outputs
        Path(folder).mkdir(parents=True, exist_ok=True)
    wavs = sorted(Path(wav_dir).glob("*.wav"))
    log.info("f0 (%s, %s) of %d files in %s", entry.name, device, len(wavs), wav_dir)

    def estimate(run: list[Path]) -> None:
        audios = [read_wav_16k(wav) for wav in run]
        try:
            f0s = estimator.f0_many(audios)
        except ValueError as err:  # an input the method cannot take: name the segments
            raise ValueError(f"{', '.join(map(str, run))}: {err}") from None
        for wav, hz in zip(run, f0s):
            save_pitch(wav, hz, coarse_dir, hz_dir)

    if hasattr(estimator, "runs"):
        runs = [[wavs[i] for i in run] for run in estimator.runs([sf.info(wav).frames for wav in wavs])]
    else:
        runs = [wavs[start : start + FILES_PER_CALL] for start in range(0, len(wavs), FILES_PER_CALL)]
    with ThreadPoolExecutor(max(1, width)) as pool:
        for _ in pool.map(estimate, runs):
            pass
