"""RVC's GAN training loop, resumable (docs/differences.md), on one device or several (torchrun).

Under torchrun every process trains on its share of the batches and rank 0 writes the files
(``cli`` is the command line). Resume: at every save the checkpoint pair ``G_{step}.pth`` /
``D_{step}.pth`` holds, besides RVC's keys, the global step, the lr scheduler, the grad scaler
and every rank's RNG states (``state``). A rerun starts after the newest complete pair's epoch
(RVC re-runs it) with that state restored, so its losses are the ones an uninterrupted run would
have produced.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from rvc_pipeline.devices import require_device
from rvc_pipeline.faults import injected
from rvc_pipeline.layout import FEATURE_DIMS, LOSSES
from rvc_pipeline.models import StepResult, TrainBatch
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.stopping import StopFlag, stop_on_signals
from rvc_pipeline.training.batch_size import BatchSize, batch_size_extra, starting_batch_size
from rvc_pipeline.torch_files import unwrap
from rvc_pipeline.training.checkpoint import latest_checkpoint
from rvc_pipeline.training.data import SegmentDataset, data_loader, read_filelist
from rvc_pipeline.training.ddp import Ranks, init_distributed
from rvc_pipeline.training.epoch_log import event_writer, log_epoch
from rvc_pipeline.training.export import epoch_model_path, export_model
from rvc_pipeline.training.history import (
    BATCH_COLUMN,
    LOSS_COLUMNS,
    VAL_COLUMN,
    batch_size_cell,
    best_epoch,
    read_history,
    write_history,
)
from rvc_pipeline.training.out_of_memory import (
    OUT_OF_MEMORY,
    DiscriminatorSnapshot,
    ShrinkableEpoch,
    free_step,
    halved,
)
from rvc_pipeline.training.state import (
    Trainer,
    build_trainer,
    load_pretrained,
    resume,
    rng_state,
    save_epoch,
    set_rng_state,
)
from rvc_pipeline.training.validation_loss import Validation

log = logging.getLogger(__name__)


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

    SIGINT or SIGTERM abandons the epoch after the step in progress and raises
    ``StopRequested``; the last saved pair stays the one a rerun resumes from.
    """
    options.validate()
    require_device(options.device)
    ranks = init_distributed(options.device)
    try:
        with stop_on_signals() as stop:
            return _train(Path(filelist), Path(config_json), Path(state_dir), options, ranks, validation, stop)
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


def _train(
    filelist: Path,
    config_json: Path,
    state_dir: Path,
    options: TrainOptions,
    ranks: Ranks,
    validation: str | os.PathLike | None,
    stop: StopFlag,
) -> Path:
    hparams = json.loads(config_json.read_text(encoding="utf-8"))
    device = torch.device(f"cuda:{ranks.local_rank}" if options.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = options.tf32
        torch.backends.cudnn.allow_tf32 = options.tf32
    torch.manual_seed(options.seed)
    trainer = build_trainer(hparams, options, device)
    dataset = SegmentDataset(
        read_filelist(filelist, options.f0), trainer.settings.mel, FEATURE_DIMS[options.version]
    )
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
        load_pretrained(trainer, options)
    else:
        last_epoch, global_step, rng = resume(trainer, schedulers, found, ranks)
        if rng is not None:
            set_rng_state(rng, device)
    latest_g = found[0].g_path if found else None
    batch_size = BatchSize(
        starting_batch_size(hparams, options, dataset, device, ranks, found, state_dir.name),
        DiscriminatorSnapshot(trainer.net_d, trainer.optim_d)
        if device.type == "cuda" or injected("train_step", "oom")
        else None,
    )
    loader = data_loader(dataset, batch_size.size, options, ranks)
    if ranks.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trainer.net_g = DistributedDataParallel(trainer.net_g, device_ids=ids)
        trainer.net_d = DistributedDataParallel(trainer.net_d, device_ids=ids)

    tsv = state_dir / LOSSES
    history = read_history(tsv, last_epoch) if ranks.main else []
    held_out = (
        Validation.load(validation, trainer.settings, options, device, state_dir, filelist) if ranks.main else None
    )
    events = event_writer(state_dir, options) if ranks.main else None
    if last_epoch >= options.epochs:
        log.info("already trained to epoch %d (asked for %d): nothing to do", last_epoch, options.epochs)
    try:
        for epoch in range(last_epoch + 1, options.epochs + 1):
            started, started_size = time.perf_counter(), batch_size.size
            means, global_step = _run_epoch(
                trainer, loader, epoch, global_step, options, ranks, events, stop, batch_size, state_dir.name
            )
            if batch_size.size != loader.batch_sampler.batch_size:  # halved: later epochs too
                loader = data_loader(dataset, batch_size.size, options, ranks, warn=False)
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
                        BATCH_COLUMN: batch_size_cell(started_size, batch_size.size),
                        **(held_out.quality.columns() if held_out else {}),
                    }
                )
                log_epoch(state_dir.name, history, options, events)
            if saving:
                _check_stop(stop, trainer.device, ranks)  # a signal during the epoch's last step or validation: no save
                latest_g = save_epoch(
                    trainer,
                    schedulers,
                    state_dir,
                    epoch,
                    global_step,
                    options.keep_latest_only,
                    ranks,
                    batch_size_extra(batch_size, options),
                )
            # A saving epoch's row is written after its pair, so a failed save leaves no row for
            # an epoch that a resume trains again.
            if ranks.main:
                write_history(tsv, history)
            if saving and options.export_every and ranks.main:
                path = epoch_model_path(state_dir, epoch, global_step)
                export_model(
                    unwrap(trainer.net_g).state_dict(), hparams, path, epoch=epoch, f0=options.f0, version=options.version
                )
                log.info("exported %s", path.name)
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


