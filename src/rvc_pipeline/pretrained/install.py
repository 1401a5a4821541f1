"""Putting a fetched file in place: its SHA-256 checked before the atomic rename.

Also the SHA-256 of files already in place, remembered by their size and times in a small JSON
file in the cache folder, so a fetch of files that are there does not reread gigabytes. Standard
library only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rvc_pipeline.atomic import atomic_path

HASHES_FILE = "sha256.json"
MISMATCH_SUFFIX = ".sha256-mismatch"
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A pretrained file could not be fetched; the message is one line naming the file."""


class SourceUnreachable(FetchError):
    """The source (server, mirror, package index) could not be reached: no network, or it is down."""


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
        with atomic_path(record, durable=False) as tmp:
            tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    except OSError:
        pass  # another fetch writing the record at the same moment, or a read-only cache


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
