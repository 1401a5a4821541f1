"""RVC's GAN training loop, resumable (docs/differences.md), on one device or several (torchrun).

Run as ``python -m rvc_pipeline.train --filelist F --config C --state-dir S --options JSON``; under
torchrun every process trains on its share of the batches (gloo on CPU, nccl on CUDA) and rank 0
writes the files.

Resume: at every save the checkpoint pair ``G_{step}.pth`` / ``D_{step}.pth`` holds, besides
RVC's keys, the global step, the lr scheduler, the grad scaler and every rank's RNG states (under
``"rvc_pipeline"``). A rerun starts after the newest complete pair's epoch (RVC re-runs it) with
that state restored, so its losses are the ones an uninterrupted run would have produced.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from rvc_pipeline.checkpoint import (
    EXTRA_KEY,
    LATEST_STEP,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    load_state_strict,
    model_state,
    publish_latest,
    save_checkpoint,
    unwrap,
)
from rvc_pipeline.audio import write_wav
from rvc_pipeline.data import BucketSampler, SegmentDataset, collate, read_filelist
from rvc_pipeline.history import (
    LOSS_COLUMNS,
    VAL_COLUMN,
    best_epoch,
    epoch_line,
    overtraining_warning,
    read_history,
    write_history,
)
from rvc_pipeline.logs import run_script
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.progress import log_progress
from rvc_pipeline.models import (
    PHONE_CHANNELS,
    ModelConfig,
    StepResult,
    StepSettings,
    TrainBatch,
    build_discriminator,
    build_synthesizer,
    rvc_optimizer,
    train_step,
)

log = logging.getLogger("rvc_pipeline.train")  # not __name__: "__main__" under python -m

VALIDATION_DIR = "validation"  # in the state folder: the first held-out segment as each saved epoch renders it
VALIDATION_SEED = 0  # the NSF excitation noise of the validation pass, the same every epoch


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> _Dist:
    """Join the torchrun process group if RANK/WORLD_SIZE/LOCAL_RANK say we run under it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


@dataclass
class _Trainer:
    """The models, optimisers and step settings of one run."""

    net_g: torch.nn.Module
    net_d: torch.nn.Module
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    settings: StepSettings
    device: torch.device

    def step(self, batch: TrainBatch) -> StepResult:
        return train_step(
            self.net_g, self.net_d, self.optim_g, self.optim_d, batch, self.settings, self.scaler
        )


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _gather(obj: Any, ranks: _Dist) -> list[Any]:
    if ranks.world == 1:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def _load_pretrained(trainer: _Trainer, options: TrainOptions) -> None:
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


