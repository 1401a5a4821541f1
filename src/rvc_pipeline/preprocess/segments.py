"""RVC's step 2a for one source: decode, high-pass, slice, cut ``per``-second segments, normalise, write."""

from __future__ import annotations

import itertools
import logging
import math
import os
from pathlib import Path

import numpy as np
import soxr

from rvc_pipeline.audio import MAX_REPAIR_MS, AudioDecodeError, decode_audio, write_wav
from rvc_pipeline.preprocess.buckets import BUCKET_BOUNDARIES, estimated_frames, hop_length, in_buckets, shortest_trainable_s
from rvc_pipeline.faults import fault_point
from rvc_pipeline.filters import highpass
from rvc_pipeline.layout import FEATURE_RATE
from rvc_pipeline.preprocess.dataset_report import SourceReport, write_source_report
from rvc_pipeline.options import PreprocessParams
from rvc_pipeline.preprocess.slicer import slice_wave

# Shorter pieces (only a whole recording shorter than the slicer's min_length gives one) cannot
# be analysed later: pm's pitch window is 3 periods of 50 Hz (60 ms), HuBERT's first frame 25 ms.
MIN_PIECE_S = 0.1
log = logging.getLogger(__name__)


def cut_segments(
    chunk: np.ndarray, sr: int, per: float = PreprocessParams.per, overlap: float = PreprocessParams.overlap
) -> list[np.ndarray]:
    """RVC's segmenting of one slicer chunk: ``per``-second pieces every ``per - overlap`` seconds.

    A piece starts at ``int(sr*(per-overlap)*i)``; while more than ``per + overlap`` seconds remain
    a full piece is cut, otherwise the whole remainder becomes the last piece.
    """
    tail = per + overlap
    pieces = []
    for i in itertools.count():
        start = int(sr * (per - overlap) * i)
        if len(chunk[start:]) > tail * sr:
            pieces.append(chunk[start : start + int(per * sr)])
        else:
            pieces.append(chunk[start:])
            return pieces
    raise AssertionError("unreachable")


def normalise(segment: np.ndarray, p: PreprocessParams) -> tuple[np.ndarray | None, str]:
    """RVC's ``norm_write`` scaling; returns (None, reason) for segments RVC drops or would write as NaN."""
    if not np.all(np.isfinite(segment)):
        return None, f"{np.count_nonzero(~np.isfinite(segment))} non-finite samples"
    peak = float(np.abs(segment).max()) if len(segment) else 0.0
    if peak > p.max_peak:
        return None, f"peak {peak:.3f} > {p.max_peak}"
    if peak == 0.0:
        return None, "all-zero segment"
    scaled = segment / peak * (p.norm_max * p.norm_alpha) + (1 - p.norm_alpha) * segment
    return scaled, ""


def resample_16k(samples: np.ndarray, sr: int) -> np.ndarray:
    """soxr HQ to 16 kHz, length fixed to ceil(n·16000/sr) as librosa ≥ 0.10 does (docs/differences.md)."""
    out = soxr.resample(samples, sr, FEATURE_RATE, quality="HQ")
    n = math.ceil(len(samples) * FEATURE_RATE / sr)
    return np.pad(out, (0, max(0, n - len(out))))[:n]


def preprocess_wave(
    samples: np.ndarray, sr: int, p: PreprocessParams
) -> tuple[list[np.ndarray], list[tuple[int, str]]]:
    """Pure step 2a: returns the kept normalised segments and (piece number, reason) of the dropped.

    Non-finite samples are filtered as zeros and put back afterwards: the recursive high-pass
    would otherwise carry them to every later sample, and only the pieces holding them drop.
    """
    filtered = samples.astype(np.float64)
    bad = ~np.isfinite(filtered)
    if bad.any():
        filtered[bad] = 0.0
    filtered = highpass(filtered, sr, p.highpass)
    if bad.any():
        filtered[bad] = np.nan
    kept, dropped = [], []
    pieces = [piece for chunk in slice_wave(filtered, sr, p.slicer) for piece in cut_segments(chunk, sr, p.per, p.overlap)]
    for number, piece in enumerate(pieces):
        if len(piece) < MIN_PIECE_S * sr:
            dropped.append((number, f"{len(piece)} samples, shorter than {MIN_PIECE_S:g} s: too short to analyse"))
            continue
        scaled, reason = normalise(piece, p)
        if scaled is None:
            dropped.append((number, reason))
        else:
            kept.append(scaled)
    return kept, dropped


