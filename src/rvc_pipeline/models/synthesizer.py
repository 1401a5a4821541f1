"""RVC's synthesiser (VITS with HuBERT content input, speaker embedding, optional NSF pitch).

`SynthesizerNSF` is RVC's SynthesizerTrnMs{256,768}NSFsid, `SynthesizerNoF0` its `_nono`
variant; the phone width (256 for v1, 768 for v2) is the only difference between versions.
State-dict keys, order and shapes equal RVC's, so RVC's pretrained and exported files load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rvc_pipeline.layout import FEATURE_DIMS

from .commons import maybe_checkpoint, rand_slice_segments, slice_segments
from .config import ModelConfig, check_version
from .encoders import PosteriorEncoder, TextEncoder
from .generator import Generator, GeneratorNSF
from .modules import ResidualCouplingBlock

NOISE_SCALE = 0.66666  # RVC's temperature of the prior sample at inference


class Synthesizer(nn.Module):
    """The parts shared by the pitch and no-pitch synthesisers.

    Built without the posterior encoder (``posterior_encoder=False``) it is an inference-only
    model, like RVC's after ``del net_g.enc_q``, and loads an exported model's weights strictly.
    """

    enc_p: TextEncoder
    dec: Generator
    checkpointing = False

    def __init__(
        self, cfg: ModelConfig, version: str, f0: bool, posterior_encoder: bool = True
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.version = check_version(version)
        self.segment_size = cfg.segment_size
        # Attribute order fixes the state-dict order. RVC's is enc_p, dec, enc_q, flow, emb_g;
        # its v2 classes replace enc_p after construction, which moves enc_p to the end.
        enc_p = TextEncoder(cfg, FEATURE_DIMS[version], f0)
        if version == "v1":
            self.enc_p = enc_p
        self.dec = GeneratorNSF(cfg) if f0 else Generator(cfg)
        # The posterior encoder's and the flow's sizes are fixed in RVC, not in config.json.
        if posterior_encoder:
            self.enc_q = PosteriorEncoder(
                cfg.spec_channels,
                cfg.inter_channels,
                cfg.hidden_channels,
                kernel_size=5,
                dilation_rate=1,
                n_layers=16,
                gin_channels=cfg.gin_channels,
            )
        self.flow = ResidualCouplingBlock(
            cfg.inter_channels,
            cfg.hidden_channels,
            kernel_size=5,
            dilation_rate=1,
            n_layers=3,
            gin_channels=cfg.gin_channels,
        )
        self.emb_g = nn.Embedding(cfg.spk_embed_dim, cfg.gin_channels)
        if version == "v2":
            self.enc_p = enc_p

    def use_checkpointing(self, enabled: bool = True) -> None:
        """Gradient checkpointing of the encoders, the flow and the decoder's stages: their
        activations are recomputed in the backward pass (less memory, the same gradients)."""
        self.checkpointing = self.dec.checkpointing = enabled

    def _posterior(
        self, spec: Tensor, spec_lengths: Tensor, g: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Encode the spectrogram, flow it, slice z: (z, m_q, logs_q, y_mask, z_p, z_slice, ids)."""
        if not hasattr(self, "enc_q"):
            raise RuntimeError(
                "this synthesiser was built for inference only (no enc_q): cannot train"
            )
        z, m_q, logs_q, y_mask = maybe_checkpoint(self.checkpointing, self.enc_q, spec, spec_lengths, g=g)
        z_p = maybe_checkpoint(self.checkpointing, self.flow, z, y_mask, g=g)
        z_slice, ids_slice = rand_slice_segments(z, spec_lengths, self.segment_size)
        return z, m_q, logs_q, y_mask, z_p, z_slice, ids_slice

    def _prior_latent(
        self, m_p: Tensor, logs_p: Tensor, x_mask: Tensor, g: Tensor, noise_scale: float
    ) -> tuple[Tensor, Tensor]:
        """Sample the prior at temperature ``noise_scale``, invert the flow: (z_p, z)."""
        z_p = m_p if noise_scale == 0 else m_p + torch.exp(logs_p) * torch.randn_like(m_p) * noise_scale
        z_p = z_p * x_mask
        return z_p, self.flow(z_p, x_mask, g=g, reverse=True)


