"""Downloading a file from a base URL: RVC's hub, a mirror, or a local folder laid out like the hub.

Streams to the given temp file, resumes a dropped transfer with an HTTP Range request, retries
with exponential back-off and reports progress (bytes, rate, ETA) every few seconds. A transfer
is capped a little over the file's expected size (the manifest's, else the server's
Content-Length): a server that never stops sending is cut off, not allowed to fill the disk. A
full disk is final, not retried. Standard library only (urllib), so it runs wherever the workflow
does.
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rvc_pipeline.pretrained.install import FetchError, SourceUnreachable, megabytes, size_cap, write_capped

_CHUNK = 1 << 20
# HTTP answers worth another try: the server is busy or failing, not refusing this file.
_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Retry:
    """How hard to try: ``attempts`` tries in a row without a byte of progress, waiting
    ``first_delay`` seconds after the first failure, doubling up to ``max_delay``; ``timeout``
    is how long one connect or read may stall."""

    attempts: int = 4
    first_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.first_delay * 2 ** (failures - 1), self.max_delay)


def file_url(base_url: str, path: str) -> str:
    """``{base_url}/{path}``; a base without a scheme is a local folder."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", base_url):
        base_url = Path(base_url).expanduser().resolve().as_uri()
    return f"{base_url.rstrip('/')}/{urllib.parse.quote(path)}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Progress:
    """Progress lines for one file, at most one every ``every`` seconds."""

    def __init__(self, name: str, report: Callable[[str], None], every: float = 5.0, clock=time.monotonic):
        self.name, self.report, self.every, self.clock = name, report, every, clock
        self.start = self.last = clock()
        self.received = 0  # bytes that came over the wire in this fetch (not resumed ones)

    def add(self, count: int, done: int, total: int | None) -> None:
        self.received += count
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        rate = self.received / max(now - self.start, 1e-9)
        line = f"{self.name}: {megabytes(done)}"
        if total:
            line += f" of {megabytes(total)} ({100 * done / total:.0f}%)"
        line += f", {rate / 1e6:.1f} MB/s"
        if total and rate > 0:
            line += f", ETA {_duration((total - done) / rate)}"
        self.report(line)

    def finish(self, size: int) -> None:
        self.report(f"{self.name}: {megabytes(size)} in {_duration(self.clock() - self.start)}")


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _transfer(url: str, dest: Path, *, name: str, size: int | None, timeout: float, progress: Progress) -> None:
    """One request: append to ``dest`` from where it ends when the server honours Range, else rewrite it.

    ``size``: the file's expected size (None: unknown, the server's Content-Length stands for it).
    """
    have = dest.stat().st_size
    headers = {"User-Agent": "rvc-pipeline"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
        resumed = have > 0 and response.status == 206
        if resumed and _range_start(response.headers["Content-Range"]) != have:
            # Emptied, not removed: the fetch's lock on its temp file stays on this file.
            os.truncate(dest, 0)
            raise ConnectionError(f"asked for bytes from {have}, got {response.headers['Content-Range']}")
        start = have if resumed else 0
        length = response.headers["Content-Length"]
        total = start + int(length) if length is not None else None
        expected = size if size is not None else total
        if size is not None and total is not None and total > size_cap(size):
            raise FetchError(
                f"{name}: {url} announces {megabytes(total)}, for a file of {megabytes(size)}; not downloaded"
            )
        done = write_capped(
            dest,
            iter(lambda: response.read(_CHUNK), b""),
            name=name,
            source=url,
            expected=expected,
            start=start,
            on_chunk=lambda count, done: progress.add(count, done, total),
        )
    # http.client ends a short body quietly; a dropped connection shows only here.
    if total is not None and done < total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def download(
    url: str,
    dest: Path,
    *,
    name: str,
    target: Path,
    size: int | None,
    retry: Retry,
    report: Callable[[str], None],
) -> None:
    """Stream ``url`` into ``dest`` (an existing file, empty or partial), resuming after dropped
    connections; FetchError when it cannot.

    ``size`` is the file's expected size if known (the cap, see the module); ``target`` is only
    named in the message saying where to place the file by hand.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file" and not Path(urllib.request.url2pathname(parsed.path)).is_file():
        raise FetchError(f"{name}: not found at {url}")
    report(f"{name}: downloading {url}")
    progress = Progress(name, report)
    failures = 0
    while True:
        before = dest.stat().st_size
        try:
            _transfer(url, dest, name=name, size=size, timeout=retry.timeout, progress=progress)
            progress.finish(dest.stat().st_size)
            return
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise FetchError(f"{name}: not found at {url} (HTTP 404)") from None
            if error.code == 416:  # the partial file does not fit the server's file: start again
                os.truncate(dest, 0)
            elif error.code not in _TRANSIENT:
                raise FetchError(f"{name}: {url} answered HTTP {error.code} {error.reason}") from None
            problem = f"HTTP {error.code} {error.reason}"
        except urllib.error.URLError as error:
            problem = str(error.reason)
        except (OSError, http.client.HTTPException) as error:
            problem = str(error) or type(error).__name__
        after = dest.stat().st_size
        failures = 1 if after > before else failures + 1  # a try that brought bytes starts a new series
        if failures >= retry.attempts:
            raise SourceUnreachable(
                f"{name}: cannot download {url} ({problem}); download it by hand and place it at {target}"
            )
        wait = retry.delay(failures)
        resume = f", resuming at {megabytes(after)}" if after else ""
        report(f"{name}: {problem}; retrying in {wait:g} s{resume}")
        time.sleep(wait)
