"""Silence-based slicing (openvpi's audio-slicer algorithm, RVC's parameters)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rvc_pipeline.options import SlicerParams


@dataclass(frozen=True)
class SlicerFrames:
    """The slicer's parameters converted to RVC's internal units (samples and RMS frames)."""

    threshold: float
    hop: int
    win: int
    min_length: int
    min_interval: int
    max_sil_kept: int

    @classmethod
    def at(cls, sr: int, params: SlicerParams) -> SlicerFrames:
        if not params.min_length_ms >= params.min_interval_ms >= params.hop_ms:
            raise ValueError("slicer needs min_length_ms >= min_interval_ms >= hop_ms")
        if params.max_sil_kept_ms < params.hop_ms:
            raise ValueError("slicer needs max_sil_kept_ms >= hop_ms")
        min_interval_samples = sr * params.min_interval_ms / 1000
        hop = round(sr * params.hop_ms / 1000)
        return cls(
            threshold=10 ** (params.threshold_db / 20.0),
            hop=hop,
            win=min(round(min_interval_samples), 4 * hop),
            min_length=round(sr * params.min_length_ms / 1000 / hop),
            min_interval=round(min_interval_samples / hop),
            max_sil_kept=round(sr * params.max_sil_kept_ms / 1000 / hop),
        )


def frame_rms(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Centred RMS per frame with zero padding (librosa's ``rms`` with ``pad_mode="constant"``)."""
    half = frame_length // 2
    padded = np.pad(samples, (half, half), mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    rms = np.empty(len(frames))
    # In blocks of about a million samples: the squares of a whole recording at once would be
    # several times its size (frames overlap) and 10x slower; each frame's sum is unchanged.
    block = max(1, (1 << 20) // frame_length)
    for start in range(0, len(frames), block):
        rms[start : start + block] = np.sqrt(np.mean(np.square(frames[start : start + block]), axis=-1))
    return rms


def _argmin(rms: np.ndarray, start: int, stop: int) -> int:
    """Index of the quietest frame in ``rms[start:stop]``, as an absolute frame number."""
    return int(rms[start:stop].argmin()) + start


def silence_tags(rms: np.ndarray, f: SlicerFrames) -> list[tuple[int, int]]:
    """Frame ranges (begin, end) of the silences to cut out, each narrowed to at most max_sil_kept."""
    tags: list[tuple[int, int]] = []
    silence_start: int | None = None
    clip_start = 0
    keep = f.max_sil_kept
    for i, value in enumerate(rms):
        if value < f.threshold:
            if silence_start is None:
                silence_start = i
            continue
        if silence_start is None:
            continue
        leading = silence_start == 0 and i > keep
        split_here = i - silence_start >= f.min_interval and i - clip_start >= f.min_length
        if not leading and not split_here:
            silence_start = None
            continue
        if i - silence_start <= keep:
            # Short silence: cut at its quietest frame.
            pos = _argmin(rms, silence_start, i + 1)
            tags.append((0, pos) if silence_start == 0 else (pos, pos))
            clip_start = pos
        else:
            pos_l = _argmin(rms, silence_start, silence_start + keep + 1)
            pos_r = _argmin(rms, i - keep, i + 1)
            if silence_start == 0:
                tags.append((0, pos_r))
                clip_start = pos_r
            elif i - silence_start <= 2 * keep:
                # Medium silence: the two kept margins may overlap around one quietest frame.
                pos = _argmin(rms, i - keep, silence_start + keep + 1)
                tags.append((min(pos_l, pos), max(pos_r, pos)))
                clip_start = max(pos_r, pos)
            else:
                tags.append((pos_l, pos_r))
                clip_start = pos_r
        silence_start = None
    total = len(rms)
    if silence_start is not None and total - silence_start >= f.min_interval:
        end = min(total, silence_start + keep)
        tags.append((_argmin(rms, silence_start, end + 1), total + 1))
    return tags


def slice_wave(samples: np.ndarray, sr: int, params: SlicerParams = SlicerParams()) -> list[np.ndarray]:
    """Split a mono signal at its silences; audio of at most min_length frames is returned whole."""
    f = SlicerFrames.at(sr, params)
    if (len(samples) + f.hop - 1) // f.hop <= f.min_length:
        return [samples]
    rms = frame_rms(samples, f.win, f.hop)
    tags = silence_tags(rms, f)
    if not tags:
        return [samples]
    total = len(rms)
    bounds = []
    if tags[0][0] > 0:
        bounds.append((0, tags[0][0]))
    bounds.extend((tags[k][1], tags[k + 1][0]) for k in range(len(tags) - 1))
    if tags[-1][1] < total:
        bounds.append((tags[-1][1], total))
    return [samples[begin * f.hop : min(len(samples), end * f.hop)] for begin, end in bounds]
