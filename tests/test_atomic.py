"""Atomic writes: modes follow the umask, a killed writer's temp file is recognised and removed."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from rvc_pipeline.atomic import atomic_path, remove_stale_temps, save_npy, temp_path


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
