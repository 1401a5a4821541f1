"""GAN, feature-matching and KL losses of RVC/VITS training (computed in float32)."""

from __future__ import annotations

import torch
from torch import Tensor


def feature_loss(fmap_r: list[list[Tensor]], fmap_g: list[list[Tensor]]) -> Tensor:
    """2 * sum over all layers of mean |real - generated| (real feature maps detached)."""
    terms = [
        torch.mean(torch.abs(rl.float().detach() - gl.float()))
        for dr, dg in zip(fmap_r, fmap_g, strict=True)
        for rl, gl in zip(dr, dg, strict=True)
    ]
    return torch.stack(terms).sum() * 2


def discriminator_loss(
    disc_real_outputs: list[Tensor], disc_generated_outputs: list[Tensor]
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Least-squares D loss: sum_k mean((1-D(real))^2) + mean(D(fake)^2).

    Returns (total, per-discriminator real terms, per-discriminator fake terms); the lists are
    detached, for logging.
    """
    r_losses = [torch.mean((1 - dr.float()) ** 2) for dr in disc_real_outputs]
    g_losses = [torch.mean(dg.float() ** 2) for dg in disc_generated_outputs]
    if len(r_losses) != len(g_losses):
        raise ValueError("real and generated outputs come from different discriminator counts")
    loss = torch.stack([r + g for r, g in zip(r_losses, g_losses, strict=True)]).sum()
    return loss, [r.detach() for r in r_losses], [g.detach() for g in g_losses]


def generator_loss(disc_outputs: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Least-squares G loss: sum_k mean((1-D(fake))^2); also the detached per-D terms."""
    terms = [torch.mean((1 - dg.float()) ** 2) for dg in disc_outputs]
    return torch.stack(terms).sum(), [t.detach() for t in terms]


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, z_mask: Tensor) -> Tensor:
    """KL(q || p) per masked element, with z_p the flowed posterior sample.

    sum((logs_p - logs_q - 0.5 + 0.5 (z_p - m_p)^2 exp(-2 logs_p)) * mask) / sum(mask).
    """
    z_p, logs_q, m_p, logs_p = z_p.float(), logs_q.float(), m_p.float(), logs_p.float()
    kl = logs_p - logs_q - 0.5
    kl = kl + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)
