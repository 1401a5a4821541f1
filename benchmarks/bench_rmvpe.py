"""RMVPE pitch speed as multiples of real time (audio seconds / processing seconds), CPU and CUDA.

The network's cost depends on its size, not its weights: randomly initialised weights of the
shape of RVC's rmvpe.pt (90 M parameters) stand in unless --weights is given. Two workloads:
training segments (RVC's 3.7 s, batched by equal length as the workflow's rule runs them) and one
long recording (conversion: the whole input in one pass). Synthetic speech, so no data needed.
Usage: python benchmarks/bench_rmvpe.py [--seconds 30] [--threads N] [--weights pretrained/rmvpe.pt]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import soxr
import torch

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.layout import FEATURE_RATE as SR
from rvc_pipeline.pitch.rmvpe import PitchEstimator, load_rmvpe
from rvc_pipeline.pitch.rmvpe.network import Rmvpe

SEGMENT = int(3.7 * SR)


def speech(seconds: float) -> np.ndarray:
    return soxr.resample(synthesize_voice(seconds, 32000, seed=1), 32000, SR).astype(np.float32)


def realtime(work, audio_seconds: float, device: str) -> tuple[float, float]:
    """(seconds, realtime factor) of ``work()``, after one untimed warm-up call."""
    work()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, audio_seconds / seconds


def bench(estimator: PitchEstimator, device: str, seconds: float) -> np.ndarray:
    recording = speech(seconds)
    segments = [recording[i : i + SEGMENT] for i in range(0, len(recording) - SEGMENT + 1, SEGMENT)]
    audio_s = len(segments) * SEGMENT / SR
    taken, factor = realtime(lambda: estimator.f0_many(segments), audio_s, device)
    print(f"rmvpe {device:4s} {len(segments):3d} segments of 3.7 s, batched: {taken:7.2f} s  {factor:7.1f} x realtime")
    taken, factor = realtime(lambda: estimator.f0(recording), len(recording) / SR, device)
    print(f"rmvpe {device:4s} one {len(recording) / SR:.0f} s recording:     {taken:7.2f} s  {factor:7.1f} x realtime")
    return estimator.salience(segments[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per workload on the CPU")
    parser.add_argument("--cuda-seconds", type=float, default=600.0, help="audio per workload on CUDA")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--weights", default=None, help="RVC's rmvpe.pt (default: random weights of its shape)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Other processes on the same cores skew the CPU numbers (torch threads suffer most).
    print(f"{os.cpu_count()} cores, {args.threads} torch threads, load average {os.getloadavg()[0]:.1f} at start")

    def estimator(device: str) -> PitchEstimator:
        if args.weights:
            return load_rmvpe(args.weights, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return PitchEstimator(Rmvpe(), device)

    cpu = bench(estimator("cpu"), "cpu", args.seconds)
    if torch.cuda.is_available():
        gpu = bench(estimator("cuda"), "cuda", args.cuda_seconds)
        print(f"rmvpe cuda vs cpu: max salience difference {np.abs(gpu - cpu).max():.2e} on one segment")
    else:
        print("rmvpe cuda: no GPU here")


if __name__ == "__main__":
    main()
