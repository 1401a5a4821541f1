"""Typed options of the stages, built from the validated config.

Imported by the workflow at every Snakemake start, so it uses the standard library only. The
defaults of the fields the config sets are the schema's (``config/schema.yaml``); a test holds the
two equal (tests/test_config_schema.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from rvc_pipeline.devices import job_device
from rvc_pipeline.versions import PREPROCESS_VERSION, TRAIN_VERSION


@dataclass(frozen=True)
class SlicerParams:
    """RVC's ``Slicer(sr, threshold=-42, min_length=1500, min_interval=400, hop_size=15, max_sil_kept=500)``."""

    threshold_db: float = -42.0
    min_length_ms: int = 1500
    min_interval_ms: int = 400
    hop_ms: int = 15
    max_sil_kept_ms: int = 500


@dataclass(frozen=True)
class PreprocessParams:
    """Numbers of RVC's preprocess; ``per`` is 3.7 s on every device (RVC's CPU-only default is 3.0)."""

    per: float = 3.7
    overlap: float = 0.3
    highpass: str = "lfilter"
    max_peak: float = 2.5
    norm_max: float = 0.9
    norm_alpha: float = 0.75
    clip_level: float = 0.999
    strict: bool = False
    downmix: str = "auto"  # see audio.decode_audio
    slicer: SlicerParams = field(default_factory=SlicerParams)
    # Part of the params Snakemake records, so a change of algorithm reruns slicing.
    algorithm: str = PREPROCESS_VERSION

    @classmethod
    def from_config(cls, cfg: dict) -> PreprocessParams:
        """Build from the validated config's ``preprocess`` section (unknown keys are ignored)."""
        slicer = SlicerParams(**cfg.get("slicer", {}))
        names = {f.name for f in fields(cls)} - {"slicer", "algorithm"}
        return cls(slicer=slicer, **{k: v for k, v in cfg.items() if k in names})

    def flat(self) -> dict[str, Any]:
        """Every setting by name, the slicer's as ``slicer.<name>``."""
        values = asdict(self)
        slicer = values.pop("slicer")
        return {**values, **{f"slicer.{k}": v for k, v in slicer.items()}}

    def recorded(self) -> dict[str, Any]:
        """The settings Snakemake records for the slicing jobs (a dict of numbers and strings, which
        its params trigger compares): those that differ from ``UNRECORDED_PREPROCESS``, sorted."""
        return {k: v for k, v in sorted(self.flat().items()) if UNRECORDED_PREPROCESS.get(k) != v}


# Slicing results made before the settings were recorded (their params held only the rate) were
# made with these values: they stay out of the record, so such results plan no job, and any other
# value, a later algorithm version included, reruns the slicing. A record of the past: a later
# change of a default leaves it as it is; a setting added later joins it at its first default.
UNRECORDED_PREPROCESS = {
    "per": 3.7,
    "overlap": 0.3,
    "highpass": "lfilter",
    "max_peak": 2.5,
    "norm_max": 0.9,
    "norm_alpha": 0.75,
    "clip_level": 0.999,
    "strict": False,
    "downmix": "auto",
    "algorithm": "2",
    "slicer.threshold_db": -42.0,
    "slicer.min_length_ms": 1500,
    "slicer.min_interval_ms": 400,
    "slicer.hop_ms": 15,
    "slicer.max_sil_kept_ms": 500,
}


PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("cpu", "cuda")
# Set by the training job for its machine (``TrainOptions.for_job``), not by the config.
RUNTIME_OPTIONS = frozenset({"device", "num_workers"})
# Options that only say how long or how to run, not what is learnt: changing them continues
# training. Every other option is part of the fingerprint that decides whether old checkpoints
# are superseded (a new option supersedes unless it is listed here).
CONTINUING_OPTIONS = RUNTIME_OPTIONS | {
    "epochs",
    "save_every_epoch",
    "keep_latest_only",
    "log_interval",
    "precision",
    "patience",
    "tensorboard",
    "tf32",
    "checkpointing",
    "export_every",
    "speaker_encoder",
}
# Options added after results existed: ``to_json`` leaves them out at their default, so the
# train_model params of a config that does not use them stay what they were (no rerun).
LATER_OPTIONS = {
    "tf32": True,
    "checkpointing": False,
    "export_every": False,
    "speaker_encoder": None,
    "algorithm": "1",
}
AUTO = "auto"  # batch_size: the largest that a probe on the GPU fits
CPU_AUTO_BATCH_SIZE = 4  # batch_size: auto on a CPU (the schema's default batch size)


