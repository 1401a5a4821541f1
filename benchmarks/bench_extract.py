"""Step 2b speed: f0 (pm, harvest, dio) and HuBERT features, as multiples of real time.

Reads a few minutes of the shared speech (../shared/data), resamples it to 16 kHz with soxr and
cuts it into RVC's 3.7 s segments, then times each method over all segments, one by one as the
pipeline does. Features use the base-size random stand-in (HuBERT base shape, so the same cost as
the real model) unless --weights is given.
Usage: python benchmarks/bench_extract.py [--seconds 180] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from rvc_pipeline.pitch.classic import F0_METHODS, compute_f0
from rvc_pipeline.layout import FEATURE_RATE
from rvc_pipeline.features.hubert import load_hubert

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEGMENT = int(3.7 * FEATURE_RATE)


def speech_segments(data: Path, seconds: float) -> list[np.ndarray]:
    """RVC-sized 16 kHz segments from the single-speaker recordings, up to ``seconds`` in all."""
    files = sorted((data / "ljspeech_long").glob("*")) + sorted((data / "ljspeech").glob("*.wav"))
    segments, total = [], 0
    for path in files:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        x = soxr.resample(audio.mean(axis=1), rate, FEATURE_RATE).astype(np.float32)
        for start in range(0, len(x) - FEATURE_RATE, SEGMENT):
            segments.append(x[start : start + SEGMENT])
            total += len(segments[-1])
            if total >= seconds * FEATURE_RATE:
                return segments
    return segments


def timed(work, segments: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for segment in segments:
        work(segment)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seconds", type=float, default=180.0, help="audio to process per method")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--weights", default=None, help="hubert_base.pt or HF folder (default: stand-in)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no speech data at {args.data}")
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    segments = speech_segments(args.data, args.seconds)
    audio_s = sum(len(s) for s in segments) / FEATURE_RATE
    print(f"{len(segments)} segments, {audio_s:.1f} s of 16 kHz speech from {args.data}")
    # Other processes on the same cores skew every number below (torch threads suffer most).
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    for method in F0_METHODS:
        seconds = timed(lambda x: compute_f0(x, method), segments)
        print(f"f0 {method:8s} {seconds:7.2f} s  {audio_s / seconds:7.1f} x realtime (1 process)")

    start = time.perf_counter()
    model = load_hubert(args.weights, device=args.device, standin="base")
    print(f"HuBERT load {time.perf_counter() - start:.2f} s ({'stand-in' if model.is_standin else args.weights})")
    model.extract(segments[0], "v1")  # warm-up: first-call allocations and kernel selection
    for version in ("v1", "v2"):
        seconds = timed(lambda x: model.extract(x, version), segments)
        print(
            f"features {version} {seconds:7.2f} s  {audio_s / seconds:7.1f} x realtime "
            f"({args.device}, {args.threads} torch threads)"
        )


if __name__ == "__main__":
    main()
