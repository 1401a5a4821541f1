"""Writing a fetched file and putting it in place: a temp file of its own, a size cap, its SHA-256
checked before the atomic rename.

Each fetch writes through a temp file unique to it (``.{name}.{random}.tmp`` beside the target),
locked while the fetch lives: two fetches of one file at once never touch each other's bytes, and
the temp of a fetch that was killed (its lock gone with it) is removed by the next one.

Also the SHA-256 of files already in place, remembered by their size and times in a small JSON
file in the cache folder, so a fetch of files that are there does not reread gigabytes. Standard
library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rvc_pipeline.atomic import temp_path
from rvc_pipeline.faults import fault_point

HASHES_FILE = "sha256.json"
MISMATCH_SUFFIX = ".sha256-mismatch"
_CHUNK = 1 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class FetchError(RuntimeError):
    """A pretrained file could not be fetched; the message is one line naming the file."""


class SourceUnreachable(FetchError):
    """The source (server, mirror, package index) could not be reached: no network, or it is down."""


class DiskFull(FetchError):
    """The disk (or quota) filled while writing a fetched file: not worth another try."""


def megabytes(count: float) -> str:
    return f"{count / 1e6:.1f} MB"


def size_cap(expected: int) -> int:
    """The most bytes accepted for a file of ``expected`` bytes: 1% and 64 KiB over, so a file a
    little off its recorded size still arrives and its hash names the difference."""
    return expected + expected // 100 + (1 << 16)


def _unused(path: Path) -> bool:
    """Whether no live fetch holds ``path`` (its lock is free); a missing file counts as held."""
    try:
        fd = os.open(path, os.O_RDWR)  # writable: NFS emulates flock with locks that need it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the probe's lock


def _remove_abandoned_temps(target: Path) -> None:
    # The fixed ``.{name}.tmp`` is what fetches before per-fetch temps left; nobody locks it.
    pattern = f".{glob.escape(target.name)}.*.tmp"
    for tmp in [temp_path(target), *target.parent.glob(pattern)]:
        if _unused(tmp):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def private_temp(target: Path) -> Iterator[Path]:
    """A new empty temp file beside ``target`` for this fetch alone, locked until the block ends,
    then removed (unless renamed away). Abandoned temps of ``target`` are removed first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temps(target)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        # 0o666 less the umask, as open() creates files: the renamed file is as readable as others.
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # Another fetch may have taken it for abandoned between the create and the lock.
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


def disk_full(name: str, folder: Path, needed: int | None, written: int) -> DiskFull:
    """The one-line DiskFull for a write of ``name`` into ``folder`` that failed after ``written`` bytes."""
    try:
        free = f" ({megabytes(shutil.disk_usage(folder).free + written)} free)"
    except OSError:
        free = ""
    if needed is not None:
        need = f", {megabytes(needed)} needed"
    elif written:
        need = f", more than {megabytes(written)} needed"
    else:
        need = ""  # pip filled it: the wheel's size is not known here
    return DiskFull(f"{name}: disk full at {folder}{need}{free}; free some space and fetch again")


def write_capped(
    dest: Path,
    chunks: Iterable[bytes],
    *,
    name: str,
    source: str,
    expected: int | None,
    start: int = 0,
    on_chunk: Callable[[int, int], None] | None = None,
) -> int:
    """Write ``chunks`` to ``dest`` (appended after its first ``start`` bytes, else from byte 0);
    the bytes ``dest`` then holds.

    More than ``size_cap(expected)`` bytes in all (a server that never stops sending) stops the
    write with FetchError; a full disk raises DiskFull. ``on_chunk(count, done)`` follows progress.
    """
    limit = size_cap(expected) if expected is not None else None
    done = start
    try:
        with open(dest, "ab" if start else "wb") as out:
            for chunk in chunks:
                if limit is not None and done + len(chunk) > limit:
                    raise FetchError(
                        f"{name}: {source} sent more than {megabytes(limit)}, for a file of {megabytes(expected)}; "
                        "stopped, nothing kept"
                    )
                fault_point("fetch_write")
                out.write(chunk)
                done += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk), done)
    except OSError as error:
        if error.errno not in _DISK_FULL:
            raise
        raise disk_full(name, dest.parent, expected, done) from None
    return done


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    # ctime too: an in-place rewrite that restores size and mtime still changes it.
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _load(record: Path) -> dict:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return {}


def remember_sha256(path: Path, sha256: str, cache_dir: Path) -> None:
    """Record ``path``'s SHA-256 under its current size and times (best effort: only a speed-up)."""
    record = cache_dir / HASHES_FILE
    hashes = {name: known for name, known in _load(record).items() if Path(name).is_file()}  # forget removed files
    hashes[str(path.resolve())] = [*_stamp(path), sha256]
    try:
        with private_temp(record) as tmp:
            tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
            os.replace(tmp, record)
    except OSError:
        pass  # a read-only or full cache


def cached_sha256(path: Path, cache_dir: Path) -> str:
    """SHA-256 of ``path``, read from the record while its size and times are unchanged."""
    known = _load(cache_dir / HASHES_FILE).get(str(path.resolve()))
    if known and known[:-1] == _stamp(path):
        return known[-1]
    sha256 = sha256_of(path)
    remember_sha256(path, sha256, cache_dir)
    return sha256


def install_checked(tmp: Path, target: Path, *, name: str, expected: str, cache_dir: Path) -> None:
    """Rename ``tmp`` over ``target`` when its SHA-256 is ``expected``.

    On a mismatch nothing is written to ``target``: the bad file is kept at
    ``{target}.sha256-mismatch`` for inspection and FetchError names both hashes.
    """
    actual = sha256_of(tmp)
    if actual != expected:
        aside = target.with_name(target.name + MISMATCH_SUFFIX)
        os.replace(tmp, aside)
        raise FetchError(
            f"{name}: SHA-256 mismatch (expected {expected}, got {actual}); "
            f"the downloaded file is kept at {aside}, nothing written to {target}"
        )
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())  # a power cut must not leave an empty file under the name
    os.replace(tmp, target)
    remember_sha256(target, actual, cache_dir)