@dataclass(frozen=True)
class TrainOptions:
    """What RVC's train.py takes on its command line, plus what makes runs reproducible.

    Built from the validated config (``from_config``); the job sets the runtime fields for its
    machine (``for_job``). ``to_json`` is the one serialised form: the rule's param (Snakemake's
    params trigger records strings, not objects) and the argument of the torchrun children.
    """

    version: str = "v1"
    f0: bool = True
    batch_size: int | str = 4  # per device (RVC multiplies it by the GPU count), or "auto"
    epochs: int = 20  # train until this epoch; a rerun with a larger value trains on
    save_every_epoch: int = 5  # the last epoch is always saved
    keep_latest_only: bool = False  # RVC's G_2333333.pth / D_2333333.pth
    pretrained_g: str | None = None  # RVC's {"model": fp16 state dict}; used on a fresh start
    pretrained_d: str | None = None
    warm_start: str | None = None  # another experiment's state folder: start from its latest G/D
    seed: int = 1234
    precision: str = "fp32"  # "fp16": autocast + GradScaler; "bf16": autocast
    device: str = "cpu"  # runtime: "cpu" or "cuda"
    num_workers: int = 0  # runtime: data-loading worker processes
    log_interval: int = 200  # a per-step log line every this many global steps
    patience: int = 5  # warn of overtraining after this many epochs without a better validation loss
    tensorboard: bool = False  # also write TensorBoard event files (needs the tensorboard package)
    tf32: bool = True  # TF32 matmuls and convolutions on CUDA (Ampere and later)
    checkpointing: bool = False  # recompute the generator's activations in the backward pass
    export_every: bool = False  # a small model weights/{experiment}_e{epoch}_s{step}.pth per saved epoch
    speaker_encoder: str | None = None  # the encoder's weights for the quality columns (None: the default path)
    algorithm: str = TRAIN_VERSION  # the training code's version (versions.py): a new one retrains

    @classmethod
    def from_config(cls, train: dict[str, Any], **experiment: Any) -> TrainOptions:
        """From the validated config's ``train`` section (the keys that are options; the others,
        such as ``model`` or ``export``, belong to other steps) and the experiment's values."""
        names = {f.name for f in fields(cls)} - RUNTIME_OPTIONS
        return cls(**{key: value for key, value in train.items() if key in names}, **experiment)

    def for_job(self, gpus: int, threads: int) -> TrainOptions:
        """These options on the job's machine: CUDA with ``gpus``, else the CPU in fp32 whatever
        ``precision`` says (CPU autocast is slower than fp32 and saves nothing a user needs; the
        tests run it); ``threads - 1`` data-loading workers."""
        return replace(
            self,
            device=job_device(gpus),
            precision=self.precision if gpus else "fp32",
            num_workers=max(0, threads - 1),
        )

    def model_options(self) -> dict[str, Any]:
        """The options that change what is learnt (``CONTINUING_OPTIONS`` left out, and the
        ``LATER_OPTIONS`` at their first value, so states trained before them continue)."""
        return {key: value for key, value in self._recorded().items() if key not in CONTINUING_OPTIONS}

    def to_json(self) -> str:
        """Every field as a JSON object (sorted keys: the same options give the same text), less
        the ``LATER_OPTIONS`` at their first value."""
        return json.dumps(self._recorded(), sort_keys=True)

    def _recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in LATER_OPTIONS or v != LATER_OPTIONS[k]}

    @classmethod
    def from_json(cls, text: str) -> TrainOptions:
        """Options from ``to_json``'s text; fields it leaves out keep their defaults."""
        values = json.loads(text)
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(unknown)}")
        return cls(**values)

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.warm_start and (self.pretrained_g or self.pretrained_d):
            raise ValueError("warm_start and pretrained_g/pretrained_d exclude each other")
        if self.batch_size == AUTO:
            return self._validate_counts(("epochs", "save_every_epoch", "log_interval", "patience"))
        if not isinstance(self.batch_size, int):
            raise ValueError(f"batch_size must be a whole number or {AUTO!r}, got {self.batch_size!r}")
        self._validate_counts(("batch_size", "epochs", "save_every_epoch", "log_interval", "patience"))

    def _validate_counts(self, names: tuple[str, ...]) -> None:
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
