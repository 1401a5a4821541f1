"""One RVC training step: discriminator update, then generator update, as in RVC's train.py.

Shared by the training loop and the parity test, so the numbers the test checks are the
numbers training produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rvc_pipeline.faults import fault_point

from .commons import slice_segments
from .losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from .mel import MelConfig


@dataclass
class TrainBatch:
    """One collated batch in RVC's collate order; ``pitch``/``pitchf`` are None without f0.

    phone [B, T, D] float, phone_lengths [B], pitch [B, T] long (coarse 1..255), pitchf [B, T]
    (Hz), spec [B, F, T], spec_lengths [B], wave [B, 1, T*hop], wave_lengths [B], sid [B].
    """

    phone: Tensor
    phone_lengths: Tensor
    pitch: Tensor | None
    pitchf: Tensor | None
    spec: Tensor
    spec_lengths: Tensor
    wave: Tensor
    wave_lengths: Tensor
    sid: Tensor

    def to(self, device: torch.device | str) -> TrainBatch:
        """The batch with every tensor moved to ``device``."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return TrainBatch(**{k: None if v is None else v.to(device) for k, v in moved.items()})


@dataclass(frozen=True)
class StepSettings:
    """What a step needs from config.json: mel settings, segment (samples), loss weights; and the
    autocast precision (fp16 as RVC's ``fp16_run``, or bf16, which needs no grad scaler), which
    is the caller's choice for its device (``from_hparams`` leaves it at fp32)."""

    mel: MelConfig
    segment_size: int
    c_mel: float = 45.0
    c_kl: float = 1.0
    fp16: bool = False
    bf16: bool = False

    @property
    def autocast_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.bf16 else torch.float16

    @classmethod
    def from_hparams(cls, h: dict[str, Any]) -> StepSettings:
        train = h["train"]
        return cls(
            mel=MelConfig.from_hparams(h),
            segment_size=train["segment_size"],
            c_mel=train["c_mel"],
            c_kl=train["c_kl"],
        )


@dataclass
class StepResult:
    """Losses (floats), gradient norms and the detached tensors of one step.

    ``d_real``/``d_fake`` are the discriminator's scores in the generator pass (after the
    discriminator's update); ``latents`` are (z, z_p, m_p, logs_p, m_q, logs_q).
    """

    loss_disc: float
    loss_gen: float
    loss_fm: float
    loss_mel: float
    loss_kl: float
    loss_gen_all: float
    losses_disc_r: list[float]
    losses_disc_g: list[float]
    losses_gen: list[float]
    grad_norm_d: float
    grad_norm_g: float
    ids_slice: Tensor
    y_hat: Tensor
    wave: Tensor
    y_mel: Tensor
    y_hat_mel: Tensor
    latents: tuple[Tensor, ...]
    d_real: list[Tensor]
    d_fake: list[Tensor]

    def scalars(self) -> dict[str, float]:
        """RVC's TensorBoard scalar names and values (the learning rate is the loop's to add)."""
        out = {
            "loss/g/total": self.loss_gen_all,
            "loss/d/total": self.loss_disc,
            "grad_norm_d": self.grad_norm_d,
            "grad_norm_g": self.grad_norm_g,
            "loss/g/fm": self.loss_fm,
            "loss/g/mel": self.loss_mel,
            "loss/g/kl": self.loss_kl,
        }
        for name, values in (
            ("loss/g", self.losses_gen),
            ("loss/d_r", self.losses_disc_r),
            ("loss/d_g", self.losses_disc_g),
        ):
            out.update({f"{name}/{i}": v for i, v in enumerate(values)})
        return out


def rvc_optimizer(module: nn.Module, h: dict[str, Any]) -> torch.optim.AdamW:
    """RVC's optimiser for one network: AdamW with config.json's lr, betas and eps.

    Weight decay is torch's default 0.01, which RVC inherits by not passing it. The fused
    kernel computes the same update in far fewer operations (RVC uses the unfused loop).
    """
    train = h["train"]
    return torch.optim.AdamW(
        module.parameters(),
        lr=train["learning_rate"],
        betas=tuple(train["betas"]),
        eps=train["eps"],
        weight_decay=0.01,
        fused=True,
    )


def grad_norm(parameters: Iterable[Tensor]) -> float:
    """Total L2 norm of the gradients present; what RVC logs (its clip_grad_value_(…, None)).

    Nothing is clipped, as in RVC.
    """
    norms = [
        torch.linalg.vector_norm(p.grad.detach().float()) for p in parameters if p.grad is not None
    ]
    if not norms:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(norms).double()))


