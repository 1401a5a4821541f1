"""Ctrl-C in the terminal: SIGINT to every process of the run's process group, the worker pool's
processes among them, while a pool task is under way (held there by a fault point, so the
signal lands in the middle of a job whatever the machine's speed).

The run ends within seconds: each interrupted job fails with one "stopped by SIGINT" and
Snakemake removes its outputs; the rerun finishes with the outputs of a run never interrupted.
(A training under the same Ctrl-C: test_workflow_stop.py.)
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf
from conftest import Workflow
from test_workflow_preprocess import config, make_sources

from rvc_pipeline.faults import HOLDING

# From the signal to Snakemake's exit: the held tasks are abandoned, not finished.
SHUTDOWN_S = 10


def _content(path: Path) -> bytes:
    """A file's bytes; a WAV file's samples (libsndfile's PEAK chunk holds the time of writing)."""
    if path.suffix != ".wav":
        return path.read_bytes()
    samples, rate = sf.read(path, dtype="float32")
    return rate.to_bytes(4, "little") + samples.tobytes()


def _outputs(workflow: Workflow) -> dict[str, bytes]:
    """The experiment's files (not the logs, which hold times) by path."""
    results = workflow.workdir / "results"
    return {
        str(path.relative_to(results)): _content(path)
        for path in sorted(results.rglob("*"))
        if path.is_file() and "logs" not in path.relative_to(results).parts
    }


def _interrupted(workflow: Workflow, target: str) -> tuple[float, str, int]:
    """Run ``snakemake target`` in a process group of its own, as a terminal's foreground job,
    and send the group SIGINT once a pool task holds; returns (seconds to exit, output, status)."""
    proc = subprocess.Popen(
        workflow.command(target),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "RVC_PIPELINE_FAULT": "preprocess:1:hold"},
    )
    try:
        before = []
        for line in proc.stdout:  # the worker writes on the run's stderr, which is this pipe
            before.append(line)
            if HOLDING.format(name="preprocess") in line:
                break
        assert proc.poll() is None, "".join(before)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        after, _ = proc.communicate(timeout=60)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return seconds, "".join(before) + after, proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("target", ["preprocess", "extract"])
def test_ctrl_c_in_the_terminal_stops_the_pools_jobs_and_a_rerun_finishes_alike(tmp_path: Path, target: str):
    make_sources(tmp_path / "voices", names=("alpha", "beta", "gamma", "delta"))
    runs = {}
    for name in ("clean", "stopped"):
        runs[name] = Workflow(tmp_path / name)
        shutil.copytree(tmp_path / "voices", runs[name].workdir / "voices")  # the same times: recorded
        runs[name].write_config({**config(f0_method="pm"), "pretrained": {"hubert_standin": "tiny"}})
    runs["clean"].run(target)

    seconds, output, status = _interrupted(runs["stopped"], target)
    assert status != 0, output
    assert seconds < SHUTDOWN_S, output
    assert "KeyboardInterrupt" not in output and "BrokenProcessPool" not in output, output
    # Every job that failed was stopped, in one line of its own, and its outputs removed.
    failed = re.findall(r"^Error in rule (\w+):", output, re.M)
    stopped = re.findall(r"^StopRequested in file .*:\nstopped by SIGINT$", output, re.M)
    removed = re.findall(r"^Removing output files of failed job (\w+)", output, re.M)
    assert failed and set(failed) == {"slice_audio"} and len(stopped) == len(failed), output
    assert set(removed) <= {"slice_audio"} and len(removed) <= len(failed), output  # (those that had begun)

    rerun = runs["stopped"].run(target)
    assert "LockException" not in rerun.stderr  # Snakemake released its lock on the way out
    assert _outputs(runs["stopped"]) == _outputs(runs["clean"])
    assert runs["stopped"].dry_run_jobs(target) == []
