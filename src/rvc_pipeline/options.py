"""Typed options of the stages, built from the validated config.

Imported by the workflow at every Snakemake start, so it uses the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rvc_pipeline.versions import PREPROCESS_VERSION


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
        names = {"per", "overlap", "highpass", "max_peak", "norm_max", "norm_alpha", "strict", "downmix"}
        return cls(slicer=slicer, **{k: v for k, v in cfg.items() if k in names})
