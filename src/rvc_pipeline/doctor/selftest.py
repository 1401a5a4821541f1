"""The GPU self-test: the configured model's training step, HuBERT and RMVPE on the GPU against
the CPU, with the same seed and inputs, and the GPU's training steps per second.

Tolerances (docs/doctor.md): in fp32 with TF32 off, a GPU and a CPU differ only by rounding
(the same sums in another order). Measured as fp32 against fp64, that is at most 5.4e-6 relative
L2 on these outputs for RVC's v2 model; a wrong kernel, a faulty card or TF32 left on (10-bit
mantissa) gives 1e-3 or more. Each output must agree to a relative L2 error of 1e-3, and its
largest single difference must stay under an absolute bound set by the output's scale, which
catches a few corrupted elements that the L2 norm would average away.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from rvc_pipeline.layout import FEATURE_DIMS, FEATURE_RATE, SAMPLE_RATES
from rvc_pipeline.models import (
    ModelConfig,
    StepSettings,
    TrainBatch,
    build_discriminator,
    build_synthesizer,
    rvc_optimizer,
    train_step,
)
from rvc_pipeline.training.inputs import experiment_hparams

SEED = 1234
RTOL = 1e-3
# Largest difference allowed per output, by its scale: the waveform lies in [-1, 1], the log mel
# within about [-11.5, 3], the losses between 0.1 and 100, HuBERT's features within about ±10,
# RMVPE's salience in [0, 1].
ATOL = {
    "train step: waveform": 1e-2,
    "train step: log mel": 1e-2,
    "train step: losses": 5e-2,
    "HuBERT: features": 1e-2,
    "RMVPE: salience": 1e-3,
}
SPEED_SECONDS = 10.0
SEGMENT_SECONDS = 3.7  # the segments preprocessing cuts, what a training batch holds

Outputs = dict[str, torch.Tensor | np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """One output on two devices: largest absolute difference, relative L2 error, and the verdict."""

    name: str
    max_abs: float
    rel_err: float
    rtol: float
    atol: float
    passed: bool

    def detail(self) -> str:
        bounds = f"max |diff| {self.max_abs:.2e} (≤ {self.atol:.0e})"
        return f"{bounds}, relative L2 {self.rel_err:.2e} (≤ {self.rtol:.0e})"


def _flat(values: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]) -> torch.Tensor:
    """All values as one float64 CPU vector (a sequence is concatenated)."""
    if isinstance(values, (torch.Tensor, np.ndarray)):
        values = [values]
    return torch.cat(
        [
            torch.as_tensor(np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)).double().reshape(-1)
            for v in values
        ]
    )


def compare_outputs(
    cpu: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    gpu: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    rtol: float,
    atol: float,
    name: str = "",
) -> Comparison:
    """Compare ``gpu`` against the reference ``cpu``: pass when every value is finite, the
    relative L2 error ‖gpu − cpu‖ / ‖cpu‖ is at most ``rtol`` and the largest absolute
    difference at most ``atol``. Shapes must match (a sequence compares element by element)."""
    shapes = [tuple(np.shape(v)) for v in (cpu if isinstance(cpu, (list, tuple)) else [cpu])]
    other = [tuple(np.shape(v)) for v in (gpu if isinstance(gpu, (list, tuple)) else [gpu])]
    if shapes != other:
        raise ValueError(f"{name or 'outputs'}: shapes differ, {shapes} against {other}")
    ref, out = _flat(cpu), _flat(gpu)
    if not (torch.isfinite(ref).all() and torch.isfinite(out).all()):
        return Comparison(name, math.inf, math.inf, rtol, atol, False)
    diff = out - ref
    max_abs = float(diff.abs().max()) if diff.numel() else 0.0
    norm = float(torch.linalg.vector_norm(ref))
    rel_err = float(torch.linalg.vector_norm(diff)) / norm if norm else (0.0 if max_abs == 0 else math.inf)
    return Comparison(name, max_abs, rel_err, rtol, atol, rel_err <= rtol and max_abs <= atol)


@contextlib.contextmanager
def cpu_noise(seed: int) -> Iterator[None]:
    """Draw the model's noise (``torch.rand``, ``torch.randn_like``: slice starts, NSF phase and
    noise, the posterior's sample) from one seeded CPU generator, then move it to the device.

    CUDA's generator gives other numbers than the CPU's for the same seed, so without this the
    two devices would train on different noise. Patches torch for the duration (this process).
    """
    generator = torch.Generator().manual_seed(seed)
    rand, randn_like = torch.rand, torch.randn_like

    def _rand(*size, device=None, dtype=None, **_):
        shape = size[0] if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)) else size
        return rand(*shape, generator=generator, dtype=dtype).to(device or "cpu")

    def _randn_like(tensor, **_):
        # Drawn in float32 whatever the tensor's type, so the numbers do not depend on it.
        return torch.randn(tensor.shape, generator=generator).to(tensor.device, tensor.dtype)

    torch.rand, torch.randn_like = _rand, _randn_like
    try:
        yield
    finally:
        torch.rand, torch.randn_like = rand, randn_like


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """TF32 off for matrix products and cuDNN convolutions (cuDNN's is on by default)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@dataclass(frozen=True)
class ModelSetup:
    """The configured model the self-test trains: its size (rvc or tiny), config.json values,
    version, pitch guidance, and the training's batch size and precision."""

    model: str
    hparams: dict
    version: str
    f0: bool
    batch_size: int
    precision: str

    @classmethod
    def from_config(cls, config: dict) -> ModelSetup:
        """The first experiment's model as the config trains it (rate, version, pitch; tiny or rvc)."""
        experiment = next(iter(config["experiments"].values()))
        rate = SAMPLE_RATES[experiment.get("sample_rate", "40k")]
        version = experiment.get("version", "v1")
        train = config.get("train", {})
        model = train.get("model", "rvc")
        return cls(
            model,
            experiment_hparams(model, rate, version),
            version,
            bool(experiment.get("f0", True)),
            int(train.get("batch_size", 4)),
            train.get("precision", "fp32"),
        )

    def describe(self) -> str:
        rate = self.hparams["data"]["sampling_rate"] // 1000
        return f"{self.model} {self.version} {rate}k{'' if self.f0 else ' no-f0'}"


def synthetic_batch(setup: ModelSetup, frames: Sequence[int], seed: int) -> TrainBatch:
    """A zero-padded batch of seeded noise with the given frame counts, collated as RVC does."""
    h = setup.hparams
    gen = torch.Generator().manual_seed(seed)
    hop = h["data"]["hop_length"]
    lengths = torch.tensor(list(frames))
    t_max = int(lengths.max())
    mask = (torch.arange(t_max) < lengths[:, None]).float()
    wave = 0.1 * torch.randn(len(frames), 1, t_max * hop, generator=gen) * mask.repeat_interleave(hop, 1)[:, None]
    spec = StepSettings.from_hparams(h).mel.spectrogram(wave[:, 0])
    return TrainBatch(
        phone=torch.randn(len(frames), t_max, FEATURE_DIMS[setup.version], generator=gen) * mask[..., None],
        phone_lengths=lengths,
        pitch=(torch.randint(1, 256, (len(frames), t_max), generator=gen) * mask).long() if setup.f0 else None,
        pitchf=(100 + 200 * torch.rand(len(frames), t_max, generator=gen)) * mask if setup.f0 else None,
        spec=spec * mask[:, None, :],
        spec_lengths=lengths,
        wave=wave,
        wave_lengths=lengths * hop,
        sid=torch.zeros(len(frames), dtype=torch.long),
    )


def _networks(setup: ModelSetup, device: str, seed: int):
    torch.manual_seed(seed)
    net_g = build_synthesizer(ModelConfig.from_hparams(setup.hparams), setup.version, setup.f0).to(device)
    net_d = build_discriminator(setup.hparams, setup.version).to(device)
    return net_g, net_d, rvc_optimizer(net_g, setup.hparams), rvc_optimizer(net_d, setup.hparams)


def train_step_outputs(setup: ModelSetup, device: str, seed: int = SEED) -> Outputs:
    """Two fp32 training steps from seeded weights on a seeded batch; the second step's outputs,
    so the first step's optimiser update is part of what is compared."""
    net_g, net_d, optim_g, optim_d = _networks(setup, device, seed)
    settings = replace(StepSettings.from_hparams(setup.hparams), fp16=False, bf16=False)
    segment = settings.segment_size // settings.mel.hop_length
    batch = synthetic_batch(setup, [2 * segment, segment + segment // 4], seed).to(device)
    with cpu_noise(seed):
        train_step(net_g, net_d, optim_g, optim_d, batch, settings)
        result = train_step(net_g, net_d, optim_g, optim_d, batch, settings)
    losses = [result.loss_disc, result.loss_gen, result.loss_fm, result.loss_mel, result.loss_kl]
    return {
        "train step: waveform": result.y_hat,
        "train step: log mel": result.y_hat_mel,
        "train step: losses": torch.tensor(losses),
    }


def probe_signal(seconds: float, seed: int = SEED) -> np.ndarray:
    """A seeded 16 kHz signal with voice-like content: a 150 Hz harmonic tone plus a little noise."""
    t = np.arange(int(seconds * FEATURE_RATE)) / FEATURE_RATE
    tone = sum(0.2 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 8))
    return (tone + 0.01 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def hubert_outputs(config: dict, version: str, device: str) -> Outputs:
    """Features of the test signal from the configured HuBERT (its stand-in when the file is missing)."""
    from rvc_pipeline.features.hubert import load_hubert

    pretrained = config.get("pretrained", {})
    weights = pretrained.get("hubert")
    model = load_hubert(
        weights if weights and os.path.exists(weights) else None, device, pretrained.get("hubert_standin", "base")
    )
    return {"HuBERT: features": model.extract(probe_signal(2.0), version)}


def rmvpe_outputs(weights: str, device: str) -> Outputs:
    from rvc_pipeline.pitch.rmvpe import load_rmvpe

    return {"RMVPE: salience": load_rmvpe(weights, device).salience(probe_signal(2.0))}


def probes(config: dict, setup: ModelSetup) -> dict[str, Callable[[str], Outputs]]:
    """What the self-test runs on each device, by name: the training step, HuBERT, and RMVPE
    when its weights are there (it has no stand-in)."""
    runs = {
        f"train step ({setup.describe()})": lambda device: train_step_outputs(setup, device),
        "HuBERT forward": lambda device: hubert_outputs(config, setup.version, device),
    }
    rmvpe = config.get("pretrained", {}).get("rmvpe")
    if rmvpe and os.path.isfile(rmvpe):
        runs["RMVPE forward"] = lambda device: rmvpe_outputs(rmvpe, device)
    return runs


def compare_devices(
    runs: dict[str, Callable[[str], Outputs]], devices: Sequence[str], reference: str = "cpu"
) -> dict[str, list[Comparison]]:
    """Run each probe on ``reference`` once and on each of ``devices``, in exact fp32, and
    compare every output: the comparisons by device."""
    comparisons: dict[str, list[Comparison]] = {device: [] for device in devices}
    with exact_fp32():
        for run in runs.values():
            expected = run(reference)
            for device in devices:
                actual = run(device)
                for name, value in expected.items():
                    comparisons[device].append(compare_outputs(value, actual[name], RTOL, ATOL[name], name))
    return comparisons


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def steps_per_second(setup: ModelSetup, device: str, seconds: float = SPEED_SECONDS) -> float:
    """Training steps per second on ``device`` at the configured batch size and precision, on
    segments of preprocessing's length (after two warm-up steps)."""
    net_g, net_d, optim_g, optim_d = _networks(setup, device, SEED)
    amp = setup.precision if device.startswith("cuda") else "fp32"
    settings = replace(StepSettings.from_hparams(setup.hparams), fp16=amp == "fp16", bf16=amp == "bf16")
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=settings.fp16)
    frames = int(SEGMENT_SECONDS * setup.hparams["data"]["sampling_rate"] / setup.hparams["data"]["hop_length"])
    batch = synthetic_batch(setup, [frames] * setup.batch_size, SEED).to(device)
    for _ in range(2):
        train_step(net_g, net_d, optim_g, optim_d, batch, settings, scaler)
    _synchronize(device)
    start, steps = time.perf_counter(), 0
    while steps < 3 or time.perf_counter() - start < seconds:
        train_step(net_g, net_d, optim_g, optim_d, batch, settings, scaler)
        _synchronize(device)
        steps += 1
    return steps / (time.perf_counter() - start)