def _resume(
    trainer: _Trainer,
    schedulers: Sequence[torch.optim.lr_scheduler.ExponentialLR],
    found: tuple,
    ranks: _Dist,
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


def _save(
    trainer: _Trainer,
    schedulers: Sequence[torch.optim.lr_scheduler.ExponentialLR],
    state_dir: Path,
    epoch: int,
    global_step: int,
    keep_latest_only: bool,
    ranks: _Dist,
) -> Path:
    """Save the G/D pair of this epoch (rank 0 writes; every rank contributes its RNG state)."""
    shared = {
        "global_step": global_step,
        "scaler": trainer.scaler.state_dict(),
        "rng": _gather(_rng_state(trainer.device), ranks),
    }
    final = checkpoint_path(state_dir, "G", LATEST_STEP if keep_latest_only else global_step)
    if ranks.main:
        lr = trainer.optim_g.param_groups[0]["lr"]
        # D first: a kill between the two leaves a D without its G, which resume ignores.
        parts = (
            ("D", trainer.net_d, trainer.optim_d, schedulers[1]),
            ("G", trainer.net_g, trainer.optim_g, schedulers[0]),
        )
        for kind, net, optim, scheduler in parts:
            extra = {**shared, "scheduler": scheduler.state_dict()}
            save_checkpoint(
                checkpoint_path(state_dir, kind, global_step),
                net,
                optim,
                epoch=epoch,
                learning_rate=lr,
                extra=extra,
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


def _epoch_means(sums: dict[str, float], count: int, device: torch.device, ranks: _Dist) -> dict[str, float]:
    values = torch.tensor([sums[k] for k in LOSS_COLUMNS] + [count], dtype=torch.float64)
    if ranks.world > 1:
        values = values.to(device)
        dist.all_reduce(values)
        values = values.cpu()
    total = max(values[-1].item(), 1.0)
    return {k: values[i].item() / total for i, k in enumerate(LOSS_COLUMNS)}


def train(
    filelist: str | os.PathLike,
    config_json: str | os.PathLike,
    state_dir: str | os.PathLike,
    options: TrainOptions,
    validation: str | os.PathLike | None = None,
) -> Path:
    """Train (or resume training) until ``options.epochs``; returns the last generator checkpoint.

    ``state_dir`` holds the checkpoints and ``losses.tsv``; it must survive a failed job (pass a
    folder Snakemake does not delete on retry). ``validation`` is a filelist of held-out
    segments (may be empty): after each epoch their mel loss goes into ``losses.tsv``.
    """
    options.validate()
    if options.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    ranks = _init_distributed(options.device)
    try:
        return _train(Path(filelist), Path(config_json), Path(state_dir), options, ranks, validation)
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


@dataclass
class _Validation:
    """The held-out segments and how the model renders them."""

    dataset: SegmentDataset
    settings: StepSettings
    device: torch.device
    out_dir: Path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None,
        settings: StepSettings,
        options: TrainOptions,
        device: torch.device,
        state_dir: Path,
    ) -> _Validation | None:
        """The validation set of the filelist ``path``, or None when it is empty or not given."""
        if path is None or not Path(path).read_text(encoding="utf-8").strip():
            log.info("no validation segments: the validation loss is not computed")
            return None
        entries = read_filelist(path, options.f0)
        log.info("validation loss on %d held-out segments from %s", len(entries), path)
        dataset = SegmentDataset(entries, settings.mel, PHONE_CHANNELS[options.version])
        return cls(dataset, settings, device, state_dir / VALIDATION_DIR)

    def loss(self, net_g: torch.nn.Module, save_epoch: int | None) -> float:
        """Mean mel L1 (times c_mel) of whole segments through the inference path without prior noise.

        The global RNG is left as it was (the NSF excitation noise draws from a fixed seed), so
        training goes on exactly as it would without validation. On a ``save_epoch`` the first
        segment's rendering is kept as ``validation/{segment}_e{epoch}.wav``.
        """
        net = unwrap(net_g)
        net.eval()
        losses = []
        mel = self.settings.mel
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(VALIDATION_SEED)
            for index in range(len(self.dataset)):
                batch = collate([self.dataset[index]]).to(self.device)
                pitch = () if batch.pitch is None else (batch.pitch, batch.pitchf)
                rendered = net.infer(batch.phone, batch.phone_lengths, *pitch, batch.sid, noise_scale=0.0)[0]
                rendered_mel = mel.mel_spectrogram(rendered.float().squeeze(1))
                target_mel = mel.spec_to_mel(batch.spec.float())
                frames = min(rendered_mel.shape[-1], target_mel.shape[-1])
                loss = F.l1_loss(rendered_mel[..., :frames], target_mel[..., :frames]) * self.settings.c_mel
                losses.append(loss.item())
                if index == 0 and save_epoch is not None:
                    name = f"{self.dataset.entries[0].wav.stem}_e{save_epoch}.wav"
                    write_wav(self.out_dir / name, rendered[0, 0].cpu().numpy(), mel.sampling_rate)
        net.train()
        return sum(losses) / len(losses)


def _event_writer(state_dir: Path, options: TrainOptions) -> Any:
    """A TensorBoard SummaryWriter into the state folder (as RVC's logs/{experiment}), if asked and installed."""
    if not options.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning(
            "train: tensorboard is on but the tensorboard package is not installed "
            "(pip install tensorboard): no event files are written"
        )
        return None
    return SummaryWriter(log_dir=str(state_dir))


def _data_loader(filelist: Path, settings: StepSettings, options: TrainOptions, ranks: _Dist) -> DataLoader:
    dataset = SegmentDataset(
        read_filelist(filelist, options.f0), settings.mel, PHONE_CHANNELS[options.version]
    )
    sampler = BucketSampler(
        dataset.lengths, options.batch_size, num_replicas=ranks.world, rank=ranks.rank, seed=options.seed
    )
    if sampler.skipped and ranks.main:
        names = ", ".join(str(dataset.entries[i].wav) for i in sampler.skipped[:5])
        log.warning(
            "%d of %d clips are outside the training buckets and are skipped: %s",
            len(sampler.skipped),
            len(dataset),
            names,
        )
    # No persistent workers: each epoch's iterator then draws its worker seed from the global
    # RNG, in a resumed run as in an uninterrupted one.
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=options.num_workers,
        pin_memory=options.device == "cuda",
    )


