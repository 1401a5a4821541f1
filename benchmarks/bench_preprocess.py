"""Step 2a throughput on the shared speech: seconds of audio processed per second of wall time."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rvc_pipeline.preprocess.segments import slice_source

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sr", type=int, default=40000)
    args = parser.parse_args()
    sources = sorted(p for sub in ("ljspeech", "ljspeech_long") for p in (args.data / sub).iterdir())
    if not sources:
        raise SystemExit(f"no speech under {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        audio_s, segments = 0.0, 0
        start = time.perf_counter()
        for src in sources:
            out = Path(tmp) / src.stem
            row = slice_source(src, src.stem, args.sr, out / "gt", out / "16k", out / "report.tsv")
            audio_s += row.duration_s
            segments += row.segments
        wall = time.perf_counter() - start
    print(f"preprocess: {len(sources)} files, {audio_s / 60:.1f} min of speech -> {segments} segments at {args.sr} Hz")
    print(f"preprocess throughput: {audio_s / wall:.1f} x realtime (one process)")


if __name__ == "__main__":
    main()
