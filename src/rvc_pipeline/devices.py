"""Which torch device a job runs on, and the guard that stops a GPU job on a machine without one.

Imported when Snakemake parses the workflow, so torch is imported only inside ``require_device``
(that is, inside the job, on the machine that runs it).
"""

from __future__ import annotations

import os
import socket

# Every job runs on this torch device whatever its resources ask, e.g. ``cpu`` on a test cluster
# whose GPUs are declared to SLURM but do not exist: the jobs still ask SLURM for a GPU.
DEVICE_OVERRIDE = "RVC_PIPELINE_DEVICE"

# The rule that runs the pitch methods of the job's device (pitch.registry routes them to it).
DEVICE_PITCH_RULE = "extract_f0_device"
# The rules whose jobs run on the job's device; train_model first: training on the CPU is the costly one.
GPU_RULES = ("train_model", "extract_features", DEVICE_PITCH_RULE)

FIX_NO_CUDA_BUILD = (
    "install a CUDA (or ROCm) build of torch (https://pytorch.org/get-started/locally/), "
    "or run without GPUs (no --set-resources …:gpu=…; the SLURM profile asks for them: "
    "--set-resources "
    + " ".join(f"{rule}:gpu=0" for rule in GPU_RULES)
    + ")"
)
FIX_NO_DEVICE = (
    "check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or that the cluster gave the job a "
    "GPU (a GPU partition: RVC_SLURM_GPU_PARTITION)"
)


class DeviceUnavailable(RuntimeError):
    """A job was given a device this machine's torch cannot use; the message says how to fix it."""


def job_device(gpus: int) -> str:
    """Torch device of a job with ``gpus`` GPUs in its resources: a GPU only when it asks for one
    (``$RVC_PIPELINE_DEVICE``, when set, instead)."""
    return os.environ.get(DEVICE_OVERRIDE) or ("cuda" if gpus else "cpu")


def require_device(device: str) -> None:
    """Raise DeviceUnavailable (one line: what is missing and how to fix it) when ``device`` is a
    CUDA device and torch here cannot use one; the CPU always passes.

    Called first thing by every job function that takes ``device=``, so a GPU job on a CPU-only
    node stops before loading anything rather than deep inside torch (``AssertionError: Torch
    not compiled with CUDA enabled``).
    """
    if not str(device).startswith("cuda"):
        return
    import torch

    if torch.cuda.is_available():
        return
    host = socket.gethostname()
    if torch.version.cuda is None and torch.version.hip is None:
        raise DeviceUnavailable(
            f"this job was given a GPU, but torch {torch.__version__} on {host} is a CPU-only "
            f"build: {FIX_NO_CUDA_BUILD}"
        )
    raise DeviceUnavailable(
        f"this job was given a GPU, but torch {torch.__version__} on {host} sees no GPU: {FIX_NO_DEVICE}"
    )
