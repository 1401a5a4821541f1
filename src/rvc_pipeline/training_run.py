"""The train_model job of one experiment: one trainer at a time, old state superseded when its
inputs changed, training in this process or under torchrun (one process per GPU, DDP), and
``trained.json`` naming the result.

The training state lives in the experiment folder (``state_dir``), not in Snakemake's outputs,
so a failed or resubmitted job resumes it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from rvc_pipeline.atomic import atomic_path, remove_stale_temps
from rvc_pipeline.checkpoint import complete_pairs, load_checkpoint
from rvc_pipeline.history import best_epoch, read_history
from rvc_pipeline.locks import training_lock
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.supersede import INPUTS_FILE, supersede_if_changed
from rvc_pipeline.train import train

log = logging.getLogger(__name__)

# The training job's own files in the state folder (their temp files are stale when it starts).
STATE_FILES = ("G_*.pth", "D_*.pth", "losses.tsv", INPUTS_FILE)


def train_experiment(
    filelist: str | os.PathLike,
    validation: str | os.PathLike,
    config: str | os.PathLike,
    trained: str | os.PathLike,
    *,
    state_dir: str | os.PathLike,
    options: TrainOptions,
    gpus: int = 0,
    threads: int = 1,
    log_file: str | os.PathLike | None = None,
) -> Path:
    """Train (resuming where the inputs are unchanged) and write ``trained`` naming the last G/D
    and the saved G with the lowest validation loss (``best``, when there is a validation loss).

    Without ``gpus`` training runs on the CPU in fp32 whatever ``options.precision`` says; with
    several it runs under torchrun, one process per GPU (DDP). Data loading gets ``threads - 1``
    worker processes.
    """
    options = options.for_job(gpus, threads)
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    with training_lock(state):
        remove_stale_temps(state, STATE_FILES)
        supersede_if_changed(state, filelist, config, options)
        if gpus > 1:
            g_path = _torchrun(gpus, Path(filelist), Path(validation), Path(config), state, options, log_file)
        else:
            g_path = train(filelist, config, state, options, validation=validation)
        _write_summary(g_path, state, Path(trained))
    return g_path


def _torchrun(
    devices: int,
    filelist: Path,
    validation: Path,
    config: Path,
    state: Path,
    options: TrainOptions,
    log_file: str | os.PathLike | None,
) -> Path:
    """Train under torchrun, one process per device; returns the last generator checkpoint."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}"]
    cmd += ["-m", "rvc_pipeline.train", "--filelist", str(filelist), "--config", str(config)]
    cmd += ["--state-dir", str(state), "--validation", str(validation), "--options", options.to_json()]
    cmd += ["--log", str(log_file)] if log_file else []
    log.info("DDP over %d devices: %s", devices, " ".join(cmd))
    subprocess.run(cmd, check=True)
    return complete_pairs(state)[-1].g_path


def _write_summary(g_path: Path, state: Path, trained: Path) -> None:
    g = load_checkpoint(g_path)
    summary = {"G": str(g_path), "D": str(g_path.with_name("D" + g_path.name[1:])), "epoch": g["iteration"]}
    best = best_saved(state)
    if best is not None:
        summary["best"] = best
    with atomic_path(trained) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")


def best_saved(state_dir: str | os.PathLike) -> dict | None:
    """``{"G", "epoch", "val_loss_mel"}`` of the saved checkpoint with the lowest validation loss.

    Saved epochs are known by their global step (``losses.tsv`` has both); RVC's fixed
    latest-only name is read for its epoch. None without a validation loss.
    """
    history = read_history(Path(state_dir) / "losses.tsv")
    epoch_of_step = {int(row["step"]): int(row["epoch"]) for row in history}
    saved = {}
    for pair in complete_pairs(state_dir):
        epoch = epoch_of_step.get(pair.step) or int(load_checkpoint(pair.g_path)["iteration"])
        saved[epoch] = pair.g_path
    best = best_epoch(history, set(saved))
    if best is None:
        return None
    return {"G": str(saved[best[0]]), "epoch": best[0], "val_loss_mel": best[1]}
