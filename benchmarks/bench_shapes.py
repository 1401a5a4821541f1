"""Two shapes of data at equal cores: one long recording, and many short ones.

For each step, its time through the workflow is compared with the ideal: the step's single-core
time in one plain process (the package function over every source or segment, one after
another, nothing else running) divided by the cores. A step's time through the workflow is the
span from its first job's start to its last job's end, read from the job logs (each ends with
"job done in X s"): Snakemake's start-up is left out, its scheduling between jobs is not.
Target: <= 1.2x for f0 with pm, dio and harvest. Slicing and features are printed beside them.

Beside each ratio: the ideal time per job, and once, Snakemake's own time per job (no-op jobs of
one rule, run with this project's profile). Where the ideal per job is below that floor (pm and
dio of 2-4 s files), no choice inside a job can meet the target while each recording is a job.

The speech is the shared real speech where present, else the demo's synthetic voice.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from rvc_pipeline.layout import WAVS_16K

from workflow_runs import run_snakemake

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SR = 32000
TARGET = 1.2
METHODS = ("pm", "dio", "harvest")
DONE = re.compile(r"^(\S+ \S+) INFO rvc_pipeline: job done in ([0-9.]+) s$")


def speech(data: Path, seconds: float) -> np.ndarray:
    """At least ``seconds`` of one speaker at SR: the shared LJSpeech clips in a loop, or the demo voice."""
    from rvc_pipeline.audio import load_audio
    from rvc_pipeline.demo import synthesize_voice

    files = sorted((data / "ljspeech").glob("*.wav")) + sorted((data / "ljspeech_long").glob("*"))
    if files:
        pause = np.zeros(int(0.6 * SR), np.float32)
        one = np.concatenate([part for f in files for part in (load_audio(f, SR), pause)])
    else:
        one = synthesize_voice(seconds, SR, seed=1)
    return np.tile(one, int(np.ceil(seconds * SR / len(one))))[: int(seconds * SR)]


def make_shapes(root: Path, data: Path, long_minutes: float, short_count: int) -> dict[str, Path]:
    """``long/take.wav`` (one file) and ``short/clip_NNN.wav`` (2-4 s each, cut from the speech)."""
    voice = speech(data, max(long_minutes * 60, 4.0 * short_count))
    (root / "long").mkdir(parents=True)
    sf.write(root / "long" / "take.wav", voice[: int(long_minutes * 60 * SR)], SR, subtype="PCM_16")
    (root / "short").mkdir()
    rng = np.random.default_rng(0)
    start = 0
    for k in range(short_count):
        n = int(rng.uniform(2.0, 4.0) * SR)
        sf.write(root / "short" / f"clip_{k:03d}.wav", voice[start : start + n], SR, subtype="PCM_16")
        start += n
    return {"long": root / "long", "short": root / "short"}


def workflow_span(logs: Path) -> float:
    """First start to last end of the jobs whose logs are in ``logs`` (their latest run)."""
    starts, ends = [], []
    for path in logs.glob("*.log"):
        done = [m for m in map(DONE.match, path.read_text().splitlines()) if m]
        stamp, seconds = done[-1].groups()
        end = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        starts.append(end - float(seconds))
        ends.append(end)
    return max(ends) - min(starts)


NOOP_SNAKEFILE = """
import os

rule all:
    input:
        expand("out/{i}.txt", i=range(int(os.environ["JOBS"]))),

rule touch_file:
    output:
        "out/{i}.txt",
    run:
        open(output[0], "w").close()
"""


def snakemake_floor(workdir: Path, cores: int, jobs: int) -> float:
    """Seconds of wall time Snakemake itself spends per job: ``jobs`` no-op jobs against one,
    with this project's workflow profile (jobs as threads, greedy scheduler)."""
    workdir.mkdir()
    (workdir / "Snakefile").write_text(NOOP_SNAKEFILE)
    walls = []
    for count in (1, jobs):
        cmd = [
            sys.executable, "-m", "snakemake", "--directory", str(workdir / str(count)), "--snakefile",
            str(workdir / "Snakefile"), "--workflow-profile", str(REPO / "profiles" / "default"),
            "--cores", str(cores),
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "JOBS": str(count)})
        walls.append(time.perf_counter() - start)
    return (walls[1] - walls[0]) / (jobs - 1)


def run_workflow(workdir: Path, input_dir: Path, method: str, cores: int, standin: str, *targets: str) -> None:
    """Run ``targets`` (one step at a time, so that steps do not overlap in time)."""
    config = {
        "experiments": {"bench": {"input_dir": str(input_dir), "sample_rate": "40k", "f0_method": method}},
        "pretrained": {"hubert": str(workdir / "absent.pt"), "hubert_standin": standin},
    }
    run_snakemake(workdir, config, cores, *targets)


