"""Planning at scale: `snakemake -n` (target all) over 1,000 and 10,000 recordings.

Each recording is a short WAV; planning only lists and stats the folder, it decodes nothing.
Printed: wall and CPU seconds of the whole `snakemake -n` process (its start included) and the
ratio to the targets (<= 5 s for 1,000 sources, <= 30 s for 10,000). A SLURM client installed
without a controller adds about 10 s to every Snakemake start (its plugin probes the cluster):
measure where none is installed.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from workflow_runs import run_snakemake

TARGETS = {1000: 5.0, 10000: 30.0}


def plan(workdir: Path, sources: int) -> tuple[float, float]:
    """(wall, cpu) seconds of `snakemake -n` over ``sources`` recordings in ``workdir``."""
    inputs = workdir / "in"
    inputs.mkdir(parents=True)
    tone = (0.1 * np.sin(np.arange(800) / 5)).astype(np.float32)
    for k in range(sources):
        sf.write(inputs / f"take_{k:05d}.wav", tone, 16000)
    config = {"experiments": {"big": {"input_dir": str(inputs)}}, "pretrained": {"hubert_standin": "tiny"}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run_snakemake(workdir, config, 2, "-n")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, nargs="+", default=list(TARGETS))
    args = parser.parse_args()
    print("snakemake -n (target all), start included")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sources:
            wall, cpu = plan(Path(tmp) / str(count), count)
            target = TARGETS.get(count)
            verdict = f"{wall / target:.2f} of the target {target:.0f} s" if target else "no target"
            print(f"  {count:6d} sources: wall {wall:5.1f} s, cpu {cpu:5.1f} s   ({verdict})")


if __name__ == "__main__":
    main()
