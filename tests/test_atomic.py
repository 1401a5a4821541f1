"""Atomic writes: modes follow the umask, a killed writer's temp file is recognised and removed,
files that belong together land together, and a full disk is named as such."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat

import numpy as np
import pytest
import torch

from conftest import small_disk

from rvc_pipeline import atomic
from rvc_pipeline.atomic import atomic_path, atomic_paths, remove_stale_temps, save_npy, temp_path
from rvc_pipeline.audio import write_wav
from rvc_pipeline.training.checkpoint import save_checkpoints


@pytest.fixture
def umask():
    """Set the process umask for one test (the test process runs no other threads that write)."""
    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    save_npy(tmp_path / "b.npy", np.zeros(3))
    for name in ("a.txt", "b.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_a_killed_writers_temp_is_replaced_by_the_next_write(tmp_path):
    target = tmp_path / "D_24.pth"
    assert temp_path(target) == tmp_path / ".D_24.pth.tmp"
    temp_path(target).write_bytes(b"half a zip, left by a kill")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D_24.pth"]
    assert target.read_bytes() == b"whole"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_remove_stale_temps_takes_only_the_named_targets(tmp_path):
    names = [".G_8.pth.tmp", ".D_24.pth.tmp", ".losses.tsv.tmp", ".filelist.txt.tmp", "G_8.pth", ".G_8.pth"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path, ["G_*.pth", "D_*.pth", "losses.tsv"])
    assert sorted(p.name for p in removed) == [".D_24.pth.tmp", ".G_8.pth.tmp", ".losses.tsv.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".G_8.pth", ".filelist.txt.tmp", "G_8.pth"]


UNEXPECTED_POS = "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"


def test_a_write_that_fills_the_disk_says_so_and_others_pass_unchanged(tmp_path, monkeypatch):
    target = tmp_path / "G_8.pth"
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda folder: usage._replace(free=4096))
    with pytest.raises(OSError) as caught:
        with atomic_path(target, needed=50_000_000) as tmp:
            tmp.write_bytes(b"x" * 3_000_000)
            raise RuntimeError(UNEXPECTED_POS)  # what torch.save raises on a full disk
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value.__cause__, RuntimeError)
    assert f"no space left on the device writing {target}: 3.0 MB free in {tmp_path}" in message
    assert "it needs about 50.0 MB (RuntimeError: [enforce fail" in message
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="unexpected pos"):  # plenty of space: another fault
        with atomic_path(target):
            raise RuntimeError(UNEXPECTED_POS)


def test_atomic_paths_write_all_or_none(tmp_path, monkeypatch):
    pair = [tmp_path / "D_6.pth", tmp_path / "G_6.pth"]
    with pytest.raises(OSError, match=f"no space left on the device writing {pair[0]} and {pair[1]}"):
        with atomic_paths(pair) as temps:
            temps[0].write_bytes(b"d")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    replace = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(OSError, match="Input/output error"):
        with atomic_paths(pair) as temps:
            for tmp in temps:
                tmp.write_bytes(b"state")
    assert calls == pair and list(tmp_path.iterdir()) == []  # the renamed D went again


def test_a_real_full_disk_names_itself_for_segments_arrays_and_checkpoints(tmp_path):
    with small_disk(tmp_path / "small", "1m") as disk:
        (disk / "kept.txt").write_text("already there")
        net = torch.nn.Linear(600, 600)
        writes = {
            "seg_0.wav": lambda path: write_wav(path, np.zeros(400_000, np.float32), 40000),
            "feats.npy": lambda path: save_npy(path, np.zeros((1100, 256), np.float32)),
            "D_6.pth": lambda path: save_checkpoints(
                {path: {"model": net.state_dict()}, disk / "G_6.pth": {"model": net.state_dict()}}
            ),
        }
        for name, write in writes.items():
            with pytest.raises(OSError) as caught:
                write(disk / name)
            assert caught.value.errno == errno.ENOSPC, caught.value
            assert f"no space left on the device writing {disk / name}" in str(caught.value)
            assert re.search(r": 1\.0 MB free in .*, it needs about (1\.[0-9]|[2-9]\.[0-9]) MB", str(caught.value))
            assert sorted(p.name for p in disk.iterdir()) == ["kept.txt"]  # no temp, no half pair
