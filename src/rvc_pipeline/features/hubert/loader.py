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

log = logging.getLogger(__name__)

_LOAD_LOCK = threading.Lock()


def load_hf_folder(folder: Path) -> HubertFeatureModel:
    """HubertFeatureModel from a Hugging Face folder (config.json + weights with final_proj.*)."""
    cls = model_class(HubertConfig.from_pretrained(folder, local_files_only=True))
    model, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    problems = [
        f"{label}: {', '.join(sorted(map(str, info[key])))}"
        for key, label in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "shape mismatch"))
        if info.get(key)
    ]
    if problems:
        raise ValueError(f"{folder}: weights do not match the model: " + "; ".join(problems))
    return model


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
    elif path.is_dir():
        model = load_hf_folder(path)
    else:
        model = load_fairseq(path)
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
