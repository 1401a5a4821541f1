"""Training checkpoints in RVC's format (``G_{step}.pth`` / ``D_{step}.pth``), saved atomically;
read by ``torch_files.load_checkpoint``.

A checkpoint is ``{"model", "iteration" (the epoch), "optimizer", "learning_rate"}`` as RVC
writes it, so RVC can resume our files; our extra resume state (global step, scheduler, RNG
states, grad scaler) sits under one more key, ``"rvc_pipeline"``, which RVC ignores.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rvc_pipeline.atomic import atomic_path, atomic_paths
from rvc_pipeline.training.checkpoint_pairs import CheckpointPair, complete_pairs  # re-exported: the pairs by name
from rvc_pipeline.faults import fault_point
from rvc_pipeline.torch_files import load_checkpoint, unwrap

log = logging.getLogger(__name__)

LATEST_STEP = 2333333  # RVC's fixed step number for "keep the latest checkpoint only"
EXTRA_KEY = "rvc_pipeline"


def checkpoint_path(state_dir: str | os.PathLike, kind: str, step: int) -> Path:
    return Path(state_dir) / f"{kind}_{step}.pth"


def checkpoint_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    learning_rate: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """One checkpoint's dict in RVC's keys (fp32 weights), with our resume state under ``EXTRA_KEY``."""
    return {
        "model": {
            k: v.detach().float() if v.is_floating_point() else v
            for k, v in unwrap(model).state_dict().items()
        },
        "iteration": epoch,
        "optimizer": optimizer.state_dict(),
        "learning_rate": learning_rate,
        EXTRA_KEY: dict(extra),
    }


def save_checkpoints(states: Mapping[str | os.PathLike, Mapping[str, Any]]) -> None:
    """Write checkpoint files (path -> dict) as one: all of them, or none, even on a full disk.

    Each goes to a temp file first; only when all are written are they renamed (``atomic_paths``).
    """
    needed = sum(_tensor_bytes(state) for state in states.values())
    with atomic_paths(list(states), needed=needed) as temps:
        for tmp, state in zip(temps, states.values()):
            torch.save(dict(state), tmp)
            fault_point("checkpoint")


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    learning_rate: float,
    extra: Mapping[str, Any],
) -> None:
    """Write one checkpoint atomically: a kill leaves the previous file or the new one, never half."""
    state = checkpoint_state(model, optimizer, epoch=epoch, learning_rate=learning_rate, extra=extra)
    save_checkpoints({path: state})


def _tensor_bytes(value: Any) -> int:
    """The bytes of the tensors in a nested dict/list: about what torch.save writes."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    return 0


def move_aside(paths: list[Path], folder: Path) -> Path:
    """Move ``paths`` into a new time-stamped subfolder of ``folder`` (never over earlier ones)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for attempt in range(1, 1000):
        target = folder / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            target.mkdir(parents=True)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free subfolder of {folder} for {stamp}")
    for path in paths:
        shutil.move(path, target / path.name)
    return target


def latest_checkpoint(
    state_dir: str | os.PathLike, set_aside: bool = False
) -> tuple[CheckpointPair, dict, dict] | None:
    """The newest pair whose G and D load and belong to the same epoch, with both dicts loaded.

    A pair that does not load is skipped with a warning; with ``set_aside`` (the job that owns
    ``state_dir``) it is also moved to ``corrupt/``, so that the next save of that step cannot
    overwrite what is left of it.
    """
    for pair in reversed(complete_pairs(state_dir)):
        try:
            g, d = load_checkpoint(pair.g_path), load_checkpoint(pair.d_path)
        except ValueError as err:
            where = ""
            if set_aside:
                moved = move_aside([pair.g_path, pair.d_path], Path(state_dir) / "corrupt")
                where = f"; moved {pair.g_path.name} and {pair.d_path.name} to {moved}"
            log.warning("skipping checkpoint pair at step %d: %s%s", pair.step, err, where)
            continue
        g_extra, d_extra = g.get(EXTRA_KEY, {}), d.get(EXTRA_KEY, {})
        if g.get("iteration") != d.get("iteration") or g_extra.get("global_step") != d_extra.get(
            "global_step"
        ):
            log.warning(
                "skipping checkpoint pair at step %d: %s is from epoch %s but %s from epoch %s "
                "(a save was interrupted between the two files)",
                pair.step,
                pair.g_path.name,
                g.get("iteration"),
                pair.d_path.name,
                d.get("iteration"),
            )
            continue
        return pair, g, d
    return None


def publish_latest(source: Path, target: Path) -> None:
    """Atomically make ``target`` a copy of ``source`` (a hard link where the file system allows)."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