def _build_trainer(hparams: dict, options: TrainOptions, device: torch.device) -> _Trainer:
    net_g = build_synthesizer(ModelConfig.from_hparams(hparams), options.version, options.f0).to(device)
    net_d = build_discriminator(hparams, options.version).to(device)
    settings = dataclasses.replace(
        StepSettings.from_hparams(hparams), fp16=options.precision == "fp16", bf16=options.precision == "bf16"
    )
    return _Trainer(
        net_g,
        net_d,
        rvc_optimizer(net_g, hparams),
        rvc_optimizer(net_d, hparams),
        torch.amp.GradScaler(device.type, enabled=settings.fp16),
        settings,
        device,
    )


def _run_epoch(
    trainer: _Trainer,
    loader: DataLoader,
    epoch: int,
    global_step: int,
    options: TrainOptions,
    ranks: _Dist,
    events: Any,
) -> tuple[dict[str, float], int]:
    """Train one epoch; returns the losses averaged over its steps (and processes) and the new global step."""
    trainer.net_g.train()
    trainer.net_d.train()
    loader.batch_sampler.set_epoch(epoch)
    sums = dict.fromkeys(LOSS_COLUMNS, 0.0)
    count = 0
    for batch in loader:
        result = trainer.step(batch.to(trainer.device))
        losses, scalars = {name: getattr(result, name) for name in LOSS_COLUMNS}, result.scalars()
        del result  # its tensors (a batch's outputs) need not live through the next step
        global_step += 1
        count += 1
        for name in LOSS_COLUMNS:
            sums[name] += losses[name]
        if global_step % options.log_interval == 0 and ranks.main:
            log.info("epoch %d step %d %s", epoch, global_step, _format_losses(losses))
            if events is not None:
                events.add_scalar("learning_rate", trainer.optim_g.param_groups[0]["lr"], global_step)
                for tag, number in scalars.items():  # RVC's names
                    events.add_scalar(tag, number, global_step)
    return _epoch_means(sums, count, trainer.device, ranks), global_step