def _run_epoch(
    trainer: Trainer,
    loader: DataLoader,
    epoch: int,
    global_step: int,
    options: TrainOptions,
    ranks: Ranks,
    events: Any,
    stop: StopFlag,
    batch_size: BatchSize,
    experiment: str,
) -> tuple[dict[str, float], int]:
    """Train one epoch; returns the losses averaged over its steps (and processes) and the new global step.

    Before each step a stop signal (to any process) ends the epoch with ``StopRequested``. A
    step that runs out of device memory is undone and the epoch goes on in half-size batches
    (``batch_size.size`` is then the new size).
    """
    trainer.net_g.train()
    trainer.net_d.train()
    loader.batch_sampler.set_epoch(epoch)
    sums = dict.fromkeys(LOSS_COLUMNS, 0.0)
    count = 0
    batches = ShrinkableEpoch(loader)
    for indices, batch in batches:
        _check_stop(stop, trainer.device, ranks)
        rng = rng_state(trainer.device) if batch_size.snapshot else None
        result = _step_or_undo(trainer, batch, batch_size.snapshot, ranks, global_step + 1)
        if result is None:
            batch_size.size = halved(batch_size.size, epoch, global_step + 1, experiment)
            batches.shrink(batch_size.size)
            set_rng_state(rng, trainer.device)  # after shrink, whose new loader drew a seed
            continue
        log.debug("step %d samples %s", global_step + 1, indices)
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


def _step_or_undo(
    trainer: Trainer, batch: TrainBatch, snapshot: DiscriminatorSnapshot | None, ranks: Ranks, step: int
) -> StepResult | None:
    """The step's result, or None when it ran out of device memory and was undone."""
    if snapshot is None:
        return trainer.step(batch.to(trainer.device))
    try:
        return trainer.step(batch.to(trainer.device), snapshot)
    except OUT_OF_MEMORY:
        if ranks.world > 1:
            # The other processes wait in this step's gradient exchange and cannot be told to
            # halve with us; torchrun stops them when this one fails.
            raise RuntimeError(
                f"out of device memory in process {ranks.rank} at step {step} under DDP: the processes "
                "cannot halve their batch together mid-step; set train.batch_size to half its value"
            ) from None
    # Outside the except block, so the error's traceback no longer holds the step's tensors.
    snapshot.restore()
    trainer.scaler = free_step(trainer.net_g, trainer.net_d, trainer.scaler, trainer.device)
    return None


def _check_stop(stop: StopFlag, device: torch.device, ranks: Ranks) -> None:
    """Raise ``StopRequested`` if a stop signal arrived; under DDP every process stops at the same
    step (one stopping alone would leave the others waiting in a collective)."""
    if ranks.world > 1:
        signum = torch.tensor([stop.signum or 0], device=device)
        dist.all_reduce(signum, op=dist.ReduceOp.MAX)
        if signum.item() and stop.signum is None:
            stop.signum = int(signum.item())
    stop.check()


def _epoch_means(sums: dict[str, float], count: int, device: torch.device, ranks: Ranks) -> dict[str, float]:
    values = torch.tensor([sums[k] for k in LOSS_COLUMNS] + [count], dtype=torch.float64)
    if ranks.world > 1:
        values = values.to(device)
        dist.all_reduce(values)
        values = values.cpu()
    total = max(values[-1].item(), 1.0)
    return {k: values[i].item() / total for i, k in enumerate(LOSS_COLUMNS)}


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k}={losses[k]:.4f}" for k in LOSS_COLUMNS)
