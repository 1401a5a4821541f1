"""Loading RVC's ``rmvpe.pt`` (a plain state dict) strictly into `Rmvpe`, once per process and device."""

from __future__ import annotations

import functools
import logging
import os
import pickle
import threading
from pathlib import Path

import torch

from rvc_pipeline.torch_files import diagnose
from rvc_pipeline.pitch.rmvpe.estimator import PitchEstimator
from rvc_pipeline.pitch.rmvpe.network import Rmvpe

log = logging.getLogger(__name__)

_LOAD_LOCK = threading.Lock()


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of an rmvpe.pt, read with ``weights_only=True``; anything else is an error naming the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch state dict: {diagnose(path, err)}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a plain state dict of tensors (RVC's rmvpe.pt), got {type(state).__name__}")
    return state


def rmvpe_network(path: str | os.PathLike) -> Rmvpe:
    """`Rmvpe` holding the weights of ``path``; missing or unexpected keys and shape mismatches are errors."""
    state = read_state_dict(path)
    with torch.device("meta"):  # shapes only: random initialisation of 90 M weights costs seconds
        net = Rmvpe()
    expected = net.state_dict()
    problems = {
        "missing": sorted(set(expected) - set(state)),
        "unexpected": sorted(set(state) - set(expected)),
        "shape mismatch": [
            f"{key} {tuple(state[key].shape)} (model {tuple(tensor.shape)})"
            for key, tensor in expected.items()
            if key in state and state[key].shape != tensor.shape
        ],
    }
    details = [f"{label}: {', '.join(keys)}" for label, keys in problems.items() if keys]
    if details:
        raise ValueError(f"{path}: not RVC's RMVPE weights (E2E(4, 1, (2, 2))): " + "; ".join(details))
    net.load_state_dict(state, strict=True, assign=True)
    return net.float().eval()  # RVC's published file holds fp16 tensors


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path, mtime_ns: int, device: str) -> PitchEstimator:
    log.info("loading RMVPE weights %s on %s", path, device)
    return PitchEstimator(rmvpe_network(path), device)


def load_rmvpe(weights: str | os.PathLike, device: str = "cpu") -> PitchEstimator:
    """The pitch estimator for ``weights`` on ``device``, loaded once per process.

    The cache key includes the file's mtime, so a replaced file is reloaded. Jobs running as
    threads of one process share the model; the lock keeps concurrent first calls from each
    loading it.
    """
    path = Path(weights).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"RMVPE weights not found at {weights} (RVC's assets/rmvpe/rmvpe.pt)")
    with _LOAD_LOCK:
        return _load_cached(path, path.stat().st_mtime_ns, str(device))
