"""An RVC experiment folder (RVC's ``logs/{name}``) as the start point of training.

The folder holds ``G_{step}.pth`` / ``D_{step}.pth`` pairs (or RVC's latest-only
``G_2333333.pth`` / ``D_2333333.pth``) and the ``config.json`` RVC wrote. Training starts from
its newest complete pair, as a warm start from another experiment does. Standard library only:
the workflow checks the folder while planning, reading shapes from the checkpoints' pickles
(``checkpoint_header``) rather than loading them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rvc_pipeline.training.checkpoint_header import (
    discriminator_version,
    generator_kind,
    read_header,
    state_shapes,
)
from rvc_pipeline.training.checkpoint_pairs import complete_pairs
from rvc_pipeline.layout import rate_name

CONFIG = "config.json"


def folder_files(folder: str | os.PathLike) -> dict[str, str]:
    """The files a warm start from ``folder`` reads: its newest complete G/D pair and config.json
    (keys ``warm_start_g``, ``warm_start_d``, ``warm_start_config``).

    Raises ValueError naming the folder when it is not one, lacks a pair or lacks config.json.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"warm_start {str(folder)!r}: neither an experiment of this config nor a folder")
    pairs = complete_pairs(folder)
    if not pairs:
        raise ValueError(
            f"warm_start {str(folder)!r}: no complete G_*.pth / D_*.pth pair in the folder (RVC's logs/{{name}})"
        )
    config = Path(folder) / CONFIG
    if not config.is_file():
        raise ValueError(f"warm_start {str(folder)!r}: no {CONFIG} beside the checkpoints (RVC writes one)")
    pair = pairs[-1]
    return {
        "warm_start_g": str(pair.g_path),
        "warm_start_d": str(pair.d_path),
        "warm_start_config": str(config),
    }


def config_rate(path: str | os.PathLike) -> int:
    """The sample rate in Hz of an RVC ``config.json`` (its ``data.sampling_rate``)."""
    try:
        return int(json.loads(Path(path).read_text(encoding="utf-8"))["data"]["sampling_rate"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: no data.sampling_rate in it ({type(err).__name__}: {err})") from err


def check_folder(folder: str | os.PathLike, *, sample_rate: int, f0: bool, version: str) -> dict[str, str]:
    """``folder_files(folder)`` after checking that its model has the experiment's rate, pitch
    setting and version; raises ValueError naming the folder and each difference.

    The rate comes from config.json; the version and pitch setting from the generator's shapes
    (features' width, pitch embedding) and the discriminator's number of periods.
    """
    files = folder_files(folder)
    g_path, d_path = files["warm_start_g"], files["warm_start_d"]
    found_version, found_f0 = generator_kind(state_shapes(read_header(g_path), g_path), g_path)
    d_version = discriminator_version(state_shapes(read_header(d_path), d_path), d_path)
    found_rate = config_rate(files["warm_start_config"])
    differences = [
        f"{what}: the folder's {theirs}, the experiment's {ours}"
        for what, theirs, ours in (
            ("sample_rate", _rate(found_rate), _rate(sample_rate)),
            ("f0", found_f0, f0),
            ("version", found_version, version),
            ("version of the discriminator", d_version, version),
        )
        if theirs != ours
    ]
    if differences:
        raise ValueError(
            f"warm_start {str(folder)!r} ({Path(g_path).name}, {Path(d_path).name}) does not fit the "
            f"experiment: {'; '.join(differences)}"
        )
    return files


def _rate(hz: int) -> str:
    try:
        return rate_name(hz)
    except ValueError:
        return f"{hz} Hz"


def start_digest(folder: str | os.PathLike | None) -> str | None:
    """SHA-256 of what a warm start from an RVC folder starts from (its newest pair, G then D),
    so that a training state of other start weights is set aside; None without a warm start, or
    for one of our experiments (it has ``trained.json``, whose changes the workflow follows)."""
    if not folder or (Path(folder) / "trained.json").exists():
        return None
    pairs = complete_pairs(folder)
    if not pairs:
        return None
    digest = hashlib.sha256()
    for path in (pairs[-1].g_path, pairs[-1].d_path):
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
