"""Step 3 of one experiment as the workflow runs it: filelist + config, training, export.

The training state (``G_*.pth``, ``D_*.pth``, ``losses.tsv``) lives in the experiment folder as
in RVC's ``logs/EXP``; it is not a Snakemake output, so a failed or resubmitted job resumes it.
What the state was trained on is recorded beside it (``train_inputs.json``): when the filelist,
config or result-changing options differ, the old state is moved to ``superseded/`` (nothing is
lost) and training starts afresh, so an added recording really retrains the model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from rvc_pipeline.atomic import atomic_path, remove_stale_temps
from rvc_pipeline.checkpoint import complete_pairs, load_checkpoint, move_aside
from rvc_pipeline.export import export_model
from rvc_pipeline.filelist import write_config, write_filelist
from rvc_pipeline.locks import training_lock
from rvc_pipeline.models import ModelConfig, rvc_hparams, tiny_hparams
from rvc_pipeline.report import entry_rows, read_reports
from rvc_pipeline.sources import discover_sources
from rvc_pipeline.train import TrainOptions, options_argv, train

log = logging.getLogger(__name__)

INPUTS_FILE = "train_inputs.json"
# The training job's own files in the state folder (their temp files are stale when it starts).
STATE_FILES = ("G_*.pth", "D_*.pth", "losses.tsv", INPUTS_FILE)
# Options that only say how long or how to run, not what is learnt: changing them continues training.
CONTINUING_OPTIONS = {"epochs", "save_every_epoch", "keep_latest_only", "num_workers", "log_interval", "device", "precision"}


def experiment_hparams(model: str, sample_rate: int, version: str) -> dict:
    """RVC's config.json for the rate and version, or the tiny model of the tests and the demo."""
    return rvc_hparams(sample_rate, version) if model == "rvc" else tiny_hparams(sample_rate)


def require_segments(source_reports: list[str | os.PathLike], input_dir: str | None) -> None:
    """Raise, listing every entry of ``input_dir`` and what became of it, when none gave a segment.

    ``source_reports`` are the per-source reports of slicing; the entries never sliced are read
    from ``input_dir`` again (only on failure, so adding one to the folder reruns nothing here).
    """
    if any(row.segments for path in source_reports for row in read_reports(path)):
        return
    excluded = discover_sources(input_dir)[1] if input_dir and os.path.isdir(input_dir) else {}
    lines = []
    for row in entry_rows(source_reports, excluded):
        why = "; ".join(part for part in (row.reason, row.dropped[:200]) if part)
        lines.append(f"  {row.source}: {row.status}" + (f": {why}" if why else ""))
    listing = "\n".join(lines) if lines else "  (it holds no recordings)"
    raise ValueError(f"nothing to train on: no recording in {input_dir!r} kept a segment:\n{listing}")


def prepare_training(
    filelist: str | os.PathLike,
    config: str | os.PathLike,
    report: str | os.PathLike,
    *,
    source_reports: list[str],
    input_dir: str | None,
    gt_wavs: list[str],
    features: list[str],
    f0_coarse: list[str] | None,
    f0_hz: list[str] | None,
    mute_dir: str,
    model: str,
    sample_rate: int,
    version: str,
    spk_id: int,
    seed: int,
    precision: str,
) -> None:
    """``filelist.txt`` and ``config.json`` (RVC's formats), and the report of clips left out.

    Fails listing each recording and why it gave nothing when no recording kept a segment.
    """
    require_segments(source_reports, input_dir)
    hparams = experiment_hparams(model, sample_rate, version)
    rows = write_filelist(
        filelist,
        gt_wavs,
        features,
        f0_coarse,
        f0_hz,
        mute_dir=mute_dir,
        sample_rate=sample_rate,
        hop_length=ModelConfig.from_hparams(hparams).hop_length,
        version=version,
        spk_id=spk_id,
        seed=seed,
    )
    write_config(hparams, config, fp16_run=precision == "fp16")
    with atomic_path(report) as tmp:
        tmp.write_text("file\treason\n" + "".join(f"{r['file']}\t{r['reason']}\n" for r in rows), encoding="utf-8")


