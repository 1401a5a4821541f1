"""RVC's small inference model (``assets/weights/{name}.pth``): fp16 generator weights without enc_q."""

from __future__ import annotations

import glob
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.torch_files import load_checkpoint, model_state
from rvc_pipeline.layout import rate_name
from rvc_pipeline.models import ModelConfig, synthesizer_from_export

log = logging.getLogger(__name__)

EXPORT_CHOICES = ("latest", "best")  # the config's train.export
# export_experiment's choices beyond those: best by a train.best_by criterion other than the
# validation loss (trained.json's best_by).
BEST_BY_CHOICES = ("best:speaker_similarity",)
WEIGHTS_DIR = "weights"  # in the experiment folder: the exported model, and the epochs' with export_every


def epoch_model_path(state_dir: str | os.PathLike, epoch: int, step: int) -> Path:
    """RVC's name of a saved epoch's small model (its save_every_weights): ``weights/{experiment}_e{epoch}_s{step}.pth``."""
    state = Path(state_dir)
    return state / WEIGHTS_DIR / f"{state.name}_e{epoch}_s{step}.pth"


def epoch_models(state_dir: str | os.PathLike) -> list[Path]:
    """The saved epochs' small models of the experiment in ``state_dir``."""
    state = Path(state_dir)
    return sorted((state / WEIGHTS_DIR).glob(f"{glob.escape(state.name)}_e*_s*.pth"))


def export_model(
    g: Mapping[str, torch.Tensor] | str | os.PathLike,
    hparams: dict,
    out_path: str | os.PathLike,
    *,
    epoch: int,
    f0: bool,
    version: str,
) -> None:
    """Write the small model from a generator state dict or a ``G_*.pth`` checkpoint, atomically.

    Keys in RVC's order: weight (fp16, no ``enc_q.*``), config (the synthesiser's argument list),
    info ("{epoch}epoch"), sr ("40k"), f0 (1/0), version.
    """
    state = model_state(load_checkpoint(g), g) if isinstance(g, (str, os.PathLike)) else g
    model = OrderedDict()
    model["weight"] = {k: v.detach().half().cpu() for k, v in state.items() if "enc_q" not in k}
    model["config"] = ModelConfig.from_hparams(hparams).to_export_list()
    model["info"] = f"{epoch}epoch"
    model["sr"] = rate_name(hparams["data"]["sampling_rate"])
    model["f0"] = int(f0)
    model["version"] = version
    write_small_model(model, out_path)


def write_small_model(model: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Save a small model's dict (RVC's key order kept) at ``path``, atomically."""
    with atomic_path(path) as tmp:
        torch.save(model, tmp)


def export_experiment(
    trained: str | os.PathLike,
    config: str | os.PathLike,
    weights: str | os.PathLike,
    *,
    f0: bool,
    version: str,
    choice: str = "latest",
) -> None:
    """RVC's small voice model (``weights/{experiment}.pth``) from the last trained generator, or
    with ``choice="best"`` from the saved one with the lowest validation loss, with
    ``"best:speaker_similarity"`` from the one whose held-out renderings are most like the
    training voice (``trained.json`` names them)."""
    if choice not in EXPORT_CHOICES + BEST_BY_CHOICES:
        raise ValueError(f"export must be one of {EXPORT_CHOICES + BEST_BY_CHOICES}, got {choice!r}")
    summary = json.loads(Path(trained).read_text())
    chosen = summary
    if choice == "best":
        chosen = summary.get("best") or summary
        if "best" not in summary:
            log.warning("export: best asked for, but there is no validation loss: exporting the latest epoch")
    elif choice.startswith("best:"):
        criterion = choice.removeprefix("best:")
        chosen = summary.get("best_by", {}).get(criterion) or summary
        if chosen is summary:
            log.warning("export: best by %s asked for, but it was not measured: exporting the latest epoch", criterion)
    hparams = json.loads(Path(config).read_text())
    export_model(chosen["G"], hparams, weights, epoch=chosen["epoch"], f0=f0, version=version)
    log.info("exported %s (epoch %s, %s) to %s", chosen["G"], chosen["epoch"], choice, weights)


def load_exported(path: str | os.PathLike) -> tuple[dict[str, Any], torch.nn.Module]:
    """Load a small model as RVC's inference does (``weights_only=True``; strictly: no weight
    missing, none unexpected; a file without ``version`` is v1, as RVC's first models).

    Returns the file's dict and the fp32 inference synthesiser (no enc_q) in eval mode.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    exported = load_checkpoint(path)
    return exported, synthesizer_from_export(exported, str(path))
