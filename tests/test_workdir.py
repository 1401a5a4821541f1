"""The working directory's check at planning: a folder that takes no writes is one line."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from rvc_pipeline import faults
from rvc_pipeline.workdir import unwritable_reason

ADVICE = "Snakemake's records (.snakemake/) and the results go there: give --directory a writable folder with free space"


def test_a_writable_folder_passes_and_keeps_nothing(tmp_path):
    assert unwritable_reason(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_full_folder_is_named_with_the_reason(tmp_path, monkeypatch):
    # RVC_PIPELINE_FAULT=workdir_write:1:enospc in this process
    monkeypatch.setattr(faults, "_POINT", "workdir_write")
    monkeypatch.setattr(faults, "_NTH", "1")
    monkeypatch.setattr(faults, "_KIND", "enospc")
    monkeypatch.setattr(faults, "_passes", itertools.count(1))
    assert unwritable_reason(tmp_path) == (
        f"cannot write in the working directory {tmp_path}: No space left on device (injected at workdir_write); {ADVICE}"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_mount_is_named_with_the_reason(tmp_path):
    """Root writes through permissions, not into a read-only mount; skipped where mounting is not allowed."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        assert unwritable_reason(folder) == f"cannot write in the working directory {folder}: Read-only file system; {ADVICE}"
    finally:
        subprocess.run(["umount", str(folder)], check=True)
