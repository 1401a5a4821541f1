"""Recovery from a training step that runs out of device memory: halve the batch, go on.

A step updates the discriminator first and the generator last. When the step fails, the
generator and its optimiser are still as they were (their update is the step's last act), but
the discriminator may already have stepped: so before its update ``DiscriminatorSnapshot``
copies what that update changes (D's weights and buffers, its optimiser's state) into host
buffers allocated once, and a failed step copies them back. On CUDA the copies are queued on
the step's stream before the update, so they cost transfer time, not a synchronisation.

The failed batch and the rest of the epoch are then drawn in half-size batches in the same
sample order (``ShrinkableEpoch``), with the RNG as it was before the failed step: the run goes
on as one configured with the smaller batch from that step would, and no sample is skipped or
repeated. Later epochs use the smaller size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from rvc_pipeline.progress import log_progress

log = logging.getLogger(__name__)

OUT_OF_MEMORY = (torch.OutOfMemoryError,)  # torch.cuda.OutOfMemoryError is the same class
ADVICE = (
    "use a shorter training segment (config.json train.segment_size), train: {precision: bf16} or "
    "{precision: fp16}, or train: {checkpointing: true}"
)


class OutOfMemoryAtBatchOne(RuntimeError):
    """Even one clip per step does not fit in the device's memory."""


def halved(batch_size: int, epoch: int, step: int, name: str) -> int:
    """The batch size after an out-of-memory error at ``step``, said on the console and in the log."""
    if batch_size <= 1:
        raise OutOfMemoryAtBatchOne(
            f"train {name}: out of device memory at epoch {epoch} step {step} with batch size 1: "
            f"one clip per step does not fit; {ADVICE}"
        )
    smaller = batch_size // 2
    log_progress(
        f"train {name}: out of device memory at epoch {epoch} step {step} with batch size {batch_size}: "
        f"continuing from the state before that step with batch size {smaller}",
        level=logging.WARNING,
    )
    return smaller


class DiscriminatorSnapshot:
    """Host copies of the discriminator's weights, buffers and optimiser state, taken before its update."""

    def __init__(self, net_d: torch.nn.Module, optim_d: torch.optim.Optimizer) -> None:
        self.net_d = net_d
        self.optim_d = optim_d
        self._copies: list[torch.Tensor] = []
        self._with_state: set[int] = set()  # ids of the parameters that had optimiser state

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optim_d.param_groups for p in group["params"]]

    def _live(self) -> list[torch.Tensor]:
        tensors = [t.detach() for t in self.net_d.state_dict(keep_vars=True).values()]
        for p in self._params():
            tensors += [v for v in self.optim_d.state.get(p, {}).values() if torch.is_tensor(v)]
        return tensors

    def take(self) -> None:
        live = self._live()
        if [c.shape for c in self._copies] != [t.shape for t in live]:  # the first steps: state appears
            pin = live[0].device.type == "cuda"
            self._copies = [torch.empty_like(t, device="cpu", pin_memory=pin) for t in live]
        for copy, tensor in zip(self._copies, live):
            copy.copy_(tensor, non_blocking=True)
        self._with_state = {id(p) for p in self._params() if self.optim_d.state.get(p)}

    def restore(self) -> None:
        for p in self._params():
            if id(p) not in self._with_state:
                self.optim_d.state.pop(p, None)  # state made by the failed update
        with torch.no_grad():
            for tensor, copy in zip(self._live(), self._copies):
                tensor.copy_(copy)


def free_step(
    net_g: torch.nn.Module, net_d: torch.nn.Module, scaler: torch.amp.GradScaler, device: torch.device
) -> torch.amp.GradScaler:
    """Drop the failed step's gradients and cached blocks; returns a grad scaler with the old
    scaler's state and none of the failed step's per-optimiser bookkeeping."""
    for net in (net_g, net_d):
        net.zero_grad(set_to_none=True)
    fresh = torch.amp.GradScaler(device.type, enabled=scaler.is_enabled())
    fresh.load_state_dict(scaler.state_dict())
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return fresh


class ShrinkableEpoch:
    """One epoch's batches as ``(sample indices, batch)``; ``shrink`` redraws the last one and
    the rest in smaller batches, in the same sample order."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        # The sampler draws its order from its own seeded generator, so listing it here and the
        # loader's iteration give the same batches and leave the global RNG alone.
        self.order: list[list[int]] = list(loader.batch_sampler)
        self.done = 0
        self._batches = iter(loader)

    def __iter__(self) -> Iterator[tuple[list[int], Any]]:
        while True:
            try:
                for_step = next(self._batches)
            except StopIteration:
                return
            self.done += 1
            yield self.order[self.done - 1], for_step

    def shrink(self, batch_size: int) -> None:
        """Split the batch just drawn and every later one into batches of at most ``batch_size``."""
        self.done -= 1
        rest = self.order[self.done :]
        smaller = [batch[i : i + batch_size] for batch in rest for i in range(0, len(batch), batch_size)]
        self.order = self.order[: self.done] + smaller
        loader = self.loader
        self._batches = iter(
            DataLoader(
                loader.dataset,
                batch_sampler=smaller,
                collate_fn=loader.collate_fn,
                num_workers=loader.num_workers,
                pin_memory=loader.pin_memory,
            )
        )


def probe_batch_size(fits: Callable[[int], None], largest: int, name: str) -> int:
    """The largest batch size in 1, 2, 4, ... ``largest`` for which ``fits(size)`` (a training
    step on the longest clips) raises no out-of-memory error."""
    size, fitted = 1, 0
    while size <= largest:
        try:
            fits(size)
        except OUT_OF_MEMORY:
            break
        fitted, size = size, size * 2
    if not fitted:
        raise OutOfMemoryAtBatchOne(f"train {name}: batch_size auto: one clip per step does not fit; {ADVICE}")
    log_progress(f"train {name}: batch_size auto: {fitted} clips per step fit in the device's memory")
    return fitted
