"""The feature model for given weights (fairseq .pt file, Hugging Face folder or a stand-in), once per process."""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path

from transformers import HubertConfig

from rvc_pipeline.features.hubert.fairseq import load_fairseq
from rvc_pipeline.features.hubert.model import HubertFeatureModel
from rvc_pipeline.features.hubert.standin import check_standin, model_class, standin_model
from rvc_pipeline.torch_files import diagnose

log = logging.getLogger(__name__)

_LOAD_LOCK = threading.Lock()


# The weights file transformers reads from a folder, in its order of preference.
_HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _key(item: str | tuple) -> str:
    """A key of transformers' loading info; a mismatched one is (key, file's shape, model's shape)."""
    if isinstance(item, tuple):
        key, theirs, ours = item
        return f"{key} {tuple(theirs)} (model {tuple(ours)})"
    return str(item)


def load_hf_folder(folder: Path) -> HubertFeatureModel:
    """HubertFeatureModel from a Hugging Face folder (config.json + weights with final_proj.*).

    Whatever does not load (a pickle that ``weights_only`` refuses, a damaged or missing file,
    keys that differ) is a ValueError of one line naming the file.
    """
    if not (folder / "config.json").is_file():  # transformers would take HuBERT base's defaults
        raise ValueError(f"{folder}: a folder without config.json is not a Hugging Face HuBERT")
    try:
        cls = model_class(HubertConfig.from_pretrained(folder, local_files_only=True))
    except Exception as err:  # a foreign config.json makes transformers raise anything
        raise ValueError(f"{folder / 'config.json'}: not a HuBERT config: {_one_line(err)}") from err
    weights = next((folder / name for name in _HF_WEIGHTS if (folder / name).is_file()), folder)
    try:
        # Mismatched shapes are reported with the other differences below, not as "see the report".
        model, info = cls.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as err:  # likewise for the weights: all mean "not usable"
        # A pickle gets the checkpoint reader's diagnosis: the global refused, a file cut short.
        why = diagnose(weights, err) if weights.name == "pytorch_model.bin" else _one_line(err)
        raise ValueError(f"{weights}: cannot load the weights: {why}") from err
    problems = [
        f"{label}: {', '.join(sorted(map(_key, info[key])))}"
        for key, label in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "shape mismatch"))
        if info.get(key)
    ]
    if problems:
        raise ValueError(f"{weights}: weights do not match the model: " + "; ".join(problems))
    return model


def read_hubert(path: Path) -> HubertFeatureModel:
    """The feature model in ``path`` (a Hugging Face folder or a fairseq file), read strictly and
    not cached: what the jobs load, and what ``pretrained verify`` checks, so the two agree."""
    return load_hf_folder(path) if path.is_dir() else load_fairseq(path)


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path | None, mtime_ns: int | None, device: str, standin: str | None) -> HubertFeatureModel:
    if path is None or mtime_ns is None:
        where = "not given" if path is None else f"not found at {path}"
        if standin is None:
            raise FileNotFoundError(f"HuBERT weights {where}, and no stand-in was asked for")
        log.warning(
            "HuBERT weights %s: using a RANDOMLY INITIALISED %s-size stand-in. Its features carry no "
            "content information, so a voice model trained on them will NOT be usable. Supply RVC's "
            "hubert_base.pt for real training.",
            where,
            standin,
        )
        model = standin_model(standin)
    else:
        model = read_hubert(path)
    return model.to(device).eval()


def load_hubert(
    weights: str | os.PathLike | None, device: str = "cpu", standin: str | None = "base"
) -> HubertFeatureModel:
    """The feature model for ``weights`` (fairseq .pt file or HF folder), cached per process.

    ``None`` or a missing path gives the ``standin`` random model ("base" or "tiny") with a loud
    warning, or a FileNotFoundError when ``standin`` is None. The cache key includes the file's
    mtime, so a replaced file is reloaded.
    """
    if standin is not None:
        check_standin(standin)
    path = Path(weights).resolve() if weights is not None else None
    mtime_ns = path.stat().st_mtime_ns if path is not None and path.exists() else None
    # One load at a time: concurrent first calls would each build the model.
    with _LOAD_LOCK:
        return _load_cached(path, mtime_ns, str(device), standin)
