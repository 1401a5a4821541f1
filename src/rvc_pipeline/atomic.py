"""Atomic file writes: a kill at any moment leaves either the old file or the new one, never half.

A write goes to ``.{name}.tmp`` beside the target, then is renamed over it. The temp name is
the same every time, so a writer that restarts after a kill replaces its predecessor's leftover,
and a job can recognise the leftovers of the files it writes (``remove_stale_temps``). Two
processes must not write the same file at once; the workflow never does (Snakemake gives each
output one job, and training holds a lock on its experiment).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike) -> Path:
    """The temp file that ``atomic_path`` writes ``path`` through: ``.{name}.tmp`` beside it."""
    target = Path(path)
    return target.with_name(f".{target.name}{TEMP_SUFFIX}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temp file lives in the same folder so ``os.replace`` is a rename on one file system.
    It is created with mode 0o666 less the umask, as ``open()`` creates files, so outputs are
    as readable as the user's other files (mkstemp's 0o600 would survive the rename).
    On an exception the temp file is removed and ``path`` is left untouched. The rename alone
    survives a killed process; ``durable`` also flushes the file to disk first, so a power
    failure cannot leave an empty file under the name (about 1 ms a file: worth it for
    checkpoints and indexes, not for the thousands of per-segment files a rerun remakes).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    tmp.unlink(missing_ok=True)  # left by a writer of this file that was killed
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temps(folder: str | os.PathLike, patterns: Iterable[str]) -> list[Path]:
    """Remove the temp files of targets named by glob ``patterns`` in ``folder``; return them.

    Only for a job that alone writes those targets (a killed predecessor left them).
    """
    removed = []
    for pattern in patterns:
        for tmp in sorted(Path(folder).glob(temp_path(pattern).name)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            log.info("removed %s, left by an interrupted write", tmp)
    return removed


def save_npy(path: str | os.PathLike, array: np.ndarray, durable: bool = False) -> None:
    """np.save to exactly ``path``, atomically (``durable`` as for ``atomic_path``)."""
    # np.save appends ".npy" to names without it, so write through a handle to the temp file.
    with atomic_path(path, durable) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
