"""Checks of this machine: Python, torch's build, the GPUs, the audio decoders, the pretrained files.

Each check returns ``Check`` rows; heavy modules (torch, av) are imported inside the checks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "FAIL"
MIN_PYTHON = (3, 11)  # pyproject's requires-python
# Recordings users bring, as (extension, container, encoder); each is encoded here and decoded
# back through the pipeline's own decoder.
AUDIO_FORMATS = (
    ("wav", "wav", "pcm_s16le"),
    ("flac", "flac", "flac"),
    ("mp3", "mp3", "libmp3lame"),
    ("ogg", "ogg", "libopus"),
    ("m4a", "ipod", "aac"),
)
# Their decoders, to check when a format cannot be encoded here (no encoder in this ffmpeg).
AUDIO_DECODERS = {"wav": "pcm_s16le", "flac": "flac", "mp3": "mp3float", "ogg": "vorbis", "m4a": "aac"}


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table: ``status`` is ok, warn (works, but see detail) or FAIL."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class Gpu:
    """What the doctor reports of one GPU torch can use."""

    index: int
    name: str
    memory_gib: float
    capability: tuple[int, int]


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("Python", FAIL, f"{version}; rvc-pipeline needs {'.'.join(map(str, MIN_PYTHON))} or newer")
    return Check("Python", OK, f"{version} ({sys.executable})")


def torch_build() -> str:
    """ "CUDA 12.4", "ROCm 6.2" or "CPU only": what this torch was compiled for."""
    import torch

    if torch.version.cuda:
        return f"CUDA {torch.version.cuda}"
    if torch.version.hip:
        return f"ROCm {torch.version.hip}"
    return "CPU only"


def check_torch() -> Check:
    import torch

    return Check("torch", OK, f"{torch.__version__}, {torch_build()} build")


def gpus() -> list[Gpu]:
    """The GPUs torch can use here (none with a CPU-only build or without a driver)."""
    import torch

    if not torch.cuda.is_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        found.append(Gpu(index, props.name, props.total_memory / 2**30, (props.major, props.minor)))
    return found


def run_tool(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess | None:
    """``cmd``'s completed process, or None when it is not installed or does not answer."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def visible_gpu_hardware() -> list[str]:
    """GPUs the vendor tools list (``nvidia-smi -L``, ``rocm-smi``), whatever torch can use."""
    for cmd in (["nvidia-smi", "-L"], ["rocm-smi", "--showproductname"]):
        done = run_tool(cmd)
        if done is not None and done.returncode == 0:
            return [line.strip() for line in done.stdout.splitlines() if line.strip().startswith(("GPU", "Card"))]
    return []


def has_kernels(arches: set[str], capability: tuple[int, int]) -> bool:
    """Whether a CUDA build for ``arches`` (``torch.cuda.get_arch_list()``) runs on a GPU of
    ``capability``: a binary of the same major and no higher minor, or PTX of no higher
    capability that the driver compiles. Without either, the first kernel fails."""
    for arch in arches:
        kind, _, number = arch.partition("_")
        if not number.isdigit():
            continue  # e.g. sm_90a: architecture-specific, runs on that capability only
        built = (int(number[:-1]), int(number[-1]))
        if (kind == "sm" and built[0] == capability[0] and built[1] <= capability[1]) or (
            kind == "compute" and built <= capability
        ):
            return True
    return False


def check_gpus(found: list[Gpu]) -> list[Check]:
    """One row per GPU torch can use; with none, one row saying so (a warning only when the
    machine has a GPU that this torch cannot use)."""
    if not found:
        hardware = visible_gpu_hardware()
        if hardware:
            return [
                Check(
                    "GPU",
                    WARN,
                    f"{hardware[0]} is present, but torch ({torch_build()}) cannot use it: "
                    "install a torch build for it (https://pytorch.org/get-started/locally/)",
                )
            ]
        return [Check("GPU", OK, "none: jobs and training run on the CPU (no GPU self-test)")]
    import torch

    arches = set(torch.cuda.get_arch_list())
    rows = []
    for gpu in found:
        major, minor = gpu.capability
        detail = f"{gpu.name}, {gpu.memory_gib:.1f} GiB, compute capability {major}.{minor}"
        if torch.version.cuda and arches and not has_kernels(arches, gpu.capability):
            rows.append(
                Check(
                    f"GPU {gpu.index}",
                    FAIL,
                    f"{detail}: this torch has no kernels for it "
                    f"(built for {', '.join(sorted(arches))}); install a newer torch build",
                )
            )
        else:
            rows.append(Check(f"GPU {gpu.index}", OK, detail))
    return rows


