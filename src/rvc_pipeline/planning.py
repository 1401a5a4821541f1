"""Experiment planning when Snakemake reads the workflow: the recordings each experiment trains
on and converts, why one without recordings is not trained, and where a warm start comes from.

Imported when Snakemake parses the workflow: standard library only.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from typing import Any

from rvc_pipeline.preprocess.sources import Excluded, demo_sources, discover_sources

Experiment = Mapping[str, Any]  # one experiment of the validated config


def scan_sources(experiment: Experiment, demo_dir: str) -> tuple[dict[str, str], Excluded]:
    """(sources, excluded) of one experiment: name -> file, entry -> (status, reason). A demo's
    recordings are made in ``demo_dir``; a missing ``input_dir`` has none (``untrainable_reason``)."""
    if experiment["demo"]:
        return demo_sources(demo_dir, experiment["demo"]), {}
    if not os.path.isdir(experiment["input_dir"]):
        return {}, {}
    return discover_sources(experiment["input_dir"])


def convert_sources(experiment: Experiment, demo_dir: str) -> dict[str, str]:
    """Recordings to convert, name -> file: ``convert_dir``'s files, or a demo's first recording."""
    if "convert_dir" in experiment:
        return discover_sources(experiment["convert_dir"])[0]
    if experiment["demo"]:
        return demo_sources(demo_dir, 1)
    return {}


def unused_entries(excluded: Excluded) -> list[str]:
    """The left-out entries that look like recordings (folders and hidden files are not named)."""
    return [entry for entry, (status, _) in excluded.items() if status != "ignored"]


def untrainable_reason(input_dir: str) -> str:
    """Why an experiment whose ``input_dir`` gave no recordings is not trained."""
    if os.path.isdir(input_dir):
        state = "holds no recordings"
    elif os.path.exists(input_dir):
        state = "is a file, not a folder"
    else:
        state = "does not exist"
    return f"input_dir {input_dir!r} {state}"


def warm_start_folder(experiment: Experiment, experiments: Mapping[str, Experiment]) -> str | None:
    """The RVC experiment folder an experiment starts from: a ``warm_start`` that names no
    experiment of the config (None when there is none)."""
    warm = experiment.get("warm_start")
    return warm if warm is not None and warm not in experiments else None


# Collector thresholds while Snakemake plans: young objects are collected every 100,000
# allocations instead of every 700, so the old ones are rescanned far less often.
PLANNING_GC_THRESHOLDS = (100_000, 50, 100)
_USUAL_GC_THRESHOLDS = gc.get_threshold()


def collect_less_while_planning() -> None:
    """Called once the workflow is read. Planning builds millions of long-lived objects (jobs,
    paths, wildcards), and Python's cyclic collector rescanned them all again and again: a sixth
    of ``snakemake -n`` over 10,000 recordings (39 s -> 34 s without). The objects made while
    reading the workflow stay for the whole run, so they leave its scans for good (``gc.freeze``).
    """
    gc.freeze()
    gc.set_threshold(*PLANNING_GC_THRESHOLDS)


def collect_as_usual() -> None:
    """Called when the jobs start (Snakemake's ``onstart``): jobs that run inside the Snakemake
    process get Python's usual collector."""
    gc.set_threshold(*_USUAL_GC_THRESHOLDS)
