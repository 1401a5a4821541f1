"""The lines a run ends with: one per experiment, trained or not and why.

Light (standard library only): the Snakefile's ``onsuccess``/``onerror`` handlers call it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from rvc_pipeline.layout import experiment_path

# The files an experiment's model is made of, in the order the workflow writes them, each with
# the rule (and so the log) that writes it.
_STAGES = (
    ("filelist.txt", "write_filelist", "its training inputs were not written"),
    ("trained.json", "train_model", "training did not finish"),
)


@dataclass(frozen=True)
class Outcome:
    experiment: str
    line: str
    missing_model: bool  # the run was asked for a model it did not produce


def experiment_outcomes(
    experiments: Iterable[str],
    *,
    untrainable: Mapping[str, str],
    busy: Collection[str],
    requested: Collection[str],
    unfinished: Collection[str] = (),
    failures: Mapping[str, str] | None = None,
) -> list[Outcome]:
    """One outcome per experiment: its model, or why there is none.

    ``untrainable``: experiment -> why it has no recording (not a failure of the run: it stays a
    report row); ``busy``: experiments another run trains; ``requested``: those whose model this
    run's targets include, and ``unfinished`` those of them whose model it was to (re)make but
    did not; ``failures``: experiment -> why it cannot be trained although the config names it
    for training (a file given as input_dir), always a failure.
    """
    failures = failures or {}
    outcomes = []
    for name in experiments:
        model = experiment_path(name, "weights", f"{name}.pth")
        if name in failures:
            outcomes.append(Outcome(name, f"{name}: not trained: {failures[name]}", True))
        elif name in untrainable:
            outcomes.append(Outcome(name, f"{name}: not trained: {untrainable[name]}", False))
        elif name in busy:
            outcomes.append(Outcome(name, f"{name}: not trained by this run: another run is training it", False))
        elif name in unfinished or (name in requested and not os.path.isfile(model)):
            older = f"; {model} is an earlier run's model" if os.path.isfile(model) else ""
            outcomes.append(Outcome(name, f"{name}: NO MODEL: {_why_no_model(name)}{older}", True))
        elif os.path.isfile(model):
            outcomes.append(Outcome(name, f"{name}: trained: {model}", False))
        else:
            outcomes.append(Outcome(name, f"{name}: no model yet (this run's targets stop before training)", False))
    return outcomes


def _why_no_model(name: str) -> str:
    for file, rule, what in _STAGES:
        if not os.path.isfile(experiment_path(name, file)):
            return f"{what} (see {experiment_path(name, 'logs', f'{rule}.log')})"
    return f"the model was not exported (see {experiment_path(name, 'logs', 'export_model.log')})"


def cancel_waiting_timers() -> int:
    """Cancel the ``threading.Timer`` threads still waiting; returns how many.

    Snakemake's job rate limiter (``--max-jobs-per-timespan``, 100/1s by default, and 1 s is the
    shortest span it parses) starts a 1 s timer at every scheduling round to look again, and the
    interpreter waits for the last one before it exits: up to a second added to every run. When
    the run's end handlers are called, no round is left to schedule.
    """
    timers = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer) and thread.is_alive()]
    for timer in timers:
        timer.cancel()
    return len(timers)