def _encode_tone(path: Path, container_format: str, codec: str, sr: int = 44100, seconds: float = 0.5) -> None:
    import av
    import numpy as np

    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(sr * seconds)) / sr)).astype(np.float32)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sr if codec != "libopus" else 48000, layout="mono")
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="flt", layout="mono")
        frame.sample_rate = sr
        resampler = av.AudioResampler(
            format=fmt, layout="mono", rate=stream.rate, frame_size=stream.codec_context.frame_size or None
        )
        for out in [*resampler.resample(frame), *resampler.resample(None), None]:
            container.mux(stream.encode(out))


def _decodes(ext: str, container_format: str, codec: str, folder: Path) -> str:
    """ "" when a tone encoded as ``ext`` decodes back through the pipeline's decoder; otherwise
    what went wrong. Formats this ffmpeg cannot encode are judged by their decoder alone."""
    import av

    from rvc_pipeline.audio import decode_audio

    path = folder / f"tone.{ext}"
    try:
        _encode_tone(path, container_format, codec)
    except (av.FFmpegError, ValueError):
        try:
            av.codec.Codec(AUDIO_DECODERS[ext], "r")
        except (av.FFmpegError, ValueError):
            return f"no {AUDIO_DECODERS[ext]} decoder"
        return ""
    try:
        decoded = decode_audio(path, 16000)
    except ValueError as err:
        return str(err).replace(str(path), ext)
    if len(decoded.samples) < 0.4 * 16000 or float(abs(decoded.samples).max()) < 0.1:
        return f"decoded {len(decoded.samples) / 16000:.2f} s, peak {float(abs(decoded.samples).max()):.2f}"
    return ""


def check_decoders() -> Check:
    """PyAV (ffmpeg) decodes each format users bring: a tone in each, decoded by the pipeline."""
    import av

    with tempfile.TemporaryDirectory() as folder:
        problems = {ext: _decodes(ext, fmt, codec, Path(folder)) for ext, fmt, codec in AUDIO_FORMATS}
    broken = {ext: why for ext, why in problems.items() if why}
    working = " ".join(ext for ext in problems if ext not in broken)
    if broken:
        # wav is what every later stage reads; without it nothing works.
        status = FAIL if "wav" in broken else WARN
        why = "; ".join(f"{ext}: {reason}" for ext, reason in broken.items())
        return Check("decoders", status, f"PyAV {av.__version__}: {working or 'nothing'} decode; {why}")
    return Check("decoders", OK, f"PyAV {av.__version__}: {working} decode")


def _is_hubert(path: str, key: str | None, role: str) -> bool:
    return "hubert" in f"{path} {key or ''} {role}".lower()


def check_pretrained(config: dict) -> list[Check]:
    """The pretrained files the configured experiments use, as ``pretrained verify`` sees them.

    A missing HuBERT is a warning (the stand-in runs, though its voices are unusable); other
    files the config needs and that are missing or unusable fail.
    """
    from rvc_pipeline.pretrained.verify import verify_config

    rows = []
    for asset in verify_config(config):
        name = f"pretrained {asset.role}"
        where = asset.path
        if asset.status == "official":
            rows.append(Check(name, OK, f"{where}: RVC's file (sha256 {asset.sha256[:12]}…)"))
        elif asset.status == "custom":
            rows.append(Check(name, OK, f"{where}: custom file, loads and fits ({asset.reason})"))
        elif asset.status == "missing" and _is_hubert(asset.path, asset.key, asset.role):
            rows.append(
                Check(
                    name,
                    WARN,
                    f"{where}: missing; a random stand-in runs instead and its voice "
                    "models are unusable (rvc-pipeline pretrained fetch)",
                )
            )
        else:
            status = FAIL if asset.required else WARN
            fix = " (rvc-pipeline pretrained fetch)" if asset.status == "missing" else ""
            rows.append(Check(name, status, f"{where}: {asset.status}: {asset.reason}{fix}"))
    return rows
