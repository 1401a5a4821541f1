"""Removing the outputs of sources that left an experiment's input folder (its own workflow step)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.layout import PER_SOURCE_FOLDERS, REPORTS

log = logging.getLogger(__name__)


def prune_stale(experiment_dir: str | os.PathLike, keep: set[str]) -> list[Path]:
    """Delete per-source outputs (stage folders and ``reports/{rule}/{source}.tsv``) of sources
    not in ``keep``; return what was removed."""
    root = Path(experiment_dir)
    removed = []
    for sub in PER_SOURCE_FOLDERS:
        for folder in sorted((root / sub).glob("*")):
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder)
                removed.append(folder)
    for report in sorted(root.glob(f"{REPORTS}/*/*.tsv")):
        if report.stem not in keep:
            report.unlink()
            removed.append(report)
    return removed


def prune_sources(experiment_dir: str | os.PathLike, sources: list[str], record: str | os.PathLike) -> list[Path]:
    """``prune_stale`` keeping ``sources``, each removal logged; ``record`` then lists the sources
    whose outputs the experiment folder holds, one a line."""
    removed = prune_stale(experiment_dir, set(sources))
    for path in removed:
        log.info("removed %s: its source is no longer in the input", path)
    with atomic_path(record) as tmp:
        tmp.write_text("".join(f"{name}\n" for name in sorted(sources)), encoding="utf-8")
    return removed