def _fingerprint(filelist: Path, config: Path, options: TrainOptions) -> dict:
    digest = hashlib.sha256(filelist.read_bytes() + b"\0" + config.read_bytes()).hexdigest()
    chosen = {k: v for k, v in dataclasses.asdict(options).items() if k not in CONTINUING_OPTIONS}
    return {"data_sha256": digest, "options": chosen}


def _supersede_if_changed(state_dir: Path, fingerprint: dict) -> None:
    """Move a state trained on other inputs out of the way, so training starts afresh."""
    recorded_path = state_dir / INPUTS_FILE
    recorded = json.loads(recorded_path.read_text()) if recorded_path.is_file() else None
    pairs = complete_pairs(state_dir)
    if pairs and recorded != fingerprint:
        moved = [p for pair in pairs for p in (pair.g_path, pair.d_path)]
        moved += [p for p in (state_dir / "losses.tsv", recorded_path) if p.is_file()]
        target = move_aside(moved, state_dir / "superseded")
        log.warning(
            "training inputs changed since %s was trained: moved %d files to %s and starting afresh",
            state_dir,
            len(moved),
            target,
        )
    with atomic_path(recorded_path) as tmp:
        tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")


def train_experiment(
    filelist: str | os.PathLike,
    config: str | os.PathLike,
    trained: str | os.PathLike,
    *,
    state_dir: str | os.PathLike,
    options: dict,
    gpus: int = 0,
    threads: int = 1,
    log_file: str | os.PathLike | None = None,
) -> Path:
    """Train (resuming where the inputs are unchanged) and write ``trained`` naming the last G/D.

    ``options`` are ``TrainOptions`` fields (the rule's params, which Snakemake records).
    Without ``gpus`` training runs on the CPU in fp32 whatever ``options.precision`` says; with
    several it runs under torchrun, one process per GPU (DDP). Data loading gets ``threads - 1``
    worker processes.
    """
    options = TrainOptions(
        **{
            **options,
            "device": "cuda" if gpus else "cpu",
            "precision": options.get("precision", "fp32") if gpus else "fp32",
            "num_workers": max(0, threads - 1),
        }
    )
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    with training_lock(state):
        remove_stale_temps(state, STATE_FILES)
        return _train_locked(Path(filelist), Path(config), Path(trained), state, options, gpus, log_file)


def _train_locked(
    filelist: Path,
    config: Path,
    trained: Path,
    state: Path,
    options: TrainOptions,
    gpus: int,
    log_file: str | os.PathLike | None,
) -> Path:
    devices = max(1, gpus)
    _supersede_if_changed(state, _fingerprint(filelist, config, options))
    if devices > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}"]
        cmd += ["-m", "rvc_pipeline.train", "--filelist", str(filelist), "--config", str(config)]
        cmd += ["--state-dir", str(state), *options_argv(options)]
        cmd += ["--log", str(log_file)] if log_file else []
        log.info("DDP over %d devices: %s", devices, " ".join(cmd))
        subprocess.run(cmd, check=True)
        g_path = complete_pairs(state)[-1].g_path
    else:
        g_path = train(filelist, config, state, options)
    g = load_checkpoint(g_path)
    summary = {"G": str(g_path), "D": str(g_path.with_name("D" + g_path.name[1:])), "epoch": g["iteration"]}
    with atomic_path(trained) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return g_path


def export_experiment(
    trained: str | os.PathLike, config: str | os.PathLike, weights: str | os.PathLike, *, f0: bool, version: str
) -> None:
    """RVC's small voice model (``weights/{experiment}.pth``) from the last trained generator."""
    summary = json.loads(Path(trained).read_text())
    hparams = json.loads(Path(config).read_text())
    export_model(summary["G"], hparams, weights, epoch=summary["epoch"], f0=f0, version=version)
    log.info("exported %s (epoch %s) to %s", summary["G"], summary["epoch"], weights)
