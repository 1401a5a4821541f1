"""The batch size of a run: the configured one, the one a resumed run went on with, or (``auto``)
the largest that fits the device; and what a checkpoint records of it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from rvc_pipeline.options import AUTO, CPU_AUTO_BATCH_SIZE, TrainOptions
from rvc_pipeline.progress import log_progress
from rvc_pipeline.training.checkpoint import EXTRA_KEY
from rvc_pipeline.training.data import SegmentDataset, collate
from rvc_pipeline.training.ddp import Ranks
from rvc_pipeline.training.out_of_memory import DiscriminatorSnapshot, probe_batch_size
from rvc_pipeline.training.state import build_trainer


@dataclass
class BatchSize:
    """The batch size in use (per device) and what a step that runs out of memory restores.

    ``snapshot`` is None where there is nothing to recover from: a CPU's allocator fails with a
    plain RuntimeError (the system's memory is not the run's to manage), so no copies are made
    there unless a test injects the error.
    """

    size: int
    snapshot: DiscriminatorSnapshot | None


def starting_batch_size(
    hparams: dict,
    options: TrainOptions,
    dataset: SegmentDataset,
    device: torch.device,
    ranks: Ranks,
    found: tuple | None,
    name: str,
) -> int:
    """The batch size a resumed run went on with, else the configured one (``auto``: probed)."""
    resumed = found[1].get(EXTRA_KEY, {}).get("batch_size") if found else None
    if resumed is not None:
        log_progress(f"train {name}: going on with batch size {resumed}, as the run before")
        return int(resumed)
    if options.batch_size == AUTO:
        return auto_batch_size(hparams, options, dataset, device, ranks, name)
    return options.batch_size


def auto_batch_size(
    hparams: dict, options: TrainOptions, dataset: SegmentDataset, device: torch.device, ranks: Ranks, name: str
) -> int:
    """``batch_size: auto``: the largest batch of the longest clips that a step fits, probed on a
    throwaway trainer with the RNG put back (on a CPU: ``CPU_AUTO_BATCH_SIZE``); under DDP the
    smallest over the processes."""
    if device.type != "cuda":
        return CPU_AUTO_BATCH_SIZE
    longest = sorted(range(len(dataset)), key=dataset.lengths.__getitem__, reverse=True)

    def fits(size: int) -> None:
        trainer = build_trainer(hparams, options, device)
        batch = collate([dataset[longest[i % len(longest)]] for i in range(size)]).to(device)
        try:
            trainer.step(batch)
        finally:
            del trainer, batch
            torch.cuda.empty_cache()

    with torch.random.fork_rng(devices=[device]):
        size = probe_batch_size(fits, largest=64, name=name)
    if ranks.world > 1:
        smallest = torch.tensor([size], device=device)
        dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
        size = int(smallest.item())
    return size


def batch_size_extra(batch: BatchSize, options: TrainOptions) -> dict[str, int]:
    """The batch size in the checkpoint, where it is not the configured one (halved, or auto),
    so a resume goes on with it; absent otherwise, which keeps the files as they were."""
    return {} if batch.size == options.batch_size else {"batch_size": batch.size}
