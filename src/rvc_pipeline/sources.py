"""Which entries of an experiment's ``input_dir`` are sources, and what their segments are named."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Per-source output folders under results/{experiment}/ (RVC's names); per-source reports are
# reports/{rule}/{source}.tsv.
PER_SOURCE_DIRS = ("0_gt_wavs", "1_16k_wavs", "2a_f0", "2b-f0nsf", "3_feature256", "3_feature768")


class SourceNameError(ValueError):
    """Two recordings would produce segments of the same name."""


def discover_sources(input_dir: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """Map source name → file for the files directly in ``input_dir``; also return ignored entries.

    The name is the file name without its last extension, so segments keep their names when
    other files come and go. Folders and hidden files are not read; they are returned with a reason.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"input_dir {os.fspath(input_dir)!r} is not a folder")
    sources: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            ignored[entry.name] = "folder: only files directly in input_dir are read"
        elif entry.name.startswith("."):
            ignored[entry.name] = "hidden file"
        else:
            name = entry.stem
            if name in sources:
                raise SourceNameError(
                    f"{sources[name]} and {entry} would both name their segments {name!r}_N: rename one"
                )
            sources[name] = os.fspath(entry)
    return sources, ignored


def demo_sources(input_dir: str | os.PathLike, count: int) -> dict[str, str]:
    """The recordings the demo synthesises into ``input_dir``."""
    return {f"demo_{k}": os.path.join(input_dir, f"demo_{k}.wav") for k in range(1, count + 1)}


def prune_stale(experiment_dir: str | os.PathLike, keep: set[str]) -> list[Path]:
    """Delete per-source outputs of sources no longer in the input; return what was removed."""
    root = Path(experiment_dir)
    removed = []
    for sub in PER_SOURCE_DIRS:
        for folder in sorted((root / sub).glob("*")):
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder)
                removed.append(folder)
    for report in sorted(root.glob("reports/*/*.tsv")):
        if report.stem not in keep:
            report.unlink()
            removed.append(report)
    return removed
