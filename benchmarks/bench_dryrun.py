"""Planning at scale: `snakemake -n` (target all) over 1,000 and 10,000 recordings.

Each recording is a short WAV; planning only lists and stats the folder, it decodes nothing.
Printed: wall and CPU seconds of the whole `snakemake -n` process (its start included) and the
ratio to the targets (<= 5 s for 1,000 sources, <= 30 s for 10,000). ``--against REV`` also plans
with commit REV (exported with ``git archive``) on the same folder, alternating the two three
times, and prints the difference of the medians (a change may cost at most 0.5 s at 10,000
sources). A SLURM client installed
without a controller adds about 10 s to every Snakemake start (its plugin probes the cluster):
measure where none is installed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from workflow_runs import REPO, run_snakemake

TARGETS = {1000: 5.0, 10000: 30.0}


def recordings(workdir: Path, sources: int) -> Path:
    """A folder of ``sources`` short WAVs."""
    inputs = workdir / "in"
    inputs.mkdir(parents=True, exist_ok=True)
    tone = (0.1 * np.sin(np.arange(800) / 5)).astype(np.float32)
    for k in range(sources):
        sf.write(inputs / f"take_{k:05d}.wav", tone, 16000)
    return inputs


def plan(workdir: Path, inputs: Path, repo: Path = REPO) -> tuple[float, float]:
    """(wall, cpu) seconds of `snakemake -n` over the recordings in ``inputs``."""
    config = {"experiments": {"big": {"input_dir": str(inputs)}}, "pretrained": {"hubert_standin": "tiny"}}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run_snakemake(workdir, config, 2, "-n", repo=repo)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def compare(tmp: Path, sources: int, rev: str, rounds: int = 3) -> None:
    """This checkout against commit ``rev`` on one folder of ``sources`` recordings, alternating."""
    other = tmp / "rev"
    other.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(other)], input=archive, check=True)
    inputs = recordings(tmp / "data", sources)
    times: dict[str, list[tuple[float, float]]] = {"this": [], rev: []}
    for _ in range(rounds):
        for name, repo in (("this", REPO), (rev, other)):
            times[name].append(plan(tmp / name, inputs, repo))
    for name, runs in times.items():
        walls, cpus = zip(*runs)
        print(f"  {name:>12}: wall {statistics.median(walls):5.1f} s, cpu {statistics.median(cpus):5.1f} s (medians of {rounds})")
    this, base = (statistics.median(w for w, _ in times[k]) for k in ("this", rev))
    cpu_this, cpu_base = (statistics.median(c for _, c in times[k]) for k in ("this", rev))
    print(f"  difference: wall {this - base:+.2f} s, cpu {cpu_this - cpu_base:+.2f} s (limit +0.5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, nargs="+", default=list(TARGETS))
    parser.add_argument("--against", metavar="REV", help="also time commit REV on the largest count")
    args = parser.parse_args()
    print("snakemake -n (target all), start included")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sources:
            workdir = Path(tmp) / str(count)
            wall, cpu = plan(workdir, recordings(workdir, count))
            target = TARGETS.get(count)
            verdict = f"{wall / target:.2f} of the target {target:.0f} s" if target else "no target"
            print(f"  {count:6d} sources: wall {wall:5.1f} s, cpu {cpu:5.1f} s   ({verdict})")
        if args.against:
            count = max(args.sources)
            print(f"{count:,} sources, this checkout against {args.against}")
            compare(Path(tmp) / "against", count, args.against)


if __name__ == "__main__":
    main()
