"""The train_model job of one experiment: one trainer at a time, old state superseded when its
inputs changed, training in this process or under torchrun (one process per GPU, DDP), and
``trained.json`` naming the result.

The training state lives in the experiment folder (``state_dir``), not in Snakemake's outputs,
so a failed or resubmitted job resumes it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from rvc_pipeline.atomic import atomic_path, remove_stale_temps
from rvc_pipeline.torch_files import load_checkpoint
from rvc_pipeline.training.checkpoint import CheckpointPair, complete_pairs
from rvc_pipeline.devices import require_device
from rvc_pipeline.training.history import best_epoch_by, read_history
from rvc_pipeline.locks import training_lock
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.stopping import StopFlag, StopRequested, stop_on_signals
from rvc_pipeline.training.filelist import relocate_filelist
from rvc_pipeline.training.supersede import INPUTS_FILE, supersede_if_changed
from rvc_pipeline.training.loop import train
from rvc_pipeline.training.status import TrainingStatus, write_status

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
    worker processes. SIGINT or SIGTERM stops the training within a step: ``StopRequested``
    then says which epoch is kept.
    """
    options = options.for_job(gpus, threads)
    require_device(options.device)  # before torchrun starts one process per GPU
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    status = TrainingStatus("running", options.epochs, options.patience)
    with training_lock(state):
        write_status(state, status)
        try:
            remove_stale_temps(state, STATE_FILES)
            for listed in (filelist, validation):
                relocate_filelist(listed)  # for RVC's trainer and our readers of the raw lists
            supersede_if_changed(state, filelist, config, options)
            if gpus > 1:
                g_path = _torchrun(gpus, Path(filelist), Path(validation), Path(config), state, options, log_file)
            else:
                g_path = train(filelist, config, state, options, validation=validation)
            _write_summary(g_path, state, Path(trained))
        except StopRequested as stopped:
            kept = _kept(state, stopped.signum)
            write_status(state, dataclasses.replace(status, state="stopped", error=kept))
            raise StopRequested(stopped.signum, kept) from None
        except Exception as err:
            error = f"{type(err).__name__}: {err}" + (f" (details in {log_file})" if log_file else "")
            write_status(state, dataclasses.replace(status, state="failed", error=error))
            raise
        write_status(state, dataclasses.replace(status, state="done"))
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
    cmd += ["-m", "rvc_pipeline.training.cli", "--filelist", str(filelist), "--config", str(config)]
    cmd += ["--state-dir", str(state), "--validation", str(validation), "--options", options.to_json()]
    cmd += ["--log", str(log_file)] if log_file else []
    log.info("DDP over %d devices: %s", devices, " ".join(cmd))
    with stop_on_signals() as stop:
        # Its own session: a terminal's Ctrl-C reaches torchrun only through _wait, once.
        with subprocess.Popen(cmd, start_new_session=True) as child:
            _wait(child, stop)
    stop.check()
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return complete_pairs(state)[-1].g_path


def _wait(child: subprocess.Popen, stop: StopFlag) -> None:
    """Wait for ``child``; on a stop signal send SIGTERM to its process group (torchrun and its
    workers), which stop within a step."""
    forwarded = False
    while child.poll() is None:
        if stop.signum is not None and not forwarded:
            os.killpg(child.pid, signal.SIGTERM)
            forwarded = True
        try:
            child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass


def _kept(state: Path, signum: int) -> str:
    """The one line of a stopped training: what is kept and how to resume."""
    name = signal.Signals(signum).name
    saved = saved_epochs(state)
    if not saved:
        return f"training of {state} stopped by {name} before its first save: a rerun starts from the beginning"
    epoch = max(saved)
    pair = saved[epoch]
    return (
        f"training of {state} stopped by {name}: epoch {epoch} is kept ({pair.g_path.name}, {pair.d_path.name}), "
        f"the epoch in progress is dropped; run the same command again to resume after epoch {epoch}"
    )


def _write_summary(g_path: Path, state: Path, trained: Path) -> None:
    g = load_checkpoint(g_path)
    summary = {"G": str(g_path), "D": str(g_path.with_name("D" + g_path.name[1:])), "epoch": g["iteration"]}
    best = best_saved(state)
    if best is not None:
        summary["best"] = best
    by_similarity = best_saved(state, "speaker_similarity")
    if by_similarity is not None:
        summary["best_by"] = {"speaker_similarity": by_similarity}
    with atomic_path(trained) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")


def best_saved(state_dir: str | os.PathLike, criterion: str = "val_loss_mel") -> dict | None:
    """``{"G", "epoch", criterion}`` of the saved checkpoint that scores best by ``criterion``
    (history.BEST_BY; by default the lowest validation loss), or None when it was not measured."""
    history = read_history(Path(state_dir) / "losses.tsv")
    saved = saved_epochs(state_dir, history)
    best = best_epoch_by(history, criterion, set(saved))
    if best is None:
        return None
    return {"G": str(saved[best[0]].g_path), "epoch": best[0], criterion: best[1]}


def saved_epochs(state_dir: str | os.PathLike, history: list[dict] | None = None) -> dict[int, CheckpointPair]:
    """The complete checkpoint pairs by epoch.

    Saved epochs are known by their global step (``losses.tsv`` has both); RVC's fixed
    latest-only name is read for its epoch.
    """
    if history is None:
        history = read_history(Path(state_dir) / "losses.tsv")
    epoch_of_step = {int(row["step"]): int(row["epoch"]) for row in history}
    return {
        epoch_of_step.get(pair.step) or int(load_checkpoint(pair.g_path)["iteration"]): pair
        for pair in complete_pairs(state_dir)
    }
