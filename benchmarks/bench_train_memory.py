"""Memory and time of a training step: plain vs gradient checkpointing (and, on a GPU, precisions and
the out-of-memory snapshot).

RVC's v1 40k model, batch 2 of 3.7 s segments. Each variant runs in its own process: on the CPU
its peak resident memory (ru_maxrss, so model, optimiser state and Python included: a proxy that
understates the activations' share) and the bytes of activations the generator's forward keeps
for the backward pass (exact); on CUDA torch's peak allocated memory.
Usage: python benchmarks/bench_train_memory.py [--device cuda] [--steps N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench_train import write_segments
from rvc_pipeline.training.data import SegmentDataset, collate
from rvc_pipeline.layout import FEATURE_DIMS
from rvc_pipeline.models import (
    ModelConfig,
    StepSettings,
    build_discriminator,
    build_synthesizer,
    rvc_hparams,
    rvc_optimizer,
    train_step,
)
from rvc_pipeline.training.out_of_memory import DiscriminatorSnapshot

VARIANTS = {  # name: (checkpointing, precision, snapshot)
    "plain fp32": (False, "fp32", False),
    "checkpointing fp32": (True, "fp32", False),
}
CUDA_VARIANTS = {
    "plain fp32 + OOM snapshot": (False, "fp32", True),
    "plain bf16": (False, "bf16", False),
    "plain fp16": (False, "fp16", False),
    "checkpointing bf16": (True, "bf16", False),
}


def _child(device: str, steps: int, batch_size: int, checkpointing: bool, precision: str, snapshot: bool) -> dict:
    torch.manual_seed(0)
    hparams = rvc_hparams(40000, "v1")
    settings = dataclasses.replace(
        StepSettings.from_hparams(hparams), fp16=precision == "fp16", bf16=precision == "bf16"
    )
    with tempfile.TemporaryDirectory() as tmp:
        entries = write_segments(Path(tmp), 40000, batch_size)
        dataset = SegmentDataset(entries, settings.mel, FEATURE_DIMS["v1"])
        batch = collate([dataset[i] for i in range(batch_size)]).to(device)
    net_g = build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True).to(device)
    net_g.use_checkpointing(checkpointing)
    net_d = build_discriminator(hparams, "v1").to(device)
    optim_g, optim_d = rvc_optimizer(net_g, hparams), rvc_optimizer(net_d, hparams)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=settings.fp16)
    hook = DiscriminatorSnapshot(net_d, optim_d).take if snapshot else None

    saved = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast(torch.device(device).type, dtype=settings.autocast_dtype, enabled=precision != "fp32"):
            net_g(batch.phone, batch.phone_lengths, batch.pitch, batch.pitchf, batch.spec, batch.spec_lengths, batch.sid)
    net_g.zero_grad(set_to_none=True)

    total = 0.0
    for step in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_step(net_g, net_d, optim_g, optim_d, batch, settings, scaler, before_d_update=hook)
        if device == "cuda":
            torch.cuda.synchronize()
        if step:  # step 0 warms up allocators and kernels
            total += time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {"seconds": total / steps, "peak": peak, "activations": saved[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.device, args.steps, args.batch_size, *{**VARIANTS, **CUDA_VARIANTS}[args.child])))
        return
    variants = {**VARIANTS, **(CUDA_VARIANTS if args.device == "cuda" else {})}
    peak_kind = "peak allocated (torch)" if args.device == "cuda" else "peak RSS (ru_maxrss, whole process)"
    print(f"training step of RVC v1 40k on {args.device}, batch {args.batch_size}, {args.steps} timed steps after 1")
    results = {}
    for name in variants:
        cmd = [sys.executable, __file__, "--child", name, "--device", args.device]
        cmd += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[name] = r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{name:>26}: {r['seconds']:7.3f} s/step, {peak_kind} {r['peak'] / 2**30:6.2f} GiB, "
            f"G activations kept {r['activations'] / 2**20:8.1f} MiB"
        )
    base = results["plain fp32"]
    for name, r in results.items():
        if name != "plain fp32":
            print(
                f"{name} / plain fp32: time {r['seconds'] / base['seconds']:.2f}x, peak {r['peak'] / base['peak']:.2f}x, "
                f"G activations {r['activations'] / base['activations']:.3f}x"
            )


if __name__ == "__main__":
    main()