def single_core(step: str, sources: list[Path], segments: list[Path], out: Path, standin: str, method: str = "") -> float:
    """Seconds of one step, every item one after another, in a fresh process held to one CPU.

    Held to one CPU, because Praat (pm) runs an analysis on several threads by itself. Fresh,
    because decoding with PyAV leaves the CPU flushing denormal numbers, which makes dio twice
    and harvest a fifth faster afterwards (same outputs): the pitch jobs' workers have not decoded.
    """
    args = json.dumps([step, list(map(str, sources)), list(map(str, segments)), str(out), standin, method])
    code = "import sys, bench_shapes; print(bench_shapes.time_step(*__import__('json').loads(sys.argv[1])))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code, args], check=True, capture_output=True, text=True, env=env)
    return float(result.stdout.split()[-1])


def time_step(step: str, sources: list[str], segments: list[str], out: str, standin: str, method: str) -> float:
    """``single_core``'s child: the step's seconds after its imports.

    Only the step's own module is imported: importing HuBERT's libraries also makes the CPU flush
    denormal numbers, and with it harvest 18 % faster than in the pitch jobs' workers.
    """
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    logging.basicConfig(level=logging.ERROR)
    out, segments = Path(out), [Path(wav) for wav in segments]
    out.mkdir(parents=True)
    if step == "slice_audio":
        from rvc_pipeline.preprocess.segments import slice_source

        def run() -> None:
            for src in map(Path, sources):
                slice_source(src, src.stem, 40000, out / src.stem / "gt", out / src.stem / "16k", out / f"{src.stem}.tsv")

    elif step == "extract_f0":
        from rvc_pipeline.pitch.classic import extract_f0_files

        def run() -> None:
            (out / "coarse").mkdir()
            (out / "hz").mkdir()
            extract_f0_files(segments, out / "coarse", out / "hz", method)

    else:
        import torch

        from rvc_pipeline.features.extract import extract_features_dir

        torch.set_num_threads(1)

        def run() -> None:
            for folder in sorted({wav.parent for wav in segments}):
                extract_features_dir(folder, out / folder.name, weights=None, version="v1", standin=standin)

    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--long-minutes", type=float, default=10.5)
    parser.add_argument("--short-count", type=int, default=300)
    parser.add_argument("--standin", default="tiny", choices=["base", "tiny"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--shapes", nargs="+", default=["long", "short"], choices=["long", "short"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shapes = make_shapes(tmp / "input", args.data, args.long_minutes, args.short_count)
        for shape in args.shapes:
            input_dir = shapes[shape]
            workdir = tmp / f"run_{shape}"
            results = workdir / "results" / "bench"
            sources = sorted(input_dir.iterdir())
            steps = [("slice_audio", "slice_audio", "", ["preprocess"])]
            steps += [("extract_f0", "extract_f0", m, ["extract", "--until", "extract_f0"]) for m in args.methods]
            steps += [("features", "extract_features256", "", ["extract"])]
            for step, logs, method, targets in steps:
                run_workflow(workdir, input_dir, method or args.methods[-1], args.cores, args.standin, *targets)
                segments = sorted((results / WAVS_16K).rglob("*.wav"))
                plain = single_core(step, sources, segments, tmp / f"plain_{shape}_{step}_{method}", args.standin, method)
                ratio = workflow_span(results / "logs" / logs) / (plain / args.cores)
                per_job = plain / args.cores / len(list((results / "logs" / logs).glob("*.log")))
                rows.append((shape, f"{step} {method}".strip(), ratio, step == "extract_f0", per_job))
        floor = snakemake_floor(tmp / "noop", args.cores, args.short_count)
    audio = f"long: one file of {args.long_minutes} min; short: {args.short_count} files of 2-4 s"
    print(f"steps through the workflow / ideal (single-core time / {args.cores} cores); {audio}")
    for shape, step, ratio, targeted, per_job in rows:
        verdict = (f"target <= {TARGET}x: " + ("met" if ratio <= TARGET else "NOT met")) if targeted else "no target"
        print(f"  {shape:5s} {step:12s} {ratio:5.2f}x   ideal {1000 * per_job:8.1f} ms per job   ({verdict})")
    print(f"Snakemake's own wall time per job ({args.short_count} no-op jobs, this profile): {1000 * floor:.1f} ms")


if __name__ == "__main__":
    main()
