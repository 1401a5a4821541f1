"""The shared worker pool: order, bounded width, errors and log records back in the job's thread."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone

from rvc_pipeline.pitch.classic import extract_f0_dir
from rvc_pipeline.logs import rule_log
from rvc_pipeline.stopping import StopRequested
from rvc_pipeline.workers import WorkerPool, _alive, imap, useful_width


def _span(folder: str, number: int, seconds: float) -> int:
    """A task that records when it ran (in its own process) and returns its number."""
    start = time.time()
    time.sleep(seconds)
    Path(folder, f"{number}.txt").write_text(f"{start} {time.time()} {os.getpid()}")
    return number


def _fail_or_log(number: int) -> int:
    logging.getLogger("rvc_pipeline.test").warning("task %d ran", number)
    if number == 2:
        raise ValueError("task 2 failed")
    return number


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _most_at_once(folder: Path) -> int:
    spans = [tuple(map(float, p.read_text().split()[:2])) for p in folder.glob("*.txt")]
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


@pytest.fixture(scope="module")
def pool():
    return WorkerPool(3)


def test_results_in_task_order_and_at_most_width_at_once(pool, tmp_path):
    for width in (1, 2):
        folder = tmp_path / str(width)
        folder.mkdir()
        # Later tasks are shorter, so they finish first: the results still come back in order.
        tasks = [{"folder": str(folder), "number": n, "seconds": 0.3 - 0.05 * n} for n in range(5)]
        assert list(pool.imap(_span, tasks, width)) == list(range(5))
        assert _most_at_once(folder) == width
    pids = {p.read_text().split()[2] for p in tmp_path.rglob("*.txt")}
    assert str(os.getpid()) not in pids


def test_task_logs_reach_the_jobs_log_and_errors_are_raised_there(pool, tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(ValueError, match="task 2 failed"), rule_log(log):
        for _ in pool.imap(_fail_or_log, [{"number": n} for n in range(4)], 2):
            pass
    text = log.read_text()
    assert "task 0 ran" in text and "task 1 ran" in text and "task 2 ran" in text


def test_a_killed_worker_fails_the_job_and_the_pool_starts_anew(tmp_path):
    pool = WorkerPool(1)
    with pytest.raises(Exception, match="terminated abruptly"):
        pool.call(_die)
    assert pool.call(_span, folder=str(tmp_path), number=7, seconds=0) == 7


def _ctrl_c_here() -> str:
    """A task that gets a terminal's Ctrl-C (SIGINT to each process of the group) in its worker."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    except KeyboardInterrupt:
        return "interrupted"
    return "went on"


def test_a_worker_leaves_ctrl_c_to_the_run(pool):
    # A KeyboardInterrupt handed back to a job's thread is an outcome Snakemake never reports:
    # the run hung. The process running the jobs decides what the signal means (stop_pools).
    assert pool.call(_ctrl_c_here) == "went on"


def test_a_stopped_pool_fails_its_jobs_at_once_and_ends_the_tasks_under_way(tmp_path):
    pool = WorkerPool(2)
    tasks = [{"folder": str(tmp_path), "number": n, "seconds": 60} for n in range(4)]
    outcome = {}

    def job():
        started = time.monotonic()
        try:
            list(pool.imap(_span, tasks, 2))
        except StopRequested as stopped:
            outcome["stopped"] = stopped.signum, time.monotonic() - started

    thread = threading.Thread(target=job)
    thread.start()
    deadline = time.monotonic() + 60
    while len(workers := list(pool._executor._processes.values()) if pool._executor else []) < 2:
        assert time.monotonic() < deadline, "no workers started"
        time.sleep(0.05)
    time.sleep(0.5)  # the tasks are under way
    pool.stop(signal.SIGINT)
    thread.join(timeout=10)
    assert not thread.is_alive()
    signum, seconds = outcome["stopped"]
    assert signum == signal.SIGINT and seconds < 10  # not the tasks' 60 s
    for worker in workers:
        worker.join(timeout=10)
        assert not _alive(worker.pid)
    assert list(tmp_path.glob("*.txt")) == []  # no task finished
    with pytest.raises(StopRequested):  # and no new one starts
        pool.call(_span, folder=str(tmp_path), number=9, seconds=0)


