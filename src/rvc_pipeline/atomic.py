"""Atomic file writes: a kill at any moment leaves either the old file or the new one, never half.

A write goes to ``.{name}.tmp`` beside the target, then is renamed over it. The temp name is
the same every time, so a writer that restarts after a kill replaces its predecessor's leftover,
and a job can recognise the leftovers of the files it writes (``remove_stale_temps``). Two
processes must not write the same file at once; the workflow never does (Snakemake gives each
output one job, and training holds a lock on its experiment).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike) -> Path:
    """The temp file that ``atomic_path`` writes ``path`` through: ``.{name}.tmp`` beside it."""
    target = Path(path)
    return target.with_name(f".{target.name}{TEMP_SUFFIX}")


# Free space under which a failed write is taken for a full disk: the libraries that write our
# files report one as "System error." (libsndfile), "unexpected pos" (torch) or a short write
# (numpy), without errno.
LOW_SPACE_BYTES = 1 << 20


def _megabytes(count: float) -> str:
    return f"{count / 1e6:.1f} MB"


def disk_full_error(
    target: str, folder: Path, err: Exception, written: int = 0, needed: int | None = None
) -> OSError | None:
    """An ``OSError(ENOSPC)`` naming ``target``, the free space in ``folder`` and what the write
    needed, when ``err`` (raised while writing ``target`` there) came from a full disk (or
    quota); else None.

    ``written`` is what the write got onto the disk before it failed, ``needed`` roughly the
    whole size when the caller knows it.
    """
    cause: BaseException | None = err
    by_errno = False
    for _ in range(10):  # the chain of causes, which a buggy library could make circular
        if cause is None:
            break
        by_errno |= isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
        cause = cause.__cause__ or cause.__context__
    try:
        free = shutil.disk_usage(folder).free  # the partial files still take their space
    except OSError:
        return None
    if not by_errno and free >= LOW_SPACE_BYTES:
        return None
    size = f"about {_megabytes(max(needed or 0, written))}" if needed else f"more than {_megabytes(written)}"
    return OSError(
        errno.ENOSPC,
        f"no space left on the device writing {target}: {_megabytes(free + written)} free in {folder} "
        f"without this write's partial files, it needs {size} ({type(err).__name__}: "
        f"{str(err).strip() or 'no message'}); free some space and run again: nothing already "
        "written was lost",
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temp file lives in the same folder so ``os.replace`` is a rename on one file system.
    It is created with mode 0o666 less the umask, as ``open()`` creates files, so outputs are
    as readable as the user's other files (mkstemp's 0o600 would survive the rename).
    On an exception the temp file is removed and ``path`` is left untouched; one that a full disk
    caused becomes an ``OSError(ENOSPC)`` saying so (``disk_full_error``; ``needed``, the file's
    rough size if known, goes into its message). The rename alone survives a killed process;
    ``durable`` also flushes the file to disk first, so a power failure cannot leave an empty
    file under the name (about 1 ms a file: worth it for checkpoints and indexes, not for the
    thousands of per-segment files a rerun remakes).
    """
    with atomic_paths([path], durable, needed) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(
    paths: Sequence[str | os.PathLike], durable: bool = True, needed: int | None = None
) -> Iterator[list[Path]]:
    """``atomic_path`` for files that belong together (a G/D checkpoint pair): all or none.

    Every temp is renamed only once all are written; when anything fails, the temps and the
    targets renamed so far are removed, so no file of the set is left without the others.
    """
    targets = [Path(path) for path in paths]
    temps = []
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(target)
        tmp.unlink(missing_ok=True)  # left by a writer of this file that was killed
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        temps.append(tmp)
    renamed: list[Path] = []
    try:
        yield temps
        if durable:
            for tmp in temps:
                with open(tmp, "rb+") as handle:
                    os.fsync(handle.fileno())
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
            renamed.append(target)
    except BaseException as err:
        for target in renamed:
            target.unlink(missing_ok=True)
        written = sum(tmp.stat().st_size for tmp in temps if tmp.exists())
        names = " and ".join(map(str, targets))
        full = disk_full_error(names, targets[0].parent, err, written, needed) if isinstance(err, Exception) else None
        if full is None:
            raise
        raise full from err
    finally:
        for tmp in temps:
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
    with atomic_path(path, durable, needed=array.nbytes) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
