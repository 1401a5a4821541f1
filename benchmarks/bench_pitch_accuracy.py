"""Pitch accuracy and speed of every registered method on speech whose pitch is known.

Two kinds of clip, both 16 kHz: the demo synthesiser's voice (its contour is known by
construction) and real speech (the single-speaker recordings in ../shared/data) resynthesised by
WORLD along a smoothed contour. That contour comes from harvest, so harvest is favoured on those
clips. Per method: gross pitch error (frames voiced in both where the estimate is more than 20 %
off), voicing error (frames whose voiced/unvoiced decision differs from the truth) and speed
(× real time, one core: torch and the WORLD/Praat code on one thread). rmvpe runs only with
--rmvpe PATH (RVC's rmvpe.pt); the other methods with weights fetch their published ones (the
pretrained manifest; downloads are cached), and are left out when that fails.
Usage: python benchmarks/bench_pitch_accuracy.py [--seconds 4] [--rmvpe pretrained/rmvpe.pt]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyworld
import soundfile as sf
import soxr
import torch
from scipy import signal

from rvc_pipeline.demo import FRAME_MS, voice_and_pitch
from rvc_pipeline.layout import FEATURE_RATE as SR
from rvc_pipeline.layout import HOP
from rvc_pipeline.pitch.registry import METHODS, tracker
from rvc_pipeline.pretrained.fetch import fetch_asset
from rvc_pipeline.pretrained.manifest import ASSETS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FRAME_S = HOP / SR


def demo_clips(seconds: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, audio, true f0 per 10 ms) of two demo voices, one low, one high."""
    clips = []
    for seed, base in ((1, 110.0), (2, 210.0)):
        audio, f0 = voice_and_pitch(seconds, SR, seed=seed, base_f0=base)
        step = round(FRAME_S * 1000 / FRAME_MS)
        clips.append((f"demo {base:.0f} Hz", audio, f0[::step]))
    return clips


def world_clips(data: Path, seconds: float, count: int = 2) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Real speech resynthesised by WORLD along its harvest contour, median-smoothed (5 frames)."""
    files = sorted((data / "ljspeech").glob("*.wav"))[:count]
    clips = []
    for path in files:
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
        x = soxr.resample(audio.mean(axis=1), rate, SR)[: int(seconds * SR)]
        f0, t = pyworld.harvest(x, SR, f0_floor=50.0, f0_ceil=1100.0, frame_period=FRAME_S * 1000)
        f0 = signal.medfilt(f0, 5)
        sp, ap = pyworld.cheaptrick(x, f0, t, SR), pyworld.d4c(x, f0, t, SR)
        y = pyworld.synthesize(f0, sp, ap, SR, FRAME_S * 1000)
        y = (y / (np.abs(y).max() + 1e-9) * 0.6).astype(np.float32)
        clips.append((f"WORLD {path.stem}", y, f0))
    return clips


def scores(estimate: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(gross errors, frames voiced in both, voicing errors, frames) over the frames both have."""
    n = min(len(estimate), len(truth))
    est, ref = np.asarray(estimate[:n], dtype=np.float64), truth[:n]
    both = (est > 0) & (ref > 0)
    gross = int(np.sum(np.abs(est[both] / ref[both] - 1) > 0.2))
    return gross, int(both.sum()), int(np.sum((est > 0) != (ref > 0))), n


def weights_of(name: str, folder: Path, rmvpe: Path | None) -> str | None:
    key = METHODS[name].weights
    if key is None:
        return None
    if key == "rmvpe":
        return str(rmvpe) if rmvpe else None
    target = folder / ASSETS[key].path
    fetch_asset(ASSETS[key], target, report=lambda line: None)
    return str(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each clip")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rmvpe", type=Path, help="RVC's rmvpe.pt (rmvpe is left out without it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clips = {"demo": demo_clips(args.seconds)}
    if (args.data / "ljspeech").is_dir():
        clips["WORLD"] = world_clips(args.data, args.seconds)
    else:
        print(f"no real speech at {args.data}: demo clips only")
    audio_s = {kind: sum(len(a) for _, a, _ in group) / SR for kind, group in clips.items()}
    print(f"clips: {', '.join(f'{len(g)} × {kind} ({audio_s[kind]:.0f} s)' for kind, g in clips.items())}; "
          "truth of the WORLD clips: harvest (favoured there)")
    header = "| method | " + " | ".join(f"{kind} GPE % | {kind} voicing err % " for kind in clips) + "| × real time (1 core) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as folder:
        for name in METHODS:
            try:
                weights = weights_of(name, Path(folder), args.rmvpe)
            except Exception as error:  # a download that fails leaves the method out, said why
                print(f"| {name} | left out: {error} |")
                continue
            if METHODS[name].weights and weights is None:
                print(f"| {name} | left out: no weights (--{name} PATH) |")
                continue
            track = tracker(name, weights, "cpu")
            track(clips["demo"][0][1][:SR])  # warm-up: loading and first-call costs are not speed
            cells, seconds = [], 0.0
            for group in clips.values():
                gross = voiced = wrong = frames = 0
                for _, audio, truth in group:
                    start = time.process_time()
                    estimate = track(audio)
                    seconds += time.process_time() - start
                    g, v, w, n = scores(estimate, truth)
                    gross, voiced, wrong, frames = gross + g, voiced + v, wrong + w, frames + n
                cells += [f"{100 * gross / max(voiced, 1):.1f}", f"{100 * wrong / frames:.1f}"]
            print(f"| {name} | " + " | ".join(cells) + f" | {sum(audio_s.values()) / seconds:.1f} |")


if __name__ == "__main__":
    main()
