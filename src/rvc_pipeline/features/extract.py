"""RVC's content features per 16 kHz segment (step 2b, docs/formats.md): v1 [T,256], v2 [T,768], float32."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rvc_pipeline.atomic import save_npy
from rvc_pipeline.devices import require_device
from rvc_pipeline.audio import read_wav_16k
from rvc_pipeline.faults import fault_point
from rvc_pipeline.features.hubert import MIN_SAMPLES, load_hubert
from rvc_pipeline.progress import Progress
from rvc_pipeline.tables import write_tsv

log = logging.getLogger(__name__)


def extract_features_dir(
    wav_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    weights: str | os.PathLike | None,
    version: str,
    device: str = "cpu",
    standin: str | None = "base",
    threads: int | None = None,
    width: int = 1,
) -> list[dict]:
    """Write ``{stem}.npy`` features for every *.wav in wav_dir; return one ``{file, reason}`` per file skipped.

    A file whose features contain NaN (RVC drops it from training) or that is too short for a
    single frame is not written, and is reported. ``width`` segments run at once, each in a
    thread of this process (torch releases the GIL). ``threads`` sets torch's intra-op threads,
    which is process-wide: the workflow runs one per job thread, since a matrix product split
    over cores that other work is using waits for the slowest of them.
    """
    require_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    model = load_hubert(weights, device=device, standin=standin)
    if model.is_standin:
        log.warning("features of %s come from a random stand-in HuBERT: they carry no content", wav_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # also for a source without segments
    wavs = sorted(Path(wav_dir).glob("*.wav"))
    log.info("%s features of %d files in %s", version, len(wavs), wav_dir)

    def extract(wav: Path) -> dict | None:
        audio = read_wav_16k(wav)
        if len(audio) < MIN_SAMPLES:
            return {"file": str(wav), "reason": f"{len(audio)} samples: too short for one feature frame"}
        features = model.extract(audio, version)
        if np.isnan(features).any():
            return {"file": str(wav), "reason": "features contain NaN; not saved"}
        save_npy(Path(out_dir) / f"{wav.stem}.npy", features)
        fault_point("features")
        return None

    with Progress(f"extract_features {wav_dir}", total=len(wavs)) as progress:
        with ThreadPoolExecutor(max(1, width)) as segments:
            problems = [problem for problem in progress.each(segments.map(extract, wavs)) if problem]
    for problem in problems:
        log.warning("%s: %s", problem["file"], problem["reason"])
    return problems


def extract_features_source(
    wav_dir: str | os.PathLike, out_dir: str | os.PathLike, report: str | os.PathLike, **options: Any
) -> list[dict]:
    """``extract_features_dir`` (same keyword options) for one source, plus its problems as a TSV."""
    problems = extract_features_dir(wav_dir, out_dir, **options)
    write_tsv(report, ("file", "reason"), problems)
    return problems