def _untrainable(gt_dir: Path, name: str, seconds: list[float], sr: int) -> str:
    """Why training could use none of the segments ``{name}_{j}.wav`` just written (of ``seconds``
    each), or "" when it can use one: the buckets' rule (``buckets.in_buckets``) on their files."""
    frames = [estimated_frames(gt_dir / f"{name}_{j}.wav", hop_length(sr)) for j in range(len(seconds))]
    if not frames or any(map(in_buckets, frames)):
        return ""
    low, high = BUCKET_BOUNDARIES[0], BUCKET_BOUNDARIES[-1]
    if max(frames) <= low:
        return (
            f"too short to train on: its longest segment lasts {max(seconds):.2f} s ({max(frames)} frames by "
            f"RVC's estimate), training takes segments of more than {low} (about {shortest_trainable_s():.2f} s)"
        )
    return f"no segment inside training's length buckets ({low}, {high}] frames: {frames} (lower preprocess.per)"


def slice_source(
    source: str | os.PathLike,
    name: str,
    sr: int,
    gt: str | os.PathLike,
    wav16k: str | os.PathLike,
    report: str | os.PathLike,
    preprocess: PreprocessParams = PreprocessParams(),
) -> SourceReport:
    """Step 2a of one recording: segments ``{name}_{j}.wav`` (j without gaps) into ``gt`` (at ``sr``)
    and ``wav16k``, and a one-row report.

    A source that cannot be decoded is reported and yields no segments (``strict`` raises instead).
    """
    gt_dir, wav16k_dir = Path(gt), Path(wav16k)
    gt_dir.mkdir(parents=True, exist_ok=True)
    wav16k_dir.mkdir(parents=True, exist_ok=True)
    row = SourceReport(source=os.path.basename(source), name=name)
    try:
        decoded = decode_audio(source, sr, downmix=preprocess.downmix)
        if decoded.problem and preprocess.strict:
            raise AudioDecodeError(f"{source}: {decoded.problem}")
    except AudioDecodeError as err:
        if preprocess.strict:
            raise
        log.warning("skipped: %s", err)
        row.status, row.reason = "skipped", str(err).removeprefix(f"{source}: ")
        write_source_report(row, report)
        return row
    samples = decoded.samples
    if decoded.problem:
        log.warning("%s: %s", source, decoded.problem)
        row.status = "partial"
    row.duration_s = len(samples) / sr
    finite = np.abs(samples[np.isfinite(samples)])
    row.peak = float(finite.max()) if len(finite) else 0.0
    row.clipped_fraction = float(np.mean(finite >= preprocess.clip_level)) if len(finite) else 0.0
    kept, dropped = preprocess_wave(samples, sr, preprocess)
    for j, segment in enumerate(kept):
        write_wav(gt_dir / f"{name}_{j}.wav", segment, sr)
        write_wav(wav16k_dir / f"{name}_{j}.wav", resample_16k(segment, sr), FEATURE_RATE)
        fault_point("preprocess")
    untrainable = _untrainable(gt_dir, name, [len(segment) / sr for segment in kept], sr)
    if untrainable:  # training would skip every segment: the recording is dropped, not "ok"
        for folder in (gt_dir, wav16k_dir):
            for j in range(len(kept)):
                (folder / f"{name}_{j}.wav").unlink()
        kept = []
    row.segments = len(kept)
    row.repaired = decoded.repaired
    row.dropped = "; ".join(f"piece {n}: {reason}" for n, reason in dropped)
    notes = [decoded.problem] if decoded.problem else []
    if decoded.repaired:
        notes.append(f"{decoded.repaired} non-finite samples interpolated from their neighbours")
    if decoded.nonfinite:
        notes.append(
            f"{decoded.nonfinite} non-finite samples in runs longer than {MAX_REPAIR_MS:g} ms "
            "not repaired: the pieces holding them are dropped"
        )
    if decoded.downmix == "ffmpeg" and decoded.channels > 2 and any(r.startswith("peak") for _, r in dropped):
        notes.append(
            f"ffmpeg's downmix adds up the {decoded.channels} channels, so peaks exceed max_peak: "
            "preprocess: {downmix: average} keeps these pieces"
        )
    if untrainable:
        row.status = "dropped"
        notes.insert(0, untrainable)
    elif not kept and not decoded.problem:
        row.status = "empty"
        notes.insert(0, "no segment kept (silent or every piece dropped)")
    row.reason = "; ".join(notes)
    log.info("%s: %.1f s -> %d segments, %d dropped", source, row.duration_s, len(kept), len(dropped))
    write_source_report(row, report)
    return row
