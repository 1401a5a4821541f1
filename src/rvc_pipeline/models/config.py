"""RVC's hyper-parameters (config.json sections) and the synthesiser's explicit config.

`rvc_hparams` reproduces RVC's shipped `configs/{v1,v2}/{32k,40k,48k}.json`;
`ModelConfig` replaces RVC's 18-element positional list (the exported model's `config`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rvc_pipeline.layout import FEATURE_DIMS

VERSIONS = tuple(FEATURE_DIMS)

# RVC writes this literal as the segment size of an exported model; inference never uses it.
EXPORT_SEGMENT_PLACEHOLDER = 32

# sample rate -> (filter_length = win_length, hop_length, n_mel_channels)
_DATA = {32000: (1024, 320, 80), 40000: (2048, 400, 125), 48000: (2048, 480, 128)}
# (version, sample rate) -> (upsample_rates, upsample_kernel_sizes, train.segment_size in samples);
# v2 40k has no file of its own: RVC uses v1/40k.json for it.
_DECODER = {
    ("v1", 32000): ((10, 4, 2, 2, 2), (16, 16, 4, 4, 4), 12800),
    ("v1", 40000): ((10, 10, 2, 2), (16, 16, 4, 4), 12800),
    ("v1", 48000): ((10, 6, 2, 2, 2), (16, 16, 4, 4, 4), 11520),
    ("v2", 32000): ((10, 8, 2, 2), (20, 16, 4, 4), 12800),
    ("v2", 40000): ((10, 10, 2, 2), (16, 16, 4, 4), 12800),
    ("v2", 48000): ((12, 10, 2, 2), (24, 20, 4, 4), 17280),
}


def check_version(version: str) -> str:
    """Return ``version`` if it is "v1" or "v2", else raise a ValueError saying so."""
    if version not in VERSIONS:
        raise ValueError(f"unknown RVC version {version!r}: expected one of {VERSIONS}")
    return version


def _check_sample_rate(sample_rate: int) -> int:
    if sample_rate not in _DATA:
        raise ValueError(
            f"unsupported sample rate {sample_rate!r}: expected one of {sorted(_DATA)}"
        )
    return sample_rate


def rvc_hparams(sample_rate: int, version: str) -> dict[str, Any]:
    """RVC's config.json for ``sample_rate`` (32000/40000/48000) and ``version`` ("v1"/"v2").

    A fresh dict each call (train, data and model sections), with RVC's shipped values including
    ``fp16_run: true``; RVC rewrites that to false on CPUs, which is the caller's decision.
    """
    rates, kernels, segment = _DECODER[(check_version(version), _check_sample_rate(sample_rate))]
    n_fft, hop, n_mels = _DATA[sample_rate]
    return {
        "train": {
            "log_interval": 200,
            "seed": 1234,
            "epochs": 20000,
            "learning_rate": 1e-4,
            "betas": [0.8, 0.99],
            "eps": 1e-9,
            "batch_size": 4,
            "fp16_run": True,
            "lr_decay": 0.999875,
            "segment_size": segment,
            "init_lr_ratio": 1,
            "warmup_epochs": 0,
            "c_mel": 45,
            "c_kl": 1.0,
        },
        "data": {
            "max_wav_value": 32768.0,
            "sampling_rate": sample_rate,
            "filter_length": n_fft,
            "hop_length": hop,
            "win_length": n_fft,
            "n_mel_channels": n_mels,
            "mel_fmin": 0.0,
            "mel_fmax": None,
        },
        "model": {
            "inter_channels": 192,
            "hidden_channels": 192,
            "filter_channels": 768,
            "n_heads": 2,
            "n_layers": 6,
            "kernel_size": 3,
            "p_dropout": 0,
            "resblock": "1",
            "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "upsample_rates": list(rates),
            "upsample_initial_channel": 512,
            "upsample_kernel_sizes": list(kernels),
            "use_spectral_norm": False,
            "gin_channels": 256,
            "spk_embed_dim": 109,
        },
    }


def tiny_hparams(sample_rate: int) -> dict[str, Any]:
    """A config.json dict like RVC's v1 one at ``sample_rate``, with a tiny model (tests, demo).

    Same classes and data settings; narrow layers so a CPU training step on a batch of four
    32-frame segments takes a fraction of a second. ``model.discriminator_channel_div`` (absent
    from RVC's files, where it is 1) narrows the discriminator likewise; RVC's loaders ignore it.
    """
    h = rvc_hparams(sample_rate, "v1")
    h["train"]["fp16_run"] = False
    h["model"].update(
        inter_channels=16,
        hidden_channels=32,
        filter_channels=64,
        n_layers=2,
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3, 5]],
        upsample_initial_channel=64,
        gin_channels=32,
        discriminator_channel_div=16,
    )
    return h


@dataclass(frozen=True)
class ModelConfig:
    """Everything the synthesiser's shape depends on: RVC's exported `config` list, by name.

    ``segment_size`` is the training slice in frames (train.segment_size // hop_length); an
    exported model carries RVC's placeholder 32 there instead.
    """

    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    spk_embed_dim: int
    gin_channels: int
    sampling_rate: int

    def __post_init__(self) -> None:
        # Lists (from JSON) become tuples, so configs compare equal and stay immutable.
        for name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        dilations = tuple(tuple(int(v) for v in d) for d in self.resblock_dilation_sizes)
        object.__setattr__(self, "resblock_dilation_sizes", dilations)
        if self.resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")

    @property
    def hop_length(self) -> int:
        """Output samples per frame: the product of the upsampling rates."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_hparams(cls, h: dict[str, Any]) -> ModelConfig:
        """The config RVC's train.py builds from a config.json dict (train/data/model sections)."""
        try:
            data, model, train = h["data"], h["model"], h["train"]
            return cls(
                spec_channels=data["filter_length"] // 2 + 1,
                segment_size=train["segment_size"] // data["hop_length"],
                sampling_rate=data["sampling_rate"],
                **{name: model[name] for name in _MODEL_KEYS},
            )
        except KeyError as err:
            raise ValueError(f"hyper-parameters lack the key {err}") from None

    def to_export_list(self) -> list[Any]:
        """RVC's exported `config` list (docs/formats.md); the segment slot holds RVC's 32."""
        values = _plain(asdict(self))
        values["segment_size"] = EXPORT_SEGMENT_PLACEHOLDER
        return [values[name] for name in _EXPORT_ORDER]

    @classmethod
    def from_export_list(cls, config: Sequence[Any]) -> ModelConfig:
        """Read an exported model's `config` list (18 values in RVC's order)."""
        if len(config) != len(_EXPORT_ORDER):
            raise ValueError(
                f"an RVC model config list has {len(_EXPORT_ORDER)} values, got {len(config)}"
            )
        return cls(**dict(zip(_EXPORT_ORDER, config, strict=True)))


_MODEL_KEYS = (
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "spk_embed_dim",
    "gin_channels",
)
# RVC's positional order; spk_embed_dim comes before gin_channels there.
_EXPORT_ORDER = ("spec_channels", "segment_size", *_MODEL_KEYS, "sampling_rate")


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively (the exported list is JSON-like)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
