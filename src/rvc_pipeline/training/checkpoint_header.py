"""Tensor names and shapes of a torch checkpoint without torch: its zip's pickle, read safely.

A ``torch.save`` file is a zip whose ``data.pkl`` describes every tensor (storage, shape,
stride) and whose other entries hold the bytes. Reading the pickle alone gives the shapes in a
few milliseconds (a full RVC ``G_*.pth`` with its optimiser state takes seconds to ``torch.load``,
plus torch's import), which lets the workflow check an RVC folder while planning. Like
``weights_only=True``, the reader builds nothing but containers and shapes: any other global in
the pickle is refused.
"""

from __future__ import annotations

import codecs
import collections
import os
import pickle
import zipfile
from typing import Any

from rvc_pipeline.layout import FEATURE_DIMS

PHONE_EMBEDDING = "enc_p.emb_phone.weight"  # [hidden, feature width]: 256 is v1, 768 is v2
PITCH_EMBEDDING = "enc_p.emb_pitch.weight"  # only in pitch-guided (f0) generators


class TensorShape(tuple):
    """A tensor in the pickle, as its shape."""


class _Opaque:
    """A storage, dtype or device: not needed for shapes."""

    def __init__(self, *args: Any) -> None:
        pass


def _rebuild_tensor(storage: Any, offset: int, size: Any, *rest: Any) -> TensorShape:
    return TensorShape(size)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


def _rebuild_from_type(func: Any, new_type: Any, args: tuple, state: Any) -> Any:
    return func(*args)


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 spells bytes
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Size"): tuple,
    ("torch", "device"): _Opaque,
}


class _ShapeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module in ("torch", "torch.storage") and (name.endswith("Storage") or name in _DTYPES):
            return _Opaque
        raise pickle.UnpicklingError(f"refused global {module}.{name} (weights only)")

    def persistent_load(self, pid: Any) -> _Opaque:
        return _Opaque()


_DTYPES = {
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
}


def read_header(path: str | os.PathLike) -> Any:
    """The checkpoint's object with every tensor replaced by its shape (a ``TensorShape``).

    Raises ValueError naming the file when it is not a torch zip checkpoint or its pickle holds
    anything but containers and tensors.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise ValueError("no data.pkl in the archive")
            with archive.open(pickles[0]) as handle:
                return _ShapeUnpickler(handle).load()
    except Exception as err:  # a bad zip, a refused global, a malformed pickle: all unreadable
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from err


def state_shapes(checkpoint: Any, source: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The shapes of a header's state dict: a training checkpoint's "model" or a small model's "weight"."""
    if isinstance(checkpoint, dict):
        for key in ("model", "weight"):
            state = checkpoint.get(key)
            if isinstance(state, dict):
                return {k: tuple(v) for k, v in state.items() if isinstance(v, TensorShape)}
    raise ValueError(f"{source}: no 'model' or 'weight' state dict in it")


def generator_kind(shapes: dict[str, tuple[int, ...]], source: str | os.PathLike) -> tuple[str, bool]:
    """(version, f0) of a generator's state dict from its shapes: the features' width gives the
    version, a pitch embedding means a pitch-guided model.

    Raises ValueError naming the file when the state dict is not a generator's (a discriminator's
    ``D_*.pth``, for one).
    """
    if PHONE_EMBEDDING not in shapes:
        found = (
            "a discriminator's (D_*.pth)"
            if any(k.startswith("discriminators.") for k in shapes)
            else "another model's"
        )
        raise ValueError(f"{source}: not an RVC generator: no {PHONE_EMBEDDING}, the weights are {found}")
    width = shapes[PHONE_EMBEDDING][-1]
    versions = [v for v, dim in FEATURE_DIMS.items() if dim == width]
    if not versions:
        raise ValueError(f"{source}: {PHONE_EMBEDDING} takes {width}-d features, which is no RVC version")
    return versions[0], PITCH_EMBEDDING in shapes


def discriminator_version(shapes: dict[str, tuple[int, ...]], source: str | os.PathLike) -> str:
    """ "v1" or "v2" of a discriminator's state dict: v2 adds two periods (23, 37) to v1's seven
    sub-discriminators."""
    count = len({k.split(".")[1] for k in shapes if k.startswith("discriminators.")})
    versions = {7: "v1", 9: "v2"}
    if count not in versions:
        raise ValueError(f"{source}: not an RVC discriminator ({count} sub-discriminators; v1 has 7, v2 9)")
    return versions[count]
