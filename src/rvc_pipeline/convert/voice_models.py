"""RVC's checkpoint tab on files: a model's info, editing it, merging two models, extracting a
small model from a training checkpoint.

A *small model* is RVC's ``assets/weights/{name}.pth`` (``weight``, ``config``, ``info``, ``sr``,
``f0``, ``version``; see ``export``); a *training checkpoint* is a ``G_{step}.pth`` (``model``,
``iteration``, ...), whose hyper-parameters are in the ``config.json`` beside it. Every load is
``weights_only`` (``torch_files.load_checkpoint``) and every write atomic, after all checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rvc_pipeline.torch_files import load_checkpoint, model_state
from rvc_pipeline.training.checkpoint import EXTRA_KEY, LATEST_STEP
from rvc_pipeline.training.checkpoint_header import generator_kind
from rvc_pipeline.training.export import export_model, write_small_model
from rvc_pipeline.layout import rate_name
from rvc_pipeline.models import ModelConfig
from rvc_pipeline.overwrite import refuse_overwrite
from rvc_pipeline.training.rvc_folder import CONFIG

# Keys ``info`` reports under its own names or not at all; any other scalar field (other tools
# add author, creation date, epoch, step, ...) is shown as it is.
_SKIPPED = ("weight", "config", "model", "optimizer", EXTRA_KEY, "sr", "f0", "version", "info", "iteration")
_EPOCH_INFO = re.compile(r"^(\d+)epoch$")  # RVC's info of an exported model: "{epoch}epoch"


@dataclass(frozen=True)
class VoiceModel:
    """One file as the tab sees it: the generator's weights and what they are."""

    path: Path
    data: dict[str, Any]  # the file's dict
    weight: dict[str, torch.Tensor]  # generator state dict (a checkpoint's still has enc_q)
    sample_rate: str  # "40k"
    f0: bool
    version: str
    export_config: list[Any]  # RVC's `config` list
    hparams: dict[str, Any] | None  # config.json beside a training checkpoint

    @property
    def is_checkpoint(self) -> bool:
        return "model" in self.data

    def files(self, role: str) -> dict[str, Path]:
        """What the model was read from, by role: its file, and a checkpoint's config.json."""
        files = {role: self.path}
        if self.is_checkpoint:
            files[f"{role}'s {CONFIG}"] = self.path.parent / CONFIG
        return files


