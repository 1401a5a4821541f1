"""RVC-compatible models: synthesiser, discriminator, spectrograms, losses, one training step.

Files by role, as in VITS: `config` (RVC's config.json values, `ModelConfig`), `commons`,
`modules`, `attentions`, `encoders`, `generator` (HiFi-GAN/NSF decoders), `synthesizer`,
`discriminator`, `mel`, `losses`, `train_step`. State-dict keys, order and shapes equal RVC's,
so RVC's pretrained G/D files and exported models load strictly.
"""

from .config import ModelConfig, rvc_hparams, tiny_hparams
from .discriminator import MultiPeriodDiscriminator, build_discriminator
from .synthesizer import (
    Synthesizer,
    SynthesizerNoF0,
    SynthesizerNSF,
    build_synthesizer,
    synthesizer_from_config,
    synthesizer_from_export,
)
from .train_step import (
    StepResult,
    StepSettings,
    TrainBatch,
    grad_norm,
    rvc_optimizer,
    train_step,
)

__all__ = [
    "ModelConfig",
    "MultiPeriodDiscriminator",
    "StepResult",
    "StepSettings",
    "Synthesizer",
    "SynthesizerNSF",
    "SynthesizerNoF0",
    "TrainBatch",
    "build_discriminator",
    "build_synthesizer",
    "grad_norm",
    "rvc_hparams",
    "rvc_optimizer",
    "synthesizer_from_config",
    "synthesizer_from_export",
    "tiny_hparams",
    "train_step",
]
