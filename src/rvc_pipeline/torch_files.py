"""Reading torch files (checkpoints, pretrained weights) safely, and saying why one does not load.

Every loader of a ``.pth`` / ``.pt`` file reads it here or names its failure with `diagnose`:
``torch.load(weights_only=True)``, a diagnosis that tells a file cut short from one that is no
checkpoint at all, and strict loading of a state dict into a model (names and shapes must match).
"""

from __future__ import annotations

import os
import pickle
import re
import struct
from collections.abc import Mapping
from typing import Any

import torch


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` onto the CPU; a file that does not load raises a
    ``ValueError`` naming it and what is wrong with it (``diagnose``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, ...: all mean "not a usable checkpoint"
        raise ValueError(f"{path}: cannot load checkpoint: {diagnose(path, err)}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a checkpoint dict (got {type(obj).__name__})")
    return obj


# torch.save's format before 1.6: a pickle (protocol 2) opening with torch's magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"
_ZIP64_END = b"PK\x06\x06"
# What a file that is no checkpoint most likely is, by its first bytes.
_FOREIGN = {
    b"RIFF": "a WAV file",
    b"<": "an HTML or XML page (a failed download?)",
    b"{": "a JSON file",
    b"version https://git-lfs": "a Git LFS pointer, not the file (git lfs pull fetches it)",
    b"\x89HDF": "an HDF5 file (Keras?)",
}
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def diagnose(path: str | os.PathLike, err: BaseException | None = None) -> str:
    """Why ``path`` is not a loadable checkpoint, in words (``err``: what ``torch.load`` raised).

    Tells a file cut short (a full disk, an interrupted copy) from one that is not a torch
    checkpoint at all, a pickle that ``weights_only`` refuses (naming the global) and the
    legacy pre-1.6 format, which only a file that opens with that format's magic number is.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(64)
        handle.seek(max(0, size - 66_000))  # the zip end record and its comment (at most 64 KiB)
        tail = handle.read()
    if size == 0:
        return "empty file (0 bytes)"
    if head.startswith(_LEGACY_MAGIC):
        return "the legacy (pre-1.6) torch format, which is not supported: load and re-save it with a current torch"
    if head.startswith(_ZIP_LOCAL):
        incomplete = _zip_shortfall(path, size, tail)
        if incomplete:
            return incomplete
    elif not head.startswith(b"\x80"):
        what = next((name for magic, name in _FOREIGN.items() if head.startswith(magic)), None)
        return f"not a torch checkpoint ({what or f'neither a zip nor a pickle: it starts with {head[:8]!r}'})"
    else:
        return "a plain pickle, not a torch checkpoint (torch.save writes a zip)"
    refused = _REFUSED_GLOBAL.search(str(err)) if err is not None else None
    if refused:
        return (
            f"refusing to unpickle it: it needs {refused.group(1)}, which weights_only loading does not "
            "allow (it could run code); a checkpoint holds tensors and plain values only"
        )
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}" if err else "unreadable"


def _zip_shortfall(path: str | os.PathLike, size: int, tail: bytes) -> str:
    """"incomplete file: N of M bytes ..." for a zip cut short, or "" when its end is intact.

    ``tail`` is the file's last bytes. The zip's end record says where its directory lies and so
    how long the whole file is; without one, the tensors named by ``data.pkl`` give a lower bound.
    """
    start = size - len(tail)
    end = tail.rfind(_ZIP_END)
    if end < 0:
        needed = _pickled_storage_bytes(path)
        of = f" of at least {needed}" if needed > size else ""
        return (
            f"incomplete file: {size}{of} bytes (its zip directory, at the end of a complete file, is "
            "missing): the save or the copy was cut short (a full disk?); save or fetch it again"
        )
    expected = start + end + 22  # the end record's fixed part; a file cut inside it ends here
    if len(tail) >= expected - start:
        expected += struct.unpack_from("<H", tail, end + 20)[0]  # its comment
        # The directory ends where the (zip64) end record starts: bytes missing before it show as
        # a directory that would end later.
        z64 = tail.rfind(_ZIP64_END, 0, end)
        if z64 >= 0:
            directory_size, directory_offset = struct.unpack_from("<QQ", tail, z64 + 40)
        else:
            directory_size, directory_offset = struct.unpack_from("<II", tail, end + 12)
        expected += max(0, directory_offset + directory_size - (start + (z64 if z64 >= 0 else end)))
    if size >= expected:
        return ""
    return (
        f"incomplete file: {size} of {expected} bytes (by its zip directory): the save or the copy "
        "was cut short; save or fetch it again"
    )


# Bytes per element of the storage classes torch pickles (torch.FloatStorage, ...).
_ITEM_BYTES = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2,
    "Char": 1, "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16,
}


# The least a zip adds for each record: local header (30), data descriptor (16), directory entry
# (46), and its name twice ("archive/data/0" at the shortest).
_RECORD_BYTES = 30 + 16 + 46 + 2 * 14


class _Global(str):
    """A pickled global as its name; calling it (a reduce) gives the name again."""

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self


class _StorageSizes(pickle.Unpickler):
    """Reads a torch ``data.pkl`` without building anything: a global is only its name, and each
    storage referenced adds its bytes to ``total``."""

    total = 0

    def find_class(self, module: str, name: str) -> Any:
        return _Global(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> None:
        # ("storage", storage class, key, location, number of elements)
        kind = str(pid[1]).rsplit(".", 1)[-1].removesuffix("Storage")
        self.total += int(pid[4]) * _ITEM_BYTES.get(kind, 1) + _RECORD_BYTES


def _pickled_storage_bytes(path: str | os.PathLike) -> int:
    """The bytes up to the end of the tensors a torch zip's first record (``data.pkl``) names; 0 if unreadable."""
    with open(path, "rb") as handle:
        header = handle.read(30)
        name_length, extra_length = struct.unpack_from("<HH", header, 26)
        handle.seek(30 + name_length + extra_length)
        reader = _StorageSizes(handle)
        try:
            reader.load()
        except Exception:  # the pickle itself was cut: no estimate
            return 0
        return handle.tell() + reader.total


def model_state(checkpoint: Mapping[str, Any], source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a training checkpoint or pretrained file ("model") or an export ("weight")."""
    for key in ("model", "weight"):
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key])
    raise ValueError(f"{source}: no 'model' or 'weight' state dict in it (keys: {sorted(checkpoint)})")


def check_state_fits(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str | os.PathLike
) -> None:
    """Raise, naming what differs, unless ``state`` has exactly the model's names and shapes.

    Reads only shapes, so ``model`` may live on the meta device (checking a file costs no memory).
    """
    own = unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (
            ("shape mismatch", mismatched),
            ("missing from file", missing),
            ("unexpected in file", unexpected),
        ):
            if keys:
                shown = "; ".join(keys[:8]) + (f"; ... ({len(keys) - 8} more)" if len(keys) > 8 else "")
                parts.append(f"{len(keys)} {label}: {shown}")
        raise ValueError(
            f"{source}: does not fit the model (different config, version or f0 setting?): "
            + " | ".join(parts)
        )


def load_state_strict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str | os.PathLike
) -> None:
    """Load every tensor with matching names and shapes, or raise naming what differs.

    Dtypes may differ (RVC's pretrained files are fp16); values are cast to the model's dtype.
    """
    check_state_fits(model, state, source)
    unwrap(model).load_state_dict(state, strict=True)
