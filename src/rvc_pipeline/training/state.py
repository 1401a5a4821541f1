"""The state of a run and its checkpoints: the models and optimisers, a fresh start from pretrained
files (or another experiment's latest pair), resume from the newest pair with every process's RNG
state, and the save of an epoch's pair.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from rvc_pipeline.models import (
    ModelConfig,
    StepResult,
    StepSettings,
    TrainBatch,
    build_discriminator,
    build_synthesizer,
    rvc_optimizer,
    train_step,
)
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.checkpoint import (
    EXTRA_KEY,
    LATEST_STEP,
    checkpoint_path,
    checkpoint_state,
    latest_checkpoint,
    publish_latest,
    save_checkpoints,
)
from rvc_pipeline.torch_files import load_checkpoint, load_state_strict, model_state
from rvc_pipeline.training.ddp import Ranks, gather
from rvc_pipeline.training.out_of_memory import DiscriminatorSnapshot

log = logging.getLogger(__name__)


@dataclass
class Trainer:
    """The models, optimisers and step settings of one run."""

    net_g: torch.nn.Module
    net_d: torch.nn.Module
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    settings: StepSettings
    device: torch.device

    def step(self, batch: TrainBatch, snapshot: DiscriminatorSnapshot | None = None) -> StepResult:
        return train_step(
            self.net_g,
            self.net_d,
            self.optim_g,
            self.optim_d,
            batch,
            self.settings,
            self.scaler,
            before_d_update=snapshot.take if snapshot else None,
        )


def build_trainer(hparams: dict, options: TrainOptions, device: torch.device) -> Trainer:
    net_g = build_synthesizer(ModelConfig.from_hparams(hparams), options.version, options.f0).to(device)
    net_g.use_checkpointing(options.checkpointing)
    net_d = build_discriminator(hparams, options.version).to(device)
    settings = dataclasses.replace(
        StepSettings.from_hparams(hparams), fp16=options.precision == "fp16", bf16=options.precision == "bf16"
    )
    return Trainer(
        net_g,
        net_d,
        rvc_optimizer(net_g, hparams),
        rvc_optimizer(net_d, hparams),
        torch.amp.GradScaler(device.type, enabled=settings.fp16),
        settings,
        device,
    )


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def load_pretrained(trainer: Trainer, options: TrainOptions) -> None:
    """Fresh start: strict load of RVC pretrained files or of another experiment's latest G/D."""
    if options.warm_start:
        found = latest_checkpoint(options.warm_start)
        if found is None:
            raise FileNotFoundError(
                f"warm start: no complete G_*/D_* checkpoint pair in {options.warm_start}"
            )
        pair, g, d = found
        load_state_strict(trainer.net_g, model_state(g, pair.g_path), pair.g_path)
        load_state_strict(trainer.net_d, model_state(d, pair.d_path), pair.d_path)
        log.info("warm start from %s and %s (epoch %s)", pair.g_path, pair.d_path, g.get("iteration"))
    for path, net in ((options.pretrained_g, trainer.net_g), (options.pretrained_d, trainer.net_d)):
        if path:
            load_state_strict(net, model_state(load_checkpoint(path), path), path)
            log.info("loaded pretrained %s", path)


def resume(
    trainer: Trainer,
    schedulers: Sequence[torch.optim.lr_scheduler.ExponentialLR],
    found: tuple,
    ranks: Ranks,
) -> tuple[int, int, dict | None]:
    """Restore the newest checkpoint pair; returns (last finished epoch, global step, this rank's RNG state)."""
    pair, g, d = found
    epoch = int(g["iteration"])
    parts = (
        (trainer.net_g, trainer.optim_g, schedulers[0], g, pair.g_path),
        (trainer.net_d, trainer.optim_d, schedulers[1], d, pair.d_path),
    )
    for net, optim, scheduler, ckpt, path in parts:
        try:
            load_state_strict(net, model_state(ckpt, path), path)
        except ValueError as err:
            raise ValueError(
                f"refusing to resume: the model changed since the checkpoint was written ({err}). "
                "Use a new state folder (or warm_start) for a different configuration."
            ) from None
        optim.load_state_dict(ckpt["optimizer"])
        extra = ckpt.get(EXTRA_KEY, {})
        if "scheduler" in extra:
            scheduler.load_state_dict(extra["scheduler"])
            scheduler.step()  # the step that followed the save in the interrupted run
        else:  # a file written by RVC: lr(e+1) = lr0 * gamma^e
            for group, base_lr in zip(optim.param_groups, scheduler.base_lrs):
                group["lr"] = base_lr * scheduler.gamma**epoch
            scheduler.last_epoch = epoch
    extra = g.get(EXTRA_KEY, {})
    if "scaler" in extra:
        trainer.scaler.load_state_dict(extra["scaler"])
    global_step = int(extra.get("global_step", pair.step if pair.step != LATEST_STEP else 0))
    rng_states = extra.get("rng", [])
    rng = rng_states[ranks.rank] if len(rng_states) == ranks.world else None
    if rng is None:
        log.warning(
            "the checkpoint has no RNG state for %d process(es): resumed losses will differ from an uninterrupted run",
            ranks.world,
        )
    log.info(
        "resuming after epoch %d (global step %d) from %s and %s",
        epoch,
        global_step,
        pair.g_path.name,
        pair.d_path.name,
    )
    return epoch, global_step, rng


def save_epoch(
    trainer: Trainer,
    schedulers: Sequence[torch.optim.lr_scheduler.ExponentialLR],
    state_dir: Path,
    epoch: int,
    global_step: int,
    keep_latest_only: bool,
    ranks: Ranks,
    extra: dict[str, Any],
) -> Path:
    """Save the G/D pair of this epoch (rank 0 writes; every rank contributes its RNG state)."""
    shared = {
        "global_step": global_step,
        "scaler": trainer.scaler.state_dict(),
        "rng": gather(rng_state(trainer.device), ranks),
        **extra,
    }
    final = checkpoint_path(state_dir, "G", LATEST_STEP if keep_latest_only else global_step)
    if ranks.main:
        lr = trainer.optim_g.param_groups[0]["lr"]
        parts = (
            ("D", trainer.net_d, trainer.optim_d, schedulers[1]),
            ("G", trainer.net_g, trainer.optim_g, schedulers[0]),
        )
        # Both files or neither (a full disk fails the save and leaves no half pair); D first, so
        # a kill between the two renames leaves a D without its G, which resume ignores.
        save_checkpoints(
            {
                checkpoint_path(state_dir, kind, global_step): checkpoint_state(
                    net, optim, epoch=epoch, learning_rate=lr, extra={**shared, "scheduler": scheduler.state_dict()}
                )
                for kind, net, optim, scheduler in parts
            }
        )
        if keep_latest_only and global_step != LATEST_STEP:
            # The numbered pair is complete before the fixed names change, so a complete pair of
            # this epoch exists at every moment; then the numbered pair goes.
            for kind in ("D", "G"):
                publish_latest(
                    checkpoint_path(state_dir, kind, global_step),
                    checkpoint_path(state_dir, kind, LATEST_STEP),
                )
            for kind in ("G", "D"):
                checkpoint_path(state_dir, kind, global_step).unlink()
        log.info("saved %s", final.name)
    if ranks.world > 1:
        dist.barrier()
    return final
