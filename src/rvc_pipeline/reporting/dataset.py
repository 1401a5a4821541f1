"""The Data page: what the recordings became, how much there is, and what to fix before training."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from rvc_pipeline.audio import native_sample_rate
from rvc_pipeline.pitch.registry import METHODS as PITCH_METHODS
from rvc_pipeline.preprocess.dataset_report import SourceReport, read_reports
from rvc_pipeline.reporting.figures import Figure, new_figure, save_png
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.reporting.pretrained import pretrained_section

MIN_MINUTES = 10.0  # RVC's guides ask for 10 minutes or more of one voice
CLIPPED_SHARE = 0.001  # a recording with more of its samples at full scale clips audibly
QUIET_DB = -40.0  # a 20 ms frame quieter than this (RMS, dBFS) is silence
LONG_SILENCE_S = 1.0
LONG_SILENCE_SHARE = 0.05  # warn when more segments than this hold a long silence
FRAME_S = 0.02


@dataclass(frozen=True)
class Segment:
    """What the page says about one segment of ``0_gt_wavs``."""

    seconds: float
    loudness_db: float  # RMS in dBFS
    longest_silence_s: float


def measure_segment(path: str | os.PathLike) -> Segment:
    samples, sr = sf.read(os.fspath(path), dtype="float32")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    frame = int(FRAME_S * sr)
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    frame_db = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    longest = run = 0
    for quiet in frame_db < QUIET_DB:
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return Segment(len(samples) / sr, 20 * np.log10(rms + 1e-12), longest * FRAME_S)


def dataset_warnings(
    rows: Sequence[SourceReport], segments: Sequence[Segment], rates: dict[str, int | None], model_rate: int
) -> list[tuple[str, str]]:
    """(warning, one-line fix) for too little data, clipping, long silences and mixed sample rates."""
    found = []
    minutes = sum(s.seconds for s in segments) / 60
    if minutes < MIN_MINUTES:
        found.append(
            (
                f"only {minutes:.1f} min of training audio (segments); RVC voices want {MIN_MINUTES:.0f} min or more",
                "add recordings of the same voice: 10 to 30 minutes of clean speech or singing",
            )
        )
    clipping = [r for r in rows if r.clipped_fraction > CLIPPED_SHARE]
    if clipping:
        names = ", ".join(f"{r.source} ({100 * r.clipped_fraction:.2f} %)" for r in clipping)
        found.append(
            (
                f"{len(clipping)} recording(s) clip (samples at full scale): {names}",
                "record or export at a lower level (peaks below -1 dBFS); clipped peaks teach the model distortion",
            )
        )
    silent = [s for s in segments if s.longest_silence_s >= LONG_SILENCE_S]
    if segments and len(silent) > LONG_SILENCE_SHARE * len(segments):
        found.append(
            (
                f"{len(silent)} of {len(segments)} segments hold a silence of {LONG_SILENCE_S:.0f} s or more "
                f"(below {QUIET_DB:.0f} dBFS)",
                "cut long pauses from the recordings, or raise preprocess: slicer: threshold_db so the slicer removes them",
            )
        )
    known = Counter(rate for rate in rates.values() if rate)
    if len(known) > 1:
        listed = ", ".join(f"{rate / 1000:g} kHz ({count})" for rate, count in sorted(known.items()))
        below = sorted(name for name, rate in rates.items() if rate and rate < model_rate)
        found.append(
            (
                f"recordings at mixed sample rates: {listed}; all are resampled to {model_rate / 1000:g} kHz"
                + (f", and {', '.join(below)} lack the top of the band" if below else ""),
                f"use recordings made at {model_rate / 1000:g} kHz or above, all at one rate",
            )
        )
    return found


def _histograms(segments: Sequence[Segment], figure_path: str | os.PathLike) -> Figure:
    figure = new_figure(10, 3.2)
    lengths, loudness = figure.subplots(1, 2)
    lengths.hist([s.seconds for s in segments], bins=30, color="#4c72b0")
    lengths.set_xlabel("segment length (s)")
    lengths.set_ylabel("segments")
    lengths.set_title("Segment lengths", fontsize=10)
    loudness.hist([s.loudness_db for s in segments], bins=30, color="#dd8452")
    loudness.set_xlabel("loudness (RMS, dBFS)")
    loudness.set_title("Segment loudness", fontsize=10)
    return save_png(figure, figure_path)


def plot_dataset(
    *,
    report: str | os.PathLike,
    gt_wavs: Sequence[str | os.PathLike],
    sources: dict[str, str],
    sample_rate: int,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> list[tuple[str, str]]:
    """The Data page of ``experiment`` from ``dataset_report.tsv`` and its segment folders; returns the warnings."""
    rows = read_reports(report)
    wavs = sorted(path for folder in gt_wavs for path in Path(folder).glob("*.wav"))
    segments = [measure_segment(path) for path in wavs]
    rates = {name: native_sample_rate(path) for name, path in sources.items()}
    recorded = [r for r in rows if r.status != "warning"]
    seconds = sum(r.duration_s for r in recorded)
    clipped = sum(r.clipped_fraction * r.duration_s for r in recorded) / seconds if seconds else 0.0

    page = Page(f"Data: {experiment}")
    page.facts(
        {
            "recordings": len(recorded),
            "recorded minutes": round(seconds / 60, 2),
            "segments": len(segments),
            "training minutes (segments)": round(sum(s.seconds for s in segments) / 60, 2),
            "clipped share of samples": f"{100 * clipped:.3f} %",
            "model sample rate": f"{sample_rate / 1000:g} kHz",
        }
    )
    warnings = dataset_warnings(recorded, segments, rates, sample_rate)
    for text, fix in warnings:
        page.warning(text, fix)
    for row in rows:
        if row.status == "warning":
            page.warning(row.reason)
    if not warnings:
        page.ok("No problem found in the data.")
    page.heading("Sources")
    columns = ["source", "status", "reason", "duration_s", "segments", "peak", "clipped_fraction", "dropped"]
    page.table(
        [*columns, "sample rate"],
        [
            [*(asdict(row)[c] for c in columns), rates.get(row.name) or ""]
            for row in rows
            if row.status != "warning"
        ],
    )
    page.heading("Segments")
    page.image(_histograms(segments, figure), "segment length and loudness histograms")
    pretrained_section(page, Path(report).parent, ("hubert", *PITCH_METHODS))
    page.write(summary)
    return warnings
