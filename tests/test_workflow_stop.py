"""Stopping a training: Ctrl-C, SIGINT or SIGTERM to Snakemake, SIGTERM to the trainer.

Each signal lands in the middle of a checkpoint save (a fault point holds the save until it
comes). Each stops within seconds, completes and keeps the save under way, saves nothing after
it, says so in one line, prints no traceback, and the next run resumes after that epoch. `rvc-pipeline report` works during the training and
after it was stopped.
"""

import html
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from test_workflow_preprocess import make_sources
from test_workflow_train import train_config

from rvc_pipeline.faults import HOLDING
from rvc_pipeline.training.checkpoint import complete_pairs
from rvc_pipeline.training.history import read_history

# From the signal to Snakemake's exit: the rest of the save, at most the step in progress (a
# few on a loaded machine) and Snakemake's shutdown; an epoch has 8 steps, so finishing the
# next epoch would take longer.
STOP_STEPS, SHUTDOWN_S = 2, 15
NOISE = ("Traceback", "KeyboardInterrupt", "event loop")


def _newest_step(state):
    pairs = complete_pairs(state)
    return pairs[-1].step if pairs else 0


# The trainer's third checkpoint file (G of its second save: the first save's row is in
# losses.tsv by then) holds until the signal: the signal lands in the middle of a save.
HOLD = "checkpoint:3:hold"


def _wait_for_hold(proc):
    """Read the run's output until the trainer holds in the middle of a save; returns the lines."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if HOLDING.format(name="checkpoint") in line:
            return lines
    raise AssertionError("the trainer never held in a save:\n" + "".join(lines))


def _trainer_pid(state):
    return int((state / "train.lock").read_text().split()[1])


def _report(workflow):
    """`rvc-pipeline report` in the working directory; returns the Training page it shows."""
    subprocess.run(
        [sys.executable, "-m", "rvc_pipeline.cli", "report"], cwd=workflow.workdir, check=True, capture_output=True
    )
    report = (workflow.workdir / "results" / "report.html").read_text()
    frame = re.search(r'<h2 id="exp-Training-training">.*?<iframe srcdoc="([^"]*)"', report, re.S)
    return html.unescape(frame.group(1))


def _stop(workflow, state, signum, whom, during=None):
    """Start `snakemake train`, signal ``whom`` in the middle of a save (first calling ``during``);
    returns (seconds to exit, output)."""
    proc = subprocess.Popen(
        workflow.command("train"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        env={**os.environ, "PYTHONWARNINGS": "ignore", "RVC_PIPELINE_FAULT": HOLD},
    )
    try:
        before = _wait_for_hold(proc)
        if during:
            during()
        saved = _newest_step(state)  # the held save is not complete: not among the pairs yet
        sent = time.monotonic()
        if whom == "group":  # a Ctrl-C in the terminal
            os.killpg(proc.pid, signum)
        elif whom == "snakemake":
            proc.send_signal(signum)
        else:
            os.kill(_trainer_pid(state), signum)
        output, _ = proc.communicate(timeout=120)
        seconds = time.monotonic() - sent
        output = "".join(before) + output
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, output
    # The save under way at the signal is completed and kept; none follows it.
    newer = [pair.step for pair in complete_pairs(state) if pair.step > saved]
    assert len(newer) == 1, ("a save after the signal" if newer else "the save under way was lost", output)
    assert f"(G_{newer[0]}.pth, D_{newer[0]}.pth)" in output, output
    return seconds, output


@pytest.mark.slow
def test_a_stop_signal_ends_training_quickly_keeping_the_last_saved_epoch(workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=8.0)
    config = train_config()
    config["train"].update(epochs=1000, batch_size=1)
    workflow.write_config(config)
    workflow.run("extract")
    state = workflow.workdir / "results" / "exp"
    log = state / "logs" / "train_model.log"

    def report_during_training():
        """Snakemake's lock and the training lock are held: the report shows the epochs so far."""
        before = int(read_history(state / "losses.tsv")[-1]["epoch"])
        page = _report(workflow)
        after = int(read_history(state / "losses.tsv")[-1]["epoch"])  # an epoch may end meanwhile
        assert "training in progress (pid" in page
        shown = re.search(r"<td>epochs finished</td><td>(\d+) of 1000</td>", page)
        assert shown and before <= int(shown.group(1)) <= after, page

    for signum, whom in (
        (signal.SIGINT, "group"),
        (signal.SIGINT, "snakemake"),
        (signal.SIGTERM, "snakemake"),
        (signal.SIGTERM, "trainer"),
    ):
        seconds, output = _stop(workflow, state, signum, whom, during=report_during_training)
        steps_per_s = float(re.findall(r" ([\d.]+) steps/s ", log.read_text())[-1])
        print(f"{signal.Signals(signum).name} to {whom}: exit {seconds:.1f} s after the signal, step {1 / steps_per_s:.1f} s")
        assert seconds < STOP_STEPS / steps_per_s + SHUTDOWN_S, output
        console = output.split("Logfile results/exp/logs/train_model.log:")[0]  # then show-failed-logs
        kept = re.findall(r"stopped by (\w+): epoch (\d+) is kept \((G_\d+\.pth), (D_\d+\.pth)\)", console)
        assert len(kept) == 1, output
        name, epoch, g_name, d_name = kept[0]
        assert name == signal.Signals(signum).name
        assert (state / g_name).is_file() and (state / d_name).is_file()
        assert f"resume after epoch {epoch}" in output
        assert not [noise for noise in NOISE if noise in output], output
        assert f"training stopped: training of results/exp stopped by {name}: epoch {epoch} is kept" in _report(workflow)

    # The next run resumes after the kept epoch and finishes.
    config["train"]["epochs"] = int(epoch) + 1
    workflow.write_config(config)
    workflow.run("train")
    assert f"resuming after epoch {epoch} " in log.read_text()
