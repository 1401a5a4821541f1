"""Access to the parity pack in ../shared/parity (RVC's own numbers) and its formula weights."""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import need_shared_parity

# Pack model name -> (sample rate, version, f0), as the pack's summary.json describes them.
GENERATORS = {
    "G_v1_f0_32k": (32000, "v1", True),
    "G_v1_f0_40k": (40000, "v1", True),
    "G_v1_f0_48k": (48000, "v1", True),
    "G_v1_nof0_40k": (40000, "v1", False),
    "G_v2_f0_40k": (40000, "v2", True),
    "G_v2_f0_48k": (48000, "v2", True),
}
DISCRIMINATORS = {"D_v1": "v1", "D_v2": "v2"}


def pack_file(name: str) -> Path:
    """Path of a pack file; skips the calling test when the pack is absent (fails it in CI)."""
    return need_shared_parity(name)


def load_npz(name: str) -> dict[str, np.ndarray]:
    with np.load(pack_file(name)) as data:
        return {key: data[key] for key in data.files}


def load_json(name: str) -> Any:
    return json.loads(pack_file(name).read_text())


def formula_weights(shapes: dict[str, list[int]], salt: int = 0) -> dict[str, np.ndarray]:
    """The pack's deterministic weights (README "Formula weights"); weight_g = norm of weight_v.

    Each tensor depends only on its key and shape, so tensors are cached across models.
    """
    out = {}
    for key, shape in shapes.items():
        if key.endswith("weight_g"):
            v_key = key[:-1] + "v"
            out[key] = _weight_norm_g(v_key, tuple(shapes[v_key]), tuple(shape), salt)
        else:
            out[key] = _formula_tensor(key, tuple(shape), salt)
    return out


def _normal(key: str, shape: tuple[int, ...], salt: int) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(key.encode()) ^ salt).standard_normal(shape)


def _formula_array(key: str, shape: tuple[int, ...], salt: int) -> np.ndarray:
    n = _normal(key, shape, salt)
    if len(shape) >= 2:
        w = n / np.sqrt(np.prod(shape[1:]))
    elif key.endswith("gamma"):
        w = 1.0 + 0.1 * n
    else:
        w = 0.02 * n
    return w.astype(np.float32)


@functools.lru_cache(maxsize=None)
def _formula_tensor(key: str, shape: tuple[int, ...], salt: int) -> np.ndarray:
    w = _formula_array(key, shape, salt)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=None)
def _weight_norm_g(
    v_key: str, v_shape: tuple[int, ...], shape: tuple[int, ...], salt: int
) -> np.ndarray:
    v = _formula_tensor(v_key, v_shape, salt).astype(np.float64)
    return np.sqrt((v**2).reshape(v.shape[0], -1).sum(1)).reshape(shape).astype(np.float32)


def rmvpe_formula_weights(shapes: dict[str, list[int]], salt: int = 0) -> dict[str, torch.Tensor]:
    """The pack's RMVPE weights (README, rmvpe files): the formula, with BatchNorm statistics and
    scales of their own (running_var 1 + 0.1·|n|, running_mean 0.1·n, 1-d weight 1 + 0.1·n).

    Not cached: 90 M parameters are better regenerated (a second or two) than kept."""
    out = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        if len(shape) >= 2 or not key.endswith(("running_var", "running_mean", ".weight")):
            w = _formula_array(key, tuple(shape), salt)
        else:
            n = _normal(key, tuple(shape), salt)
            if key.endswith("running_var"):
                w = 1.0 + 0.1 * np.abs(n)
            elif key.endswith("running_mean"):
                w = 0.1 * n
            else:
                w = 1.0 + 0.1 * n
        out[key] = torch.tensor(w, dtype=torch.float32)
    return out


def save_rmvpe_formula_weights(path: Path, half: bool = False) -> Path:
    """Write an rmvpe.pt of the formula weights (fp16 with ``half``, as RVC's published file)."""
    from rvc_pipeline.pitch.rmvpe.network import Rmvpe

    with torch.device("meta"):
        shapes = {key: list(t.shape) for key, t in Rmvpe().state_dict().items()}
    weights = rmvpe_formula_weights(shapes)
    if half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path)
    return path


def load_formula_weights(net: torch.nn.Module, model: str) -> None:
    """Load the pack's formula weights for ``model`` strictly into ``net``."""
    shapes = load_json("state_dict_shapes.json")[model]
    state = {k: torch.tensor(v) for k, v in formula_weights(shapes).items()}
    net.load_state_dict(state, strict=True)


@contextmanager
def zero_noise(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Patch torch.rand / torch.randn_like to zeros, as the pack's references were computed."""
    with monkeypatch.context() as patch:
        patch.setattr(torch, "rand", lambda *a, **k: torch.zeros(*a, **k))
        patch.setattr(torch, "randn_like", lambda t, **k: torch.zeros_like(t, **k))
        yield


def max_abs_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
