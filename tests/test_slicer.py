"""The slicer cuts at known silences, keeps at most max_sil_kept of each, and keeps short clips whole."""

import numpy as np
import pytest
from conftest import harmonic_tone

from rvc_pipeline.options import SlicerParams
from rvc_pipeline.preprocess.slicer import SlicerFrames, frame_rms, slice_wave

SR = 40000


def test_rvc_units_at_each_rate():
    # RVC.md §1.4: 100/27/33 frames at every rate; hop 480/600/720 samples.
    for sr, hop in [(32000, 480), (40000, 600), (48000, 720)]:
        f = SlicerFrames.at(sr, SlicerParams())
        assert (f.hop, f.win, f.min_length, f.min_interval, f.max_sil_kept) == (hop, 4 * hop, 100, 27, 33)
        assert f.threshold == pytest.approx(0.00794, abs=1e-5)


def test_frame_rms_matches_definition():
    x = np.random.default_rng(0).standard_normal(5000)
    rms = frame_rms(x, 400, 100)
    padded = np.pad(x, 200)
    assert len(rms) == 1 + len(x) // 100
    assert rms[7] == pytest.approx(np.sqrt(np.mean(padded[700:1100] ** 2)))


def _layout(parts):
    """Concatenate (kind, seconds) parts; return the signal and the sample spans of the tones."""
    pieces, spans, pos = [], [], 0
    for kind, seconds in parts:
        n = int(seconds * SR)
        if kind == "tone":
            pieces.append(harmonic_tone(150 + 20 * len(spans), seconds, SR))
            spans.append((pos, pos + n))
        else:
            pieces.append(np.zeros(n, np.float32))
        pos += n
    return np.concatenate(pieces), spans


def _locate(chunk, signal):
    """Start of ``chunk`` inside ``signal`` (chunks are contiguous slices)."""
    hop = SlicerFrames.at(SR, SlicerParams()).hop
    for start in range(0, len(signal), hop):
        if np.array_equal(signal[start : start + len(chunk)], chunk):
            return start
    raise AssertionError("chunk is not a slice of the signal")


def test_cuts_inside_silences_and_keeps_at_most_max_sil_kept():
    signal, tones = _layout(
        [("sil", 1.0), ("tone", 2.0), ("sil", 0.45), ("tone", 2.0), ("sil", 0.2), ("tone", 2.0),
         ("sil", 1.0), ("tone", 2.0), ("sil", 3.0), ("tone", 2.0), ("sil", 1.5)]
    )  # fmt: skip
    chunks = slice_wave(signal, SR)
    starts = [_locate(c, signal) for c in chunks]
    spans = [(s, s + len(c)) for s, c in zip(starts, chunks)]
    # Each chunk holds whole tones; the 0.2 s pause is shorter than min_interval (0.4 s), so
    # tones 2 and 3 stay together, and every other pause is cut.
    groups = [[t for t in tones if s <= t[0] and t[1] <= e] for s, e in spans]
    assert groups == [[tones[0]], [tones[1], tones[2]], [tones[3]], [tones[4]]]
    # No chunk keeps more than max_sil_kept (+ half an RMS window) of silence at either end.
    f = SlicerFrames.at(SR, SlicerParams())
    limit = f.max_sil_kept * f.hop + f.win // 2
    for s, e in spans:
        inside = [(b, t) for b, t in tones if s <= b and t <= e]
        if inside:
            assert inside[0][0] - s <= limit
            assert e - inside[-1][1] <= limit
    # The 3 s silence loses at least 2 s: at most max_sil_kept is kept on each side.
    gap = tones[4][0] - tones[3][1]
    removed = gap - sum(min(e, tones[4][0]) - max(s, tones[3][1]) for s, e in spans if s < tones[4][0] and e > tones[3][1])
    assert removed >= gap - 2 * limit


def test_short_pause_below_min_interval_is_not_cut():
    signal, _ = _layout([("tone", 2.0), ("sil", 0.3), ("tone", 2.0)])
    assert len(slice_wave(signal, SR)) == 1


def test_clip_of_at_most_min_length_is_returned_whole():
    signal, _ = _layout([("tone", 0.6), ("sil", 0.8), ("tone", 0.09)])  # 1.49 s <= 100 frames of 15 ms
    chunks = slice_wave(signal, SR)
    assert len(chunks) == 1 and chunks[0] is signal


def test_all_silent_signal_gives_no_audio():
    chunks = slice_wave(np.zeros(5 * SR, np.float32), SR)
    assert sum(len(c) for c in chunks) == 0


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="min_length_ms >= min_interval_ms"):
        SlicerFrames.at(SR, SlicerParams(min_length_ms=300))