def _train(
    filelist: Path,
    config_json: Path,
    state_dir: Path,
    options: TrainOptions,
    ranks: _Dist,
    validation: str | os.PathLike | None,
) -> Path:
    hparams = json.loads(config_json.read_text(encoding="utf-8"))
    device = torch.device(f"cuda:{ranks.local_rank}" if options.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(options.seed)
    trainer = _build_trainer(hparams, options, device)
    loader = _data_loader(filelist, trainer.settings, options, ranks)
    gamma = hparams["train"]["lr_decay"]
    schedulers = [
        torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma) for o in (trainer.optim_g, trainer.optim_d)
    ]

    # Rank 0 moves unloadable pairs aside before the others look, so all resume from the same pair.
    found = latest_checkpoint(state_dir, set_aside=True) if ranks.main else None
    if ranks.world > 1:
        dist.barrier()
        if not ranks.main:
            found = latest_checkpoint(state_dir)
    if found is None:
        last_epoch, global_step = 0, 0
        _load_pretrained(trainer, options)
    else:
        last_epoch, global_step, rng = _resume(trainer, schedulers, found, ranks)
        if rng is not None:
            _set_rng_state(rng, device)
    latest_g = found[0].g_path if found else None
    if ranks.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trainer.net_g = DistributedDataParallel(trainer.net_g, device_ids=ids)
        trainer.net_d = DistributedDataParallel(trainer.net_d, device_ids=ids)

    tsv = state_dir / "losses.tsv"
    history = read_history(tsv, last_epoch) if ranks.main else []
    held_out = _Validation.load(validation, trainer.settings, options, device, state_dir) if ranks.main else None
    events = _event_writer(state_dir, options) if ranks.main else None
    if last_epoch >= options.epochs:
        log.info("already trained to epoch %d (asked for %d): nothing to do", last_epoch, options.epochs)
    try:
        for epoch in range(last_epoch + 1, options.epochs + 1):
            started = time.perf_counter()
            means, global_step = _run_epoch(trainer, loader, epoch, global_step, options, ranks, events)
            lr = trainer.optim_g.param_groups[0]["lr"]
            seconds = time.perf_counter() - started
            saving = epoch % options.save_every_epoch == 0 or epoch == options.epochs
            if ranks.main:
                val = held_out.loss(trainer.net_g, epoch if saving else None) if held_out else None
                history.append(
                    {
                        "epoch": epoch,
                        "step": global_step,
                        "lr": repr(lr),
                        "seconds": f"{seconds:.3f}",
                        **{k: repr(v) for k, v in means.items()},
                        VAL_COLUMN: "" if val is None else repr(val),
                    }
                )
                write_history(tsv, history)
                log_epoch(state_dir.name, history, options, events)
            if saving:
                latest_g = _save(
                    trainer, schedulers, state_dir, epoch, global_step, options.keep_latest_only, ranks
                )
            for scheduler in schedulers:
                scheduler.step()
    finally:
        if events is not None:
            events.close()
    assert latest_g is not None  # a fresh run always saves its last epoch
    if ranks.main:
        best = best_epoch(history)
        if best is not None:
            log.info("training done: %s; lowest validation loss %.4f at epoch %d", latest_g, best[1], best[0])
        else:
            log.info("training done: %s", latest_g)
    return latest_g


def log_epoch(name: str, history: list[dict[str, Any]], options: TrainOptions, events: Any) -> None:
    """The epoch line (log and console), the overtraining warning when it first fires, the event file."""
    log_progress(f"train {name}: " + epoch_line(history, len(history) - 1, options.epochs))
    warning = overtraining_warning(history, options.patience)
    if warning and not overtraining_warning(history[:-1], options.patience):
        log_progress(f"train {name}: WARNING {warning}", level=logging.WARNING)
    last = history[-1]
    if events is not None and last[VAL_COLUMN]:
        events.add_scalar("loss/val/mel", float(last[VAL_COLUMN]), int(last["step"]))


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k}={losses[k]:.4f}" for k in LOSS_COLUMNS)


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, TrainOptions]:
    parser = argparse.ArgumentParser(prog="python -m rvc_pipeline.train", description=__doc__.splitlines()[0])
    parser.add_argument("--filelist", required=True)
    parser.add_argument("--config", required=True, help="config.json (RVC's hparams)")
    parser.add_argument("--state-dir", required=True, help="folder for G_*/D_* checkpoints and losses.tsv")
    parser.add_argument("--validation", default=None, help="filelist of held-out segments (validation loss)")
    parser.add_argument("--log", default=None, help="log file (default: stderr)")
    parser.add_argument(
        "--options", default="{}", help="TrainOptions as JSON (TrainOptions.to_json); left-out fields keep their defaults"
    )
    args = parser.parse_args(argv)
    return args, TrainOptions.from_json(args.options)


def main(argv: Sequence[str] | None = None) -> None:
    args, options = _parse_args(argv)
    run_script(
        args.log,
        train,
        filelist=args.filelist,
        config_json=args.config,
        state_dir=args.state_dir,
        options=options,
        validation=args.validation,
    )


if __name__ == "__main__":
    main()
