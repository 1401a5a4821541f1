"""Atomic file writes: a kill at any moment leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temp file lives in the same folder so ``os.replace`` is a rename on one file system.
    On an exception the temp file is removed and ``path`` is left untouched. The rename alone
    survives a killed process; ``durable`` also flushes the file to disk first, so a power
    failure cannot leave an empty file under the name (about 1 ms a file: worth it for
    checkpoints and indexes, not for the thousands of per-segment files a rerun remakes).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def save_npy(path: str | os.PathLike, array: np.ndarray, durable: bool = False) -> None:
    """np.save to exactly ``path``, atomically (``durable`` as for ``atomic_path``)."""
    # np.save appends ".npy" to names without it, so write through a handle to the temp file.
    with atomic_path(path, durable) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