def train_step(
    net_g: nn.Module,
    net_d: nn.Module,
    optim_g: torch.optim.Optimizer,
    optim_d: torch.optim.Optimizer,
    batch: TrainBatch,
    settings: StepSettings,
    scaler: torch.amp.GradScaler | None = None,
    before_d_update: Callable[[], None] | None = None,
) -> StepResult:
    """Run RVC's step: G forward, D update on the detached output, then G update.

    fp16 / bf16 autocast on the batch's device (CUDA or CPU); fp16 then needs a ``scaler`` kept
    across steps. The mel and all losses are computed in float32. ``before_d_update`` is called
    just before the discriminator's optimiser steps (the out-of-memory snapshot).
    """
    device_type = batch.wave.device.type
    amp = settings.fp16 or settings.bf16
    if scaler is None:
        if amp and settings.fp16:
            raise ValueError("fp16 training needs a GradScaler kept across steps")
        scaler = torch.amp.GradScaler(device_type, enabled=False)
    hop = settings.mel.hop_length
    segment_frames = settings.segment_size // hop

    with torch.autocast(device_type, dtype=settings.autocast_dtype, enabled=amp):
        if batch.pitch is None:
            out = net_g(batch.phone, batch.phone_lengths, batch.spec, batch.spec_lengths, batch.sid)
        else:
            out = net_g(
                batch.phone,
                batch.phone_lengths,
                batch.pitch,
                batch.pitchf,
                batch.spec,
                batch.spec_lengths,
                batch.sid,
            )
        y_hat, ids_slice, _, z_mask, latents = out
        z, z_p, m_p, logs_p, m_q, logs_q = latents
        wave = slice_segments(batch.wave, ids_slice * hop, settings.segment_size)
        with torch.autocast(device_type, enabled=False):
            y_mel = settings.mel.spec_to_mel(
                slice_segments(batch.spec, ids_slice, segment_frames).float()
            )
            y_hat_mel = settings.mel.mel_spectrogram(y_hat.float().squeeze(1))
        y_d_hat_r, y_d_hat_g, _, _ = net_d(wave, y_hat.detach())
        with torch.autocast(device_type, enabled=False):
            loss_disc, losses_disc_r, losses_disc_g = discriminator_loss(y_d_hat_r, y_d_hat_g)
    optim_d.zero_grad()
    scaler.scale(loss_disc).backward()
    scaler.unscale_(optim_d)
    grad_norm_d = grad_norm(net_d.parameters())
    if before_d_update is not None:
        before_d_update()
    scaler.step(optim_d)
    fault_point("train_step")  # after D's update: a failure here must undo it

    with torch.autocast(device_type, dtype=settings.autocast_dtype, enabled=amp):
        y_d_hat_r, y_d_hat_g, fmap_r, fmap_g = net_d(wave, y_hat)
        with torch.autocast(device_type, enabled=False):
            loss_mel = F.l1_loss(y_mel, y_hat_mel) * settings.c_mel
            loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * settings.c_kl
            loss_fm = feature_loss(fmap_r, fmap_g)
            loss_gen, losses_gen = generator_loss(y_d_hat_g)
            loss_gen_all = loss_gen + loss_fm + loss_mel + loss_kl
    optim_g.zero_grad()
    scaler.scale(loss_gen_all).backward()
    scaler.unscale_(optim_g)
    grad_norm_g = grad_norm(net_g.parameters())
    scaler.step(optim_g)
    scaler.update()

    return StepResult(
        loss_disc=loss_disc.item(),
        loss_gen=loss_gen.item(),
        loss_fm=loss_fm.item(),
        loss_mel=loss_mel.item(),
        loss_kl=loss_kl.item(),
        loss_gen_all=loss_gen_all.item(),
        losses_disc_r=[t.item() for t in losses_disc_r],
        losses_disc_g=[t.item() for t in losses_disc_g],
        losses_gen=[t.item() for t in losses_gen],
        grad_norm_d=grad_norm_d,
        grad_norm_g=grad_norm_g,
        ids_slice=ids_slice.detach(),
        y_hat=y_hat.detach(),
        wave=wave.detach(),
        y_mel=y_mel.detach(),
        y_hat_mel=y_hat_mel.detach(),
        latents=tuple(t.detach() for t in (z, z_p, m_p, logs_p, m_q, logs_q)),
        d_real=[t.detach() for t in y_d_hat_r],
        d_fake=[t.detach() for t in y_d_hat_g],
    )
