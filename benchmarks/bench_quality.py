"""Cost of the voice-quality measures per held-out segment (3.7 s), in CPU time on one thread.

Per segment: the rendering's speaker embedding (its recording's is computed once), its f0 with
each method (the recording's is already in 2b-f0nsf), and the mel-cepstral distortion (both
cepstra). The encoder's cost does not depend on its weights: random ones stand in unless
--weights is given. Prints each part as a share of the segment's duration and, given a run's
losses.tsv and its number of held-out segments, the slowdown of an epoch that measures them all.
Usage: python benchmarks/bench_quality.py [--weights pretrained/speaker_encoder/resemblyzer.pt]
       [--losses results/demo/losses.tsv --held-out 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import soxr
import torch

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.pitch.classic import F0_METHODS, compute_f0
from rvc_pipeline.layout import FEATURE_RATE as SR
from rvc_pipeline.quality.mcd import mel_cepstral_distortion
from rvc_pipeline.quality.speaker import SpeakerEncoder, embed, load_speaker_encoder
from rvc_pipeline.tables import read_tsv

SEGMENT_S = 3.7


def seconds_per_call(work, repeats: int = 5) -> float:
    """Median CPU seconds of ``work()`` (one thread, so the time on one core even on a busy machine)
    after one untimed warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="the speaker encoder's weights (default: random ones)")
    parser.add_argument("--losses", help="a run's losses.tsv: its mean epoch seconds give the slowdown")
    parser.add_argument("--held-out", type=int, default=2, help="held-out segments of that run (default: 2)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    encoder = load_speaker_encoder(args.weights) if args.weights else SpeakerEncoder().eval()
    recording = soxr.resample(synthesize_voice(SEGMENT_S, 32000, seed=1), 32000, SR).astype(np.float32)
    rendering = soxr.resample(synthesize_voice(SEGMENT_S, 32000, seed=2), 32000, SR).astype(np.float32)
    costs = {
        "speaker embedding": seconds_per_call(lambda: embed(encoder, rendering)),
        "mel-cepstral distortion": seconds_per_call(lambda: mel_cepstral_distortion(recording, rendering)),
        **{f"f0 ({method})": seconds_per_call(lambda m=method: compute_f0(rendering, m)) for method in F0_METHODS},
    }
    for name, seconds in costs.items():
        print(f"{name:24s} {1000 * seconds:7.1f} ms  {seconds / SEGMENT_S:6.3f} x the segment's duration")
    base = costs["speaker embedding"] + costs["mel-cepstral distortion"]
    for method in F0_METHODS:
        total = base + costs[f"f0 ({method})"]
        line = f"per segment, f0 {method:8s} {1000 * total:7.1f} ms  {total / SEGMENT_S:6.3f} x the segment's duration"
        if args.losses:
            epoch_s = float(np.mean([float(row["seconds"]) for row in read_tsv(args.losses)]))
            line += f"  {args.held_out * total / epoch_s:6.3f} x a mean epoch of {args.losses}"
        print(line)


if __name__ == "__main__":
    main()
