"""`snakemake preprocess` as typed against a plain process making the same package calls.

On the shared speech (ljspeech + ljspeech_long, about 6 minutes, 34 recordings): the target as a
user types it (Snakemake's start, planning, one slicing job per recording, the dataset report and
the Data page with its figure, under the default profile) against one fresh Python process that
slices every recording (a process pool of the same width), merges the report and draws the page.
Prints the ratio of the wall times (the issue's target: at most 1.3).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SUBSETS = ("ljspeech", "ljspeech_long")
EXPERIMENT = "speech"
RATE = "40k"

# The same calls as the jobs of the target, with the workflow's paths.
PLAIN = textwrap.dedent(
    """
    import os, sys
    from concurrent.futures import ProcessPoolExecutor
    from rvc_pipeline.layout import SAMPLE_RATES
    from rvc_pipeline.preprocess.segments import slice_source
    from rvc_pipeline.preprocess.dataset_report import merge_reports
    from rvc_pipeline.reporting.dataset import plot_dataset
    from rvc_pipeline.preprocess.sources import discover_sources

    root, experiment, rate, width = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    out = os.path.join(root, "results", experiment)
    sources, excluded = discover_sources(os.path.join(root, "voices"))
    names = sorted(sources)
    gt = [f"{out}/0_gt_wavs/{name}" for name in names]
    reports = [f"{out}/reports/slice_audio/{name}.tsv" for name in names]
    with ProcessPoolExecutor(width) as pool:
        jobs = [
            pool.submit(slice_source, source=sources[name], name=name, sr=SAMPLE_RATES[rate], gt=gt_dir,
                        wav16k=f"{out}/1_16k_wavs/{name}", report=report)
            for name, gt_dir, report in zip(names, gt, reports)
        ]
        for job in jobs:
            job.result()
    merge_reports(source_reports=reports, excluded=excluded, warnings=[], out_path=f"{out}/dataset_report.tsv")
    plot_dataset(report=f"{out}/dataset_report.tsv", gt_wavs=gt, sources=sources, sample_rate=SAMPLE_RATES[rate],
                 experiment=experiment, summary=f"{out}/report/data.html", figure=f"{out}/report/data.png")
    """
)


def _speech_folder(root: Path, data: Path) -> int:
    """``root/voices`` holding links to the shared recordings; returns their count."""
    voices = root / "voices"
    voices.mkdir(parents=True)
    recordings = sorted(p for subset in SUBSETS for p in (data / subset).iterdir() if p.is_file())
    for recording in recordings:
        (voices / recording.name).symlink_to(recording)
    (root / "config.yaml").write_text(
        yaml.safe_dump({"experiments": {EXPERIMENT: {"input_dir": "voices", "sample_rate": RATE}}})
    )
    return len(recordings)


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return wall


def snakemake_target(root: Path) -> float:
    """``snakemake preprocess`` typed in a working directory (the repository's Snakefile and profile)."""
    snakemake = Path(sys.executable).parent / "snakemake"
    wall = _timed([str(snakemake), "preprocess", "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml"], root)
    assert (root / "results" / EXPERIMENT / "report" / "data.png").is_file()
    return wall


def plain_process(root: Path, width: int) -> float:
    wall = _timed([sys.executable, "-c", PLAIN, str(root), EXPERIMENT, RATE, str(width)], root)
    assert (root / "results" / EXPERIMENT / "report" / "data.png").is_file()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the fastest counts")
    args = parser.parse_args()
    if not all((args.data / subset).is_dir() for subset in SUBSETS):
        print(f"skipped: shared speech not found under {args.data}")
        return
    width = os.cpu_count() or 1  # the default profile's cores: all
    target, plain = [], []
    for _ in range(args.repeats):  # alternating, so a busy moment of the machine hits both
        with tempfile.TemporaryDirectory() as tmp:
            count = _speech_folder(Path(tmp), args.data)
            target.append(snakemake_target(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            _speech_folder(Path(tmp), args.data)
            plain.append(plain_process(Path(tmp), width))
    print(f"preprocess target: {count} recordings of the shared speech, {width} cores")
    print(f"wall: snakemake {min(target):.1f} s, plain process {min(plain):.1f} s (fastest of {args.repeats})")
    print(f"snakemake preprocess / plain process (same package calls): {min(target) / min(plain):.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