def _beside_config(path: Path) -> dict[str, Any]:
    config = path.parent / CONFIG
    if not config.is_file():
        raise ValueError(
            f"{path}: a training checkpoint carries no hyper-parameters, and there is no {CONFIG} beside it"
        )
    try:
        return json.loads(config.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{config}: not valid JSON ({err})") from err


def open_model(path: str | os.PathLike) -> VoiceModel:
    """A small model or a ``G_*.pth`` (with its config.json), checked to be a generator."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    data = load_checkpoint(path)
    weight = model_state(data, path)
    version, f0 = generator_kind({k: tuple(v.shape) for k, v in weight.items()}, path)
    if "model" in data:
        hparams = _beside_config(path)
        try:
            export_config = ModelConfig.from_hparams(hparams).to_export_list()
            rate = rate_name(hparams["data"]["sampling_rate"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path.parent / CONFIG}: not an RVC config.json ({err})") from err
        return VoiceModel(path, data, weight, rate, f0, version, export_config, hparams)
    if "config" not in data:
        raise ValueError(f"{path}: a 'weight' dict but no 'config': not an RVC small model")
    if str(data.get("version", "v1")) != version:
        raise ValueError(f"{path}: says version {data.get('version')!r} but its weights are {version}'s")
    rate = data.get("sr") or rate_name(int(data["config"][-1]))
    return VoiceModel(path, data, weight, str(rate), f0, version, list(data["config"]), None)


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """What RVC's "show info" shows (info, rate, pitch, version) and more: epoch and step where
    known, other tools' scalar fields (author, creation date, ...), the file's SHA-256."""
    model = open_model(path)
    data = model.data
    info: dict[str, Any] = {
        "file": str(model.path),
        "kind": "training checkpoint" if model.is_checkpoint else "small model",
        "sample_rate": model.sample_rate,
        "f0": model.f0,
        "version": model.version,
        "info": data.get("info"),
        "epoch": None,
        "step": None,
        "tensors": len(model.weight),
    }
    if model.is_checkpoint:
        info["epoch"] = data.get("iteration")
        info["step"] = data.get(EXTRA_KEY, {}).get("global_step") or _step_from_name(model.path)
    elif isinstance(data.get("info"), str) and _EPOCH_INFO.match(data["info"]):
        info["epoch"] = int(_EPOCH_INFO.match(data["info"]).group(1))
    for key, value in data.items():
        if key not in _SKIPPED and (isinstance(value, (str, int, float, bool)) or value is None):
            info[key] = value
    info["sha256"] = sha256(model.path)
    return info


def _step_from_name(path: Path) -> int | None:
    match = re.match(r"^G_(\d+)\.pth$", path.name)
    return int(match.group(1)) if match and int(match.group(1)) != LATEST_STEP else None


def set_info(path: str | os.PathLike, text: str) -> None:
    """Replace a small model's ``info`` text in place (atomically); every other key is kept, in order."""
    model = open_model(path)
    if model.is_checkpoint:
        raise ValueError(f"{path}: a training checkpoint has no info text; extract a small model first")
    data = model.data
    data["info"] = text
    write_small_model(data, model.path)


def merge_models(
    a: str | os.PathLike,
    b: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weight: float,
    info: str = "",
) -> None:
    """RVC's merge: every tensor ``weight·A + (1-weight)·B`` in float, then fp16, as a small model.

    A and B are small models or training checkpoints (their ``config.json`` beside them; enc_q
    dropped, as in an export), with the same rate, pitch setting, version and tensor names
    (RVC checks only the names). Speaker embeddings of different sizes are cut to the smaller,
    as RVC does. ``config`` (and so the rate) comes from A, ``info`` is ``info``.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the weight of A must be between 0 and 1, got {weight}")
    model_a, model_b = open_model(a), open_model(b)
    refuse_overwrite(out, {**model_a.files("model A"), **model_b.files("model B")}, what="the merged model")
    differences = [
        f"{what}: {model_a.path.name} {x}, {model_b.path.name} {y}"
        for what, x, y in (
            ("sample rate", model_a.sample_rate, model_b.sample_rate),
            ("f0", model_a.f0, model_b.f0),
            ("version", model_a.version, model_b.version),
        )
        if x != y
    ]
    if differences:
        raise ValueError("cannot merge models that differ in " + "; ".join(differences))
    wa, wb = _inference_weights(model_a), _inference_weights(model_b)
    if list(wa) != list(wb):
        only = sorted(set(wa) ^ set(wb))
        raise ValueError(
            f"{model_a.path} and {model_b.path} have different tensors (another architecture): "
            + ", ".join(only[:8])
        )
    merged = OrderedDict()
    for key, x in wa.items():
        y = wb[key]
        if key == "emb_g.weight" and x.shape[0] != y.shape[0]:
            n = min(x.shape[0], y.shape[0])
            x, y = x[:n], y[:n]
        if x.shape != y.shape:
            raise ValueError(
                f"{key}: {model_a.path.name} {tuple(x.shape)}, {model_b.path.name} {tuple(y.shape)}"
            )
        merged[key] = (weight * x.float() + (1 - weight) * y.float()).half()
    result = OrderedDict(
        weight=merged,
        config=model_a.export_config,
        sr=model_a.sample_rate,
        f0=int(model_a.f0),
        version=model_a.version,
        info=info,
    )
    write_small_model(result, out)


def _inference_weights(model: VoiceModel) -> dict[str, torch.Tensor]:
    """The weights a small model keeps: all but the posterior encoder (enc_q)."""
    return {k: v for k, v in model.weight.items() if "enc_q" not in k}


def extract_model(checkpoint: str | os.PathLike, out: str | os.PathLike) -> None:
    """The small model of a ``G_*.pth``, as the workflow's ``export_model`` writes it for that
    epoch: hyper-parameters from the ``config.json`` beside it, pitch and version from the shapes."""
    model = open_model(checkpoint)
    refuse_overwrite(out, model.files("checkpoint"), what="the small model")
    if not model.is_checkpoint:
        raise ValueError(f"{checkpoint}: already a small model (no 'model' state dict to extract from)")
    epoch = model.data.get("iteration")
    if not isinstance(epoch, int):
        raise ValueError(f"{checkpoint}: no epoch ('iteration') in it: not a training checkpoint")
    export_model(model.weight, model.hparams, out, epoch=epoch, f0=model.f0, version=model.version)
