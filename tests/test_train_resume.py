"""Resume after a SIGKILL, partial saves, and DDP over two CPU processes (gloo)."""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rvc_pipeline import faults
from rvc_pipeline.torch_files import load_checkpoint
from rvc_pipeline.training.history import LOSS_COLUMNS
from rvc_pipeline.training.loop import train
from rvc_pipeline.training.run import train_experiment
from test_train import make_experiment, options, tsv_rows

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(filelist: Path, config: Path, state: Path, **chosen: int) -> list[str]:
    return [
        "-m",
        "rvc_pipeline.training.cli",
        "--filelist",
        str(filelist),
        "--config",
        str(config),
        "--state-dir",
        str(state),
        "--options",
        options(**chosen).to_json(),
    ]


def _kill_in_epoch(cmd: list[str], epoch: int) -> str:
    """Run the training CLI and SIGKILL it at its first step line of ``epoch``; returns its log."""
    proc = subprocess.Popen([sys.executable, *cmd], stderr=subprocess.PIPE, text=True, env=ENV)
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if re.search(rf"INFO rvc_pipeline\.training\.loop: epoch {epoch} step \d+ ", line):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    log = "".join(seen)
    assert proc.returncode == -signal.SIGKILL, log
    return log


@pytest.mark.slow  # trains in a second Python (the training CLI) to kill it mid-epoch
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, caplog):
    filelist, config = make_experiment(tmp_path / "exp")
    state = tmp_path / "state"
    train(filelist, config, state, options(epochs=2, save_every_epoch=2))
    _kill_in_epoch(_cli(filelist, config, state, epochs=4, save_every_epoch=2), epoch=3)
    # what a kill during a save can leave: a temp file, a G without its D, a truncated D
    (state / ".G_9.pth.x1y2.tmp").write_bytes(b"half a zip")
    (state / "G_9.pth").write_bytes((state / "G_6.pth").read_bytes())
    for kind in "GD":
        data = (state / f"{kind}_6.pth").read_bytes()
        (state / f"{kind}_12.pth").write_bytes(data if kind == "G" else data[: len(data) // 2])

    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        train(filelist, config, state, options(epochs=4, save_every_epoch=2))
    assert "resuming after epoch 2 (global step 6) from G_6.pth and D_6.pth" in caplog.text
    assert "skipping checkpoint pair at step 12" in caplog.text
    assert "epoch 3/4" in caplog.text and "epoch 2/4" not in caplog.text

    reference = tmp_path / "reference"
    train(filelist, config, reference, options(epochs=4, save_every_epoch=2))
    resumed, uninterrupted = tsv_rows(state), tsv_rows(reference)
    assert [r["epoch"] for r in resumed] == ["1", "2", "3", "4"]
    for got, want in zip(resumed, uninterrupted):
        assert got["step"] == want["step"] and float(got["lr"]) == float(want["lr"])
        for column in LOSS_COLUMNS:
            assert float(got[column]) == pytest.approx(float(want[column]), rel=1e-6, abs=1e-9), (
                got["epoch"],
                column,
            )
    final, ref = load_checkpoint(state / "G_12.pth"), load_checkpoint(reference / "G_12.pth")
    for key, value in ref["model"].items():
        torch.testing.assert_close(final["model"][key], value, rtol=1e-5, atol=1e-6)
    assert final["optimizer"]["state"][0]["step"] == ref["optimizer"]["state"][0]["step"] == 12


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    filelist, config = make_experiment(tmp_path / "exp")
    state = tmp_path / "state"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        *_cli(filelist, config, state, epochs=1),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    # per process: 4 clips -> 1 batch of 2, 2 mute lines -> 1 batch of 2 (batch size per device)
    assert sorted(p.name for p in state.glob("*.pth")) == ["D_2.pth", "G_2.pth"]
    assert len(re.findall(r"epoch 1/1 step 2 ", done.stderr)) == 1  # only rank 0 logs
    ckpt = load_checkpoint(state / "G_2.pth")
    assert len(ckpt["rvc_pipeline"]["rng"]) == 2
    assert not any(k.startswith("module.") for k in ckpt["model"])
    assert [r["step"] for r in tsv_rows(state)] == ["2"]


def test_a_save_on_a_full_disk_leaves_no_half_pair_and_no_row_for_the_lost_epoch(tmp_path, monkeypatch):
    filelist, config = make_experiment(tmp_path / "exp")
    state = tmp_path / "state"
    # RVC_PIPELINE_FAULT=checkpoint:4:enospc, set in this process: the 4th file written (G of
    # epoch 2, after its D) fails as on a full disk
    monkeypatch.setattr(faults, "_POINT", "checkpoint")
    monkeypatch.setattr(faults, "_NTH", "4")
    monkeypatch.setattr(faults, "_KIND", "enospc")
    monkeypatch.setattr(faults, "_passes", itertools.count(1))
    with pytest.raises(OSError, match=rf"no space left on the device writing {state}/D_6.pth and {state}/G_6.pth"):
        train(filelist, config, state, options(epochs=3, save_every_epoch=1))
    assert sorted(p.name for p in state.iterdir() if p.suffix in (".pth", ".tmp")) == ["D_3.pth", "G_3.pth"]
    assert [r["epoch"] for r in tsv_rows(state)] == ["1"]

    monkeypatch.setattr(faults, "_POINT", "")
    train(filelist, config, state, options(epochs=3, save_every_epoch=1))
    assert [r["epoch"] for r in tsv_rows(state)] == ["1", "2", "3"]
    assert {p.name for p in state.glob("*.pth")} == {f"{kind}_{step}.pth" for kind in "GD" for step in (3, 6, 9)}


def test_a_copied_experiment_with_the_original_moved_away_resumes_on_its_own_segments(tmp_path, caplog):
    original = tmp_path / "run1" / "exp"
    filelist, config = make_experiment(original, validation_share=0.02)

    def train_in(exp: Path, epochs: int) -> Path:
        files = {name: exp / f"{name}.txt" for name in ("filelist", "validation")}
        files |= {name: exp / f"{name}.json" for name in ("config", "trained")}
        return train_experiment(**files, state_dir=exp, options=options(epochs=epochs))

    train_in(original, 1)
    shutil.copytree(tmp_path / "run1", tmp_path / "run2", symlinks=True)  # cp -a
    (tmp_path / "run1").rename(tmp_path / "moved")
    copy = tmp_path / "run2" / "exp"
    times = {name: (copy / name).stat().st_mtime_ns for name in ("filelist.txt", "validation.txt")}
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        assert train_in(copy, 2) == copy / "G_4.pth"
    # resumed (the segments are the same, relative to their folder), not superseded, on the copy's files
    assert "resuming after epoch 1" in caplog.text and not (copy / "superseded").exists()
    assert [r["epoch"] for r in tsv_rows(copy)] == ["1", "2"]
    for name, mtime in times.items():
        text = (copy / name).read_text()
        assert text.count(f"{copy}/") == 4 * len(text.split("\n")) and str(original) not in text
        assert (copy / name).stat().st_mtime_ns == mtime
