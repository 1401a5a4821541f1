"""GPU work on SLURM in batches: `extract` through profiles/slurm on a real SLURM.

Runs the demo (3 recordings of 40 s) and a set of short generated recordings through `extract`
with the SLURM profile's GPU batches (about 32 recordings a job, one process each). Printed per
run: SLURM submissions and their ratio to the acceptance limit (N/8 + N/32 + 5), wall seconds of
the Snakemake process, and the GPU steps' overhead per recording: the SLURM wall of the GPU jobs
(StartTime to EndTime) minus the `job done in` time their recordings' logs report, divided by
the recordings, and its ratio to the 1 s target. With --compare, each set also runs with one GPU
job per recording (`--config gpu_batch_size=0`, the shape before the batches) and the ratios
batched / per-recording are printed (slow: a Snakemake start per recording).

Needs a SLURM whose `sbatch` is on PATH (the local one of ../shared/slurm: start it first, stop it
after); skipped otherwise. The GPU jobs ask SLURM for a GPU and run on the CPU
(RVC_PIPELINE_DEVICE=cpu), so a fake GPU is enough. Without slurmdbd pass --status-command squeue.
Usage: python benchmarks/bench_cluster.py [--recordings 100] [--seconds 3] [--skip-demo] [--compare]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import soundfile as sf
import yaml

from rvc_pipeline.demo import synthesize_voice

REPO = Path(__file__).resolve().parents[1]
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
DONE_IN = re.compile(r"job done in ([0-9.]+) s")
# The GPU steps' SLURM logs (rule_<rule>/…) and their recordings' logs, batched or not.
GPU_JOB_LOG = re.compile(r"/rule_extract_(features|f0_device|f0_rmvpe)")
GPU_RECORDING_LOGS = ("extract_features*/*.log", "extract_f0_device/*.log")
# The local SLURM of ../shared/slurm; the environment overrides each.
SITE = {"RVC_SLURM_ACCOUNT": "ci", "RVC_SLURM_PARTITION": "debug", "RVC_SLURM_GPU_PARTITION": "debug"}


def run_extract(workdir: Path, config: dict, status_command: str, *args: str) -> tuple[float, str]:
    """Write ``config``, run `snakemake extract` with the SLURM profile; (wall seconds, output)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable, "-m", "snakemake", "extract", *args,
        "--snakefile", str(REPO / "Snakefile"), "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
        "--slurm-status-command", status_command, "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1", "--max-status-checks-per-second", "10",
        "--latency-wait", "5",
    ]  # fmt: skip
    env = {**os.environ, "RVC_PIPELINE_DEVICE": "cpu", "PYTHONWARNINGS": "ignore"}
    env |= {name: os.environ.get(name, default) for name, default in SITE.items()}
    env["PATH"] = f"{os.path.dirname(sys.executable)}:{env['PATH']}"
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return wall, result.stdout + result.stderr


def slurm_wall(jobid: str) -> float:
    """Seconds from StartTime to EndTime of a finished SLURM job (scontrol keeps it MinJobAge)."""
    fields = dict(
        item.split("=", 1)
        for item in subprocess.check_output(["scontrol", "-o", "show", "job", jobid], text=True).split()
        if "=" in item
    )
    start, end = (datetime.fromisoformat(fields[key]) for key in ("StartTime", "EndTime"))
    return (end - start).total_seconds()


def measure(workdir: Path, config: dict, recordings: int, status_command: str, *args: str) -> dict:
    wall, output = run_extract(workdir, config, status_command, *args)
    submitted = SUBMITTED.findall(output)
    gpu_jobs = [jobid for jobid, log in submitted if GPU_JOB_LOG.search(log)]
    gpu_wall = sum(slurm_wall(jobid) for jobid in gpu_jobs)
    logs = [log for pattern in GPU_RECORDING_LOGS for log in (workdir / "results").glob(f"*/logs/{pattern}")]
    done = sum(float(m.group(1)) for log in logs for m in DONE_IN.finditer(log.read_text()))
    return {
        "submissions": len(submitted),
        "gpu submissions": len(gpu_jobs),
        "wall s": wall,
        "gpu overhead s/recording": (gpu_wall - done) / recordings,
    }


def report(name: str, batched: dict, single: dict) -> None:
    print(f"== {name}")
    for key in batched:
        ratio = batched[key] / single[key] if single[key] else float("nan")
        print(f"{key:26s} batched {batched[key]:8.1f}  per-recording {single[key]:8.1f}  ratio {ratio:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=100, help="short generated recordings")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each generated recording")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--status-command", default="squeue", help="sacct where slurmdbd runs")
    parser.add_argument("--compare", action="store_true", help="also run one GPU job per recording")
    args = parser.parse_args()
    if shutil.which("sbatch") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        print("skipped: no SLURM here (start ../shared/slurm/start_local_slurm.sh, as root)")
        return
    per_recording = ("--config", "gpu_batch_size=0")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [] if args.skip_demo else [("demo, 3 recordings of 40 s", {"demo": 3, "sample_rate": "40k"}, 3)]
        voices = Path(tmp) / "voices"
        voices.mkdir()
        for k in range(args.recordings):
            sf.write(voices / f"take_{k:04d}.wav", synthesize_voice(args.seconds, 32000, seed=k), 32000)
        recordings = f"{args.recordings} recordings of {args.seconds:g} s"
        sets.append((recordings, {"input_dir": str(voices), "sample_rate": "32k"}, args.recordings))
        for name, experiment, count in sets:
            config = {"experiments": {"exp": experiment}}
            tag = name.split(",")[0].split()[0]
            batched = measure(Path(tmp) / f"{tag}-batched", config, count, args.status_command)
            print(f"{name}, batched: {batched}", flush=True)
            limit = count / 8 + count / 32 + 5
            overhead = batched["gpu overhead s/recording"]
            print(
                f"submissions {batched['submissions']} / limit {limit:.1f} = {batched['submissions'] / limit:.2f}; "
                f"GPU overhead {overhead:.2f} s per recording / 1 s target = {overhead:.2f}",
                flush=True,
            )
            if args.compare:
                single = measure(Path(tmp) / f"{tag}-single", config, count, args.status_command, *per_recording)
                report(name, batched, single)


if __name__ == "__main__":
    main()