class SynthesizerNSF(Synthesizer):
    """Synthesiser with pitch: content + coarse pitch in, NSF decoder driven by f0 in Hz."""

    dec: GeneratorNSF

    def __init__(self, cfg: ModelConfig, version: str, posterior_encoder: bool = True) -> None:
        super().__init__(cfg, version, True, posterior_encoder)

    def forward(
        self,
        phone: Tensor,
        phone_lengths: Tensor,
        pitch: Tensor,
        pitchf: Tensor,
        spec: Tensor,
        spec_lengths: Tensor,
        sid: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
        """Training pass -> (o, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q)).

        o [B, 1, segment_size*hop] is decoded from a random ``segment_size``-frame slice of z.
        """
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = maybe_checkpoint(self.checkpointing, self.enc_p, phone, pitch, phone_lengths)
        z, m_q, logs_q, y_mask, z_p, z_slice, ids_slice = self._posterior(spec, spec_lengths, g)
        pitchf = slice_segments(pitchf, ids_slice, self.segment_size)
        o = self.dec(z_slice, pitchf, g=g)
        return o, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q)

    def infer(
        self,
        phone: Tensor,
        phone_lengths: Tensor,
        pitch: Tensor,
        pitchf: Tensor,
        sid: Tensor,
        noise_scale: float = NOISE_SCALE,
    ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Conversion -> (o [B, 1, T*hop], x_mask, (z, z_p, m_p, logs_p))."""
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, pitch, phone_lengths)
        z_p, z = self._prior_latent(m_p, logs_p, x_mask, g, noise_scale)
        o = self.dec(z * x_mask, pitchf, g=g)
        return o, x_mask, (z, z_p, m_p, logs_p)


class SynthesizerNoF0(Synthesizer):
    """Synthesiser without pitch: content in, plain HiFi-GAN decoder."""

    def __init__(self, cfg: ModelConfig, version: str, posterior_encoder: bool = True) -> None:
        super().__init__(cfg, version, False, posterior_encoder)

    def forward(
        self, phone: Tensor, phone_lengths: Tensor, spec: Tensor, spec_lengths: Tensor, sid: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
        """Training pass -> (o, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q))."""
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = maybe_checkpoint(self.checkpointing, self.enc_p, phone, None, phone_lengths)
        z, m_q, logs_q, y_mask, z_p, z_slice, ids_slice = self._posterior(spec, spec_lengths, g)
        o = self.dec(z_slice, g=g)
        return o, ids_slice, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q)

    def infer(
        self, phone: Tensor, phone_lengths: Tensor, sid: Tensor, noise_scale: float = NOISE_SCALE
    ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Conversion -> (o [B, 1, T*hop], x_mask, (z, z_p, m_p, logs_p))."""
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, x_mask = self.enc_p(phone, None, phone_lengths)
        z_p, z = self._prior_latent(m_p, logs_p, x_mask, g, noise_scale)
        o = self.dec(z * x_mask, g=g)
        return o, x_mask, (z, z_p, m_p, logs_p)


def build_synthesizer(
    cfg: ModelConfig, version: str, f0: bool, *, posterior_encoder: bool = True
) -> SynthesizerNSF | SynthesizerNoF0:
    """The synthesiser RVC trains for ``version`` ("v1": 256-d, "v2": 768-d input) and ``f0``."""
    cls = SynthesizerNSF if f0 else SynthesizerNoF0
    return cls(cfg, version, posterior_encoder=posterior_encoder)


def synthesizer_from_config(
    config: Sequence[Any], version: str, f0: bool
) -> SynthesizerNSF | SynthesizerNoF0:
    """An inference model (no enc_q) from an exported model's `config` list, as RVC builds it."""
    cfg = ModelConfig.from_export_list(config)
    return build_synthesizer(cfg, version, f0, posterior_encoder=False)


def synthesizer_from_export(
    export: Mapping[str, Any], source: str = "model"
) -> SynthesizerNSF | SynthesizerNoF0:
    """Load an exported RVC model dict (weight, config, f0, version) into an eval-mode float model.

    As RVC's inference does, the speaker count is taken from ``emb_g.weight``; the weights
    (fp16 in the file) must then match strictly. ``source`` names the file in error messages.
    """
    missing = [key for key in ("weight", "config", "f0") if key not in export]
    if missing:
        raise ValueError(f"{source}: not an exported RVC model, it lacks {missing}")
    weight = export["weight"]
    config = list(export["config"])
    try:
        config[-3] = int(weight["emb_g.weight"].shape[0])
        net = synthesizer_from_config(config, export.get("version", "v1"), bool(export["f0"]))
        net.load_state_dict(weight)
    except (KeyError, ValueError, RuntimeError) as err:
        raise ValueError(f"{source}: the weights do not fit the model's config: {err}") from err
    return net.float().eval()
