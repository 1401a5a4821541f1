"""The Pitch page: f0 range, histogram and voiced share per source and overall (from ``2b-f0nsf``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rvc_pipeline.reporting.figures import Figure, new_figure, note_figure, save_png
from rvc_pipeline.reporting.page import Page

F0_BINS = np.geomspace(50, 1100, 60)  # RVC's f0 range, on a log scale as pitch is heard
F0_TICKS = (50, 75, 100, 150, 200, 300, 400, 600, 800, 1100)
MAX_LINES = 12  # sources drawn as lines of their own; the overall histogram always


def source_f0(folder: str | os.PathLike) -> np.ndarray:
    """Every frame's f0 in Hz (0 = unvoiced) of one source's segments."""
    files = sorted(Path(folder).glob("*.wav.npy"))
    return np.concatenate([np.load(path) for path in files]) if files else np.zeros(0)


def pitch_row(name: str, f0: np.ndarray) -> list:
    """source, frames, voiced %, median, 5-95 % range and min-max of the voiced frames."""
    voiced = f0[f0 > 0]
    if not len(voiced):
        return [name, len(f0), 0.0, "", "", ""]
    low, median, high = np.percentile(voiced, [5, 50, 95])
    return [
        name,
        len(f0),
        round(100 * len(voiced) / len(f0), 1),
        round(float(median), 1),
        f"{low:.0f}-{high:.0f}",
        f"{voiced.min():.0f}-{voiced.max():.0f}",
    ]


def _histogram(
    per_source: dict[str, np.ndarray], overall: np.ndarray, figure_path: str | os.PathLike
) -> Figure:
    if not np.any(overall > 0):
        return save_png(note_figure("no voiced frame: nothing to draw"), figure_path)
    figure = new_figure(10, 3.5)
    axes = figure.subplots()
    voiced = overall[overall > 0]
    axes.hist(
        voiced,
        bins=F0_BINS,
        weights=np.full(len(voiced), 1 / len(voiced)),
        color="#cccccc",
        label="all sources",
    )
    for name, f0 in list(per_source.items())[:MAX_LINES]:
        if np.any(f0 > 0):
            voiced = f0[f0 > 0]
            weights = np.full(len(voiced), 1 / len(voiced))
            axes.hist(voiced, bins=F0_BINS, weights=weights, histtype="step", linewidth=1.5, label=name)
    axes.set_xscale("log")
    axes.set_xticks(F0_TICKS, [str(tick) for tick in F0_TICKS])
    axes.set_xlabel("f0 (Hz)")
    axes.set_ylabel("share of the voiced frames")
    axes.set_title("Pitch of the voiced frames", fontsize=10)
    axes.legend(fontsize=8, ncols=2)
    return save_png(figure, figure_path)


def plot_pitch(
    *,
    f0_hz: Sequence[str | os.PathLike],
    method: str,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> None:
    """The Pitch page of ``experiment`` from its per-source ``2b-f0nsf`` folders."""
    per_source = {Path(folder).name: source_f0(folder) for folder in f0_hz}
    overall = np.concatenate([*per_source.values(), np.zeros(0)])
    page = Page(f"Pitch: {experiment}")
    page.text(f"f0 method {method}; frames every 10 ms; ranges over the voiced frames only.")
    columns = ["source", "frames", "voiced %", "median Hz", "5-95 % Hz", "min-max Hz"]
    page.table(
        columns, [pitch_row("all sources", overall), *(pitch_row(n, f) for n, f in per_source.items())]
    )
    page.image(_histogram(per_source, overall, figure), "f0 histograms")
    page.write(summary)
