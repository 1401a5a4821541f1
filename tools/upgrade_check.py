"""Results built by an earlier commit must plan no job with this working tree (`make upgrade-check`).

Checks out commit ``--against`` as a git worktree and, with its Snakefile, profile and package,
builds two result folders in a temporary directory: the demo (that commit's config/config.yaml)
and a pm + rmvpe experiment (the tiny model, with a stand-in rmvpe.pt of seeded random weights).
Then dry-runs both with the working tree's Snakefile, profile and package on the same config, and
exits 1 listing every job it would run, with Snakemake's reason.

Default ``--against``: HEAD while the working tree has changes (the commit they will follow), else
HEAD~1 (the commit before the last one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
REASON_WIDTH = 240  # the reason of a downstream job lists every updated input: enough to see which

# pm and rmvpe on two demo recordings each, one epoch; conversion with rmvpe too (the demo covers pm).
PITCH_CONFIG = {
    "experiments": {
        "pitch_pm": {"demo": 2, "f0_method": "pm"},
        "pitch_rmvpe": {"demo": 2, "f0_method": "rmvpe"},
    },
    "train": {"model": "tiny", "epochs": 1, "save_every_epoch": 1, "batch_size": 4},
    "convert": {"f0_method": "rmvpe"},
    "pretrained": {"rmvpe": "pretrained/rmvpe.pt"},
}


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    wildcards: str
    reason: str


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def default_against() -> str:
    """HEAD when the working tree differs from it (untracked files count), else HEAD~1."""
    return "HEAD" if git("status", "--porcelain") else "HEAD~1"


@contextlib.contextmanager
def worktree(rev: str, folder: Path) -> Iterator[Path]:
    """Commit ``rev`` checked out (detached) at ``folder``, removed again however the block ends."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--quiet", "--detach", str(folder), rev], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=True)


def save_stand_in_rmvpe(path: Path) -> None:
    """An rmvpe.pt with the keys and shapes of RVC's (fp16, as RVC's file) and seeded random weights."""
    import torch

    from rvc_pipeline.pitch.rmvpe.network import Rmvpe

    torch.manual_seed(0)
    state = {k: v.half() if v.is_floating_point() else v for k, v in Rmvpe().state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def snakemake(tree: Path, workdir: Path, cores: str, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir`` with the Snakefile, workflow profile and package of ``tree``.

    Run from ``tree``: Snakemake looks for profiles/default in the current directory as well as
    next to the Snakefile. PYTHONPATH comes before the venv's editable install of the working tree.
    """
    cmd = [
        sys.executable, "-m", "snakemake", *args, "--snakefile", str(tree / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", cores,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)


def fail(step: str, result: subprocess.CompletedProcess) -> SystemExit:
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    return SystemExit(f"upgrade-check: {step} failed (exit {result.returncode}):\n{tail}")


def planned_jobs(dry_run_output: str) -> list[PlannedJob]:
    """The jobs a ``snakemake -n`` output lists (group members are indented), with their reasons."""
    jobs: list[dict[str, str]] = []
    for line in dry_run_output.splitlines():
        stripped = line.strip()
        header = re.fullmatch(r"(?:local)?rule (\S+):", stripped)
        if header:
            jobs.append({"rule": header[1], "wildcards": "", "reason": ""})
        elif jobs and stripped.startswith(("wildcards:", "reason:")):
            key, value = stripped.split(":", 1)
            jobs[-1][key] = value.strip()
    # a format this does not read must not pass as "no job": the count must be Snakemake's own
    total = re.search(r"^total\s+(\d+)$", dry_run_output, re.MULTILINE)
    if len(jobs) != (int(total[1]) if total else 0):
        raise ValueError(f"read {len(jobs)} jobs in a dry run whose job stats say {total[1] if total else 'none'}")
    return [PlannedJob(**job) for job in jobs]


def run_folder(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def build_then_dry_run(workdir: Path, before: Path, cores: str, label: str) -> list[PlannedJob]:
    """Build ``workdir``'s config with ``before``; the jobs a dry run with the working tree then plans."""
    name = workdir.name
    print(f"{name}: building with {label} ...", flush=True)
    start = time.perf_counter()
    built = snakemake(before, workdir, cores)
    if built.returncode != 0:
        raise fail(f"{name}: building with {label}", built)
    print(f"{name}: built with {label} in {time.perf_counter() - start:.0f} s", flush=True)
    dry_run = snakemake(REPO, workdir, cores, "--dry-run")
    if dry_run.returncode != 0:
        raise fail(f"{name}: dry run with the working tree", dry_run)
    try:
        jobs = planned_jobs(dry_run.stdout)
    except ValueError as error:
        raise SystemExit(f"upgrade-check: {name}: {error}:\n{dry_run.stdout}") from error
    if not jobs:
        summary = snakemake(REPO, workdir, cores, "--summary")
        if summary.returncode != 0:
            raise fail(f"{name}: summary with the working tree", summary)
        # after "output_file" the rest of the header, then a line per output
        outputs = len(summary.stdout.split("output_file\t", 1)[1].splitlines()) - 1
        print(f"OK {name}: the working tree plans no job on results built by {label} ({outputs} outputs checked)")
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="the commit that builds the results (default: HEAD, or HEAD~1 on a clean tree)")
    parser.add_argument("--cores", default="all", help="Snakemake's --cores (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the result folders (their path is printed)")
    args = parser.parse_args()
    against = args.against or default_against()
    try:
        commit = git("rev-parse", "--short", against + "^{commit}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"upgrade-check: {against!r} is not a commit of {REPO}") from None
    label = commit if against.startswith(commit) else f"{against} ({commit})"
    run_dir = Path(tempfile.mkdtemp(prefix="rvc-upgrade-check-"))
    planned: dict[str, list[PlannedJob]] = {}
    try:
        with worktree(against, run_dir / "before") as before:
            demo = run_folder(run_dir / "demo", yaml.safe_load((before / "config" / "config.yaml").read_text()))
            pitch = run_folder(run_dir / "pitch", PITCH_CONFIG)
            save_stand_in_rmvpe(pitch / PITCH_CONFIG["pretrained"]["rmvpe"])
            for workdir in (demo, pitch):
                planned[workdir.name] = build_then_dry_run(workdir, before, args.cores, label)
    finally:
        if args.keep:
            print(f"result folders kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    for name, jobs in planned.items():
        if jobs:
            print(f"FAIL {name}: the working tree plans {len(jobs)} jobs on results built by {label}:")
            for job in jobs:
                reason = job.reason if len(job.reason) <= REASON_WIDTH else job.reason[:REASON_WIDTH] + "…"
                print(f"  {job.rule} ({job.wildcards or 'no wildcards'}): {reason}")
    return 1 if any(planned.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