def test_without_a_pool_tasks_run_here_one_by_one(tmp_path):
    tasks = [{"folder": str(tmp_path), "number": n, "seconds": 0} for n in range(3)]
    assert list(imap(_span, tasks, None)) == [0, 1, 2]
    assert {p.read_text().split()[2] for p in tmp_path.glob("*.txt")} == {str(os.getpid())}


def test_f0_in_the_pool_equals_f0_in_this_thread(pool, tmp_path):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for k, f0 in enumerate((110.0, 180.0, 260.0)):
        sf.write(wavs / f"s_{k}.wav", harmonic_tone(f0, 1.5, 16000), 16000, subtype="FLOAT")
    for method in ("pm", "dio"):
        extract_f0_dir(wavs, tmp_path / method / "c1", tmp_path / method / "h1", method)
        extract_f0_dir(wavs, tmp_path / method / "c2", tmp_path / method / "h2", method, pool=pool, width=3)
        for k in range(3):
            for kind in ("c", "h"):
                here = np.load(tmp_path / method / f"{kind}1" / f"s_{k}.wav.npy")
                there = np.load(tmp_path / method / f"{kind}2" / f"s_{k}.wav.npy")
                assert here.dtype == there.dtype and np.array_equal(here, there)


def test_workers_end_when_the_run_is_killed(tmp_path):
    # A run killed with SIGKILL cannot stop its pool: the workers must notice and leave, or they
    # wait for tasks forever and keep the run's output pipes open.
    code = (
        "import os, signal, sys\n"
        "from rvc_pipeline.workers import WorkerPool\n"
        "pool = WorkerPool(2)\n"
        "print(pool.call(os.getpid), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:
        # The output goes to a file, so a worker left behind does not block this test.
        run = subprocess.run([sys.executable, "-c", code], stdout=handle, timeout=120)
    assert run.returncode == -signal.SIGKILL
    worker = int(out.read_text().split()[0])
    deadline = time.time() + 20
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)


def test_useful_width_counts_the_segments_that_keep_a_worker_busy():
    assert useful_width([]) == 1
    assert useful_width([236880]) == 1
    # RVC's 3.7 s pieces and a 0.6 s tail: the tail's worker would idle most of the job.
    assert useful_width([59200, 9600]) == 1
    assert useful_width([153680, 135440]) == 2  # two comparable pieces
    assert useful_width([229520, 236880, 51280]) == 2
    assert useful_width([59200] * 170) == 170  # Snakemake caps threads at --cores


def test_workers_do_not_import_the_main_module(tmp_path):
    # multiprocessing makes every worker import the parent's main file; for the `snakemake`
    # console script that is all of Snakemake. An unguarded script shows whether they do.
    marks = tmp_path / "imports.txt"
    script = tmp_path / "main.py"
    script.write_text(
        "import os\n"
        f"with open({str(marks)!r}, 'a') as handle:\n"
        "    handle.write(f'{os.getpid()}\\n')\n"
        "from rvc_pipeline.workers import WorkerPool\n"
        "print(WorkerPool(2).call(os.getpid))\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    importers = [int(pid) for pid in marks.read_text().split()]
    assert len(importers) == 1 and importers[0] != int(run.stdout.split()[-1])  # the parent alone


def test_a_stage_entry_point_reaches_a_worker_by_name_without_importing_its_module_here():
    """A run block's `from rvc_pipeline.preprocess import slice_source` must not import slicing's
    modules into Snakemake's process: the worker that runs it imports them."""
    code = """
import pickle, sys
from rvc_pipeline.preprocess import slice_source
sent = pickle.dumps(slice_source)
assert "rvc_pipeline.preprocess.segments" not in sys.modules and "scipy" not in sys.modules
received = pickle.loads(sent)
assert received.target.__module__ == "rvc_pipeline.preprocess.segments" and received.target.__name__ == "slice_source"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_folder_width_counts_the_segments_a_folder_keeps_busy(tmp_path):
    from rvc_pipeline.workers import folder_width

    assert folder_width(tmp_path / "not yet") == 1
    for name, size in (("a.wav", 1000), ("b.wav", 1000), ("c.wav", 100), ("notes.txt", 5000)):
        (tmp_path / name).write_bytes(b"x" * size)
    assert folder_width(tmp_path) == 2  # the short tail file gets no worker of its own
