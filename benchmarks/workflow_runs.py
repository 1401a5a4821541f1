"""Running this project's workflow from a benchmark: one config file, one Snakemake process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path, config: dict, cores: int, *args: str, repo: Path = REPO) -> float:
    """Write ``config`` into ``workdir`` and run Snakemake there on the Snakefile (and package) of
    ``repo`` (this checkout, or an exported commit) with ``args`` (targets, flags); return the wall
    seconds of the Snakemake process, its start included. No ``-q``: the run prints what it prints for a
    user (a dry run of 10,000 recordings lists 30,000 jobs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable, "-m", "snakemake", *args, "--snakefile", str(repo / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", str(cores),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(repo / "src")})
    return time.perf_counter() - start
