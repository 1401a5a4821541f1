"""Whether the training state of an experiment is still of its inputs; setting it aside if not.

The state (``G_*.pth``, ``D_*.pth``, ``losses.tsv``, the epochs' small models) lives in the experiment folder as in RVC's
``logs/EXP``. What it was trained on is recorded beside it (``train_inputs.json``): the segments
of ``filelist.txt``, ``config.json`` less its precision, the options that change the model and,
warm-started from an RVC folder, that folder's G/D.
When they differ, the old state is moved to ``superseded/`` (nothing is lost) and training
starts afresh, so an added recording really retrains the model; a change of how long or how it
trains (epochs, precision, ...) continues it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.training.checkpoint import complete_pairs, move_aside
from rvc_pipeline.training.export import epoch_models
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.rvc_folder import start_digest
from rvc_pipeline.layout import VALIDATION_DIR

log = logging.getLogger(__name__)

INPUTS_FILE = "train_inputs.json"
FINGERPRINT_FORMAT = 2
# What each part of the fingerprint stands for, in the message when it changed.
PARTS = {
    "segments_sha256": "the segments of filelist.txt",
    "hparams_sha256": "config.json",
    "start_sha256": "the warm-start folder's G/D",  # only with an RVC folder as warm start
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def segments_digest(filelist: str | os.PathLike) -> str:
    """Hash of ``filelist.txt`` with its paths relative to the experiment folder (the filelist's).

    The lines name each segment's files and speaker, in training order; relative, they stay the
    same when the results folder moves.
    """
    root = os.path.abspath(Path(filelist).parent) + os.sep
    lines = Path(filelist).read_text(encoding="utf-8").split("\n")
    return _sha256("\n".join("|".join(f.removeprefix(root) for f in line.split("|")) for line in lines))


def hparams_digest(config: str | os.PathLike) -> str:
    """Hash of ``config.json`` without ``train.fp16_run``: precision does not change what is learnt."""
    hparams = json.loads(Path(config).read_text(encoding="utf-8"))
    hparams.get("train", {}).pop("fp16_run", None)
    return _sha256(json.dumps(hparams, sort_keys=True))


def training_fingerprint(filelist: str | os.PathLike, config: str | os.PathLike, options: TrainOptions) -> dict:
    """What a training state is of: the content of ``train_inputs.json``."""
    fingerprint = {
        "format": FINGERPRINT_FORMAT,
        "segments_sha256": segments_digest(filelist),
        "hparams_sha256": hparams_digest(config),
        "options": options.model_options(),
    }
    start = start_digest(options.warm_start)
    if start:
        fingerprint["start_sha256"] = start
    return fingerprint


def _first_format(filelist: Path, config: Path, options: TrainOptions) -> dict:
    """The fingerprint before format 2 (a hash of both files' bytes), recognised so that
    experiments trained before continue; it saw precision and the results folder's place."""
    digest = hashlib.sha256(filelist.read_bytes() + b"\0" + config.read_bytes()).hexdigest()
    return {"data_sha256": digest, "options": options.model_options()}


def changes(recorded: Any, fingerprint: dict, filelist: Path, config: Path, options: TrainOptions) -> list[str]:
    """What differs between the ``recorded`` fingerprint and the current one (empty: nothing)."""
    if not isinstance(recorded, dict):
        return [f"no {INPUTS_FILE} records what the checkpoints were trained on"]
    if "format" not in recorded:
        same = recorded == _first_format(filelist, config, options)
        return [] if same else [f"the inputs in {INPUTS_FILE} (first format)"]
    changed = [what for key, what in PARTS.items() if recorded.get(key) != fingerprint.get(key)]
    old, new = recorded.get("options", {}), fingerprint["options"]
    changed += [f"option {k}" for k in sorted(set(old) | set(new)) if (k in old, old.get(k)) != (k in new, new.get(k))]
    return changed


def supersede_if_changed(
    state_dir: str | os.PathLike, filelist: str | os.PathLike, config: str | os.PathLike, options: TrainOptions
) -> None:
    """Move a state trained on other inputs out of the way, so training starts afresh; then
    record the current inputs."""
    state, filelist, config = Path(state_dir), Path(filelist), Path(config)
    fingerprint = training_fingerprint(filelist, config, options)
    recorded_path = state / INPUTS_FILE
    recorded = json.loads(recorded_path.read_text()) if recorded_path.is_file() else None
    pairs = complete_pairs(state)
    changed = changes(recorded, fingerprint, filelist, config, options) if pairs else []
    if changed:
        moved = [p for pair in pairs for p in (pair.g_path, pair.d_path)]
        moved += [p for p in (state / "losses.tsv", recorded_path, state / VALIDATION_DIR) if p.exists()]
        moved += sorted(state.glob("events.out.tfevents.*"))  # TensorBoard's
        moved += epoch_models(state)  # export_every's, of the superseded checkpoints
        target = move_aside(moved, state / "superseded")
        log.warning(
            "training inputs changed since %s was trained (%s): moved %d files to %s and starting afresh",
            state,
            ", ".join(changed),
            len(moved),
            target,
        )
    with atomic_path(recorded_path) as tmp:
        tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")
