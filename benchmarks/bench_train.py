"""Seconds per training step on the CPU: the tiny test config vs RVC's 40k v1 config.

One step = what the training loop does per batch: load and collate the batch (float32 wavs,
features and f0 files of 3.7 s segments written to a temp folder), then RVC's D and G updates.
One warm-up step, then the mean of the timed steps.
Usage: python benchmarks/bench_train.py [--steps N] [--batch-size B] [--threads T]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rvc_pipeline.audio import write_wav
from rvc_pipeline.training.data import FilelistEntry, SegmentDataset, collate
from rvc_pipeline.layout import FEATURE_DIMS, FEATURE_RATE, HOP
from rvc_pipeline.models import (
    ModelConfig,
    StepSettings,
    build_discriminator,
    build_synthesizer,
    rvc_hparams,
    rvc_optimizer,
    tiny_hparams,
    train_step,
)

SECONDS = 3.7


def write_segments(folder: Path, sample_rate: int, count: int) -> list[FilelistEntry]:
    """``count`` random 3.7 s segments with RVC's frame counts (features 50/s, pm f0 100/s)."""
    rng = np.random.default_rng(0)
    n = int(SECONDS * sample_rate)
    entries = []
    for i in range(count):
        wav, feature, coarse, hz = (
            folder / f"s_{i}{suffix}" for suffix in (".wav", ".npy", ".coarse.npy", ".hz.npy")
        )
        write_wav(wav, 0.1 * rng.standard_normal(n), sample_rate)
        frames = (n * FEATURE_RATE // sample_rate - 400) // 320 + 1  # HuBERT's
        np.save(feature, rng.standard_normal((frames, FEATURE_DIMS["v1"])).astype(np.float32))
        np.save(coarse, rng.integers(1, 256, n * FEATURE_RATE // sample_rate // HOP))
        np.save(hz, rng.uniform(80, 400, n * FEATURE_RATE // sample_rate // HOP))
        entries.append(FilelistEntry(wav, feature, coarse, hz, 0))
    return entries


def seconds_per_step(hparams: dict, batch_size: int, steps: int, folder: Path) -> tuple[float, float, int]:
    """(mean seconds per step, of which data loading, generator parameters)."""
    torch.manual_seed(0)
    settings = StepSettings.from_hparams(hparams)  # fp32
    dataset = SegmentDataset(
        write_segments(folder, hparams["data"]["sampling_rate"], batch_size), settings.mel, FEATURE_DIMS["v1"]
    )
    net_g = build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True)
    net_d = build_discriminator(hparams, "v1")
    optim_g, optim_d = rvc_optimizer(net_g, hparams), rvc_optimizer(net_d, hparams)
    total = loading = 0.0
    for step in range(steps + 1):
        start = time.perf_counter()
        batch = collate([dataset[i] for i in range(batch_size)])
        loaded = time.perf_counter()
        train_step(net_g, net_d, optim_g, optim_d, batch, settings)
        if step:  # step 0 warms up allocators and kernels
            total += time.perf_counter() - start
            loading += loaded - start
    return total / steps, loading / steps, sum(p.numel() for p in net_g.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"training step on CPU, batch {args.batch_size} of {SECONDS} s segments, {args.threads} torch threads, "
        f"{args.steps} timed steps after 1 warm-up"
    )
    results = {}
    for name, hparams in (("tiny 40k", tiny_hparams(40000)), ("RVC v1 40k", rvc_hparams(40000, "v1"))):
        with tempfile.TemporaryDirectory() as tmp:
            step, loading, params = seconds_per_step(hparams, args.batch_size, args.steps, Path(tmp))
        results[name] = step
        print(
            f"{name:>11}: {step:7.3f} s/step (data loading {loading * 1000:.1f} ms), G {params / 1e6:.2f} M parameters"
        )
    ratio = results["RVC v1 40k"] / results["tiny 40k"]
    print(f"ratio RVC v1 40k / tiny: {ratio:.1f}x")


if __name__ == "__main__":
    main()
