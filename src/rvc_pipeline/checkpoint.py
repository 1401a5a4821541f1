"""Training checkpoints in RVC's format (``G_{step}.pth`` / ``D_{step}.pth``), loaded safely.

A checkpoint is ``{"model", "iteration" (the epoch), "optimizer", "learning_rate"}`` as RVC
writes it, so RVC can resume our files; our extra resume state (global step, scheduler, RNG
states, grad scaler) sits under one more key, ``"rvc_pipeline"``, which RVC ignores.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.faults import fault_point

log = logging.getLogger(__name__)

LATEST_STEP = 2333333  # RVC's fixed step number for "keep the latest checkpoint only"
EXTRA_KEY = "rvc_pipeline"
_NAME = re.compile(r"^([GD])_(\d+)\.pth$")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def checkpoint_path(state_dir: str | os.PathLike, kind: str, step: int) -> Path:
    return Path(state_dir) / f"{kind}_{step}.pth"


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
    state = {
        "model": {
            k: v.detach().float() if v.is_floating_point() else v
            for k, v in unwrap(model).state_dict().items()
        },
        "iteration": epoch,
        "optimizer": optimizer.state_dict(),
        "learning_rate": learning_rate,
        EXTRA_KEY: dict(extra),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        fault_point("checkpoint")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` onto the CPU, with an error that names the file."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, ...: all mean "not a usable checkpoint"
        raise ValueError(f"{path}: cannot load checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a checkpoint dict (got {type(obj).__name__})")
    return obj


def model_state(checkpoint: Mapping[str, Any], source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a training checkpoint or pretrained file ("model") or an export ("weight")."""
    for key in ("model", "weight"):
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key])
    raise ValueError(f"{source}: no 'model' or 'weight' state dict in it (keys: {sorted(checkpoint)})")


def load_state_strict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str | os.PathLike
) -> None:
    """Load every tensor with matching names and shapes, or raise naming what differs.

    Dtypes may differ (RVC's pretrained files are fp16); values are cast to the model's dtype.
    """
    own = unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (
            ("shape mismatch", mismatched),
            ("missing from file", missing),
            ("unexpected in file", unexpected),
        ):
            if keys:
                shown = "; ".join(keys[:8]) + (f"; ... ({len(keys) - 8} more)" if len(keys) > 8 else "")
                parts.append(f"{len(keys)} {label}: {shown}")
        raise ValueError(
            f"{source}: does not fit the model (different config, version or f0 setting?): "
            + " | ".join(parts)
        )
    unwrap(model).load_state_dict(state, strict=True)


@dataclass(frozen=True)
class CheckpointPair:
    step: int
    g_path: Path
    d_path: Path


def complete_pairs(state_dir: str | os.PathLike) -> list[CheckpointPair]:
    """G/D pairs with the same step, oldest first; ``2333333`` (latest-only) sorts last as in RVC.

    A G without its D (or the reverse) is a save that was cut short and is ignored; temp files of
    interrupted writes start with "." and never match.
    """
    found: dict[int, dict[str, Path]] = {}
    folder = Path(state_dir)
    if folder.is_dir():
        for path in folder.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_file():
                found.setdefault(int(match.group(2)), {})[match.group(1)] = path
    return [
        CheckpointPair(step, kinds["G"], kinds["D"])
        for step, kinds in sorted(found.items())
        if len(kinds) == 2
    ]


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
