"""Shared fixtures: paths to the repository and to the shared speech, and a Snakemake runner."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_PARITY = REPO.parent / "shared" / "parity"
SHARED_SLURM = REPO.parent / "shared" / "slurm"


def need_shared_data() -> Path:
    """The shared speech folder, or skip the test with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared speech not found at {SHARED_DATA}")
    return SHARED_DATA


def harmonic_tone(f0: float, seconds: float, sr: int, amplitude: float = 0.5, partials: int = 8):
    """A tone with decaying harmonics (pyworld's harvest does not track a pure sine)."""
    import numpy as np

    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1) if f0 * k < sr / 2)
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


@contextlib.contextmanager
def training_lock_holder(state_dir: Path):
    """Another process holding the training lock of ``state_dir`` (yielded); SIGKILLed at the end."""
    code = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from rvc_pipeline.locks import training_lock
        with training_lock(Path(sys.argv[1])):
            print("locked", flush=True)
            time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(state_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


class Workflow:
    """Runs this repository's Snakefile in a temporary working directory."""

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def write_config(self, config: dict) -> Path:
        path = self.workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def run(
        self, *args: str, check: bool = True, timeout: int = 900, env: dict | None = None, umask: int | None = None
    ) -> subprocess.CompletedProcess:
        """Run snakemake with ``args``; ``env`` adds variables, ``umask`` sets the child's umask."""
        cmd = [
            sys.executable, "-m", "snakemake",
            "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(self.workdir),
            "--configfile", str(self.workdir / "config.yaml"),
            "--cores", "2",
            *args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
        set_umask = None if umask is None else (lambda: os.umask(umask))
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=set_umask
        )
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dry_run_jobs(self, *targets: str) -> list[tuple[str, str]]:
        """(rule, wildcards) of every job a dry run would execute, wildcards as sorted ``k=v, …``."""
        out = self.run("-n", *targets).stdout
        jobs, rule = [], None
        for line in out.splitlines():
            stripped = line.strip()
            if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
                rule = stripped.split()[1].rstrip(":")
                jobs.append((rule, ""))
            elif stripped.startswith("wildcards:") and rule is not None:
                parts = stripped.removeprefix("wildcards:").strip().split(", ")
                jobs[-1] = (rule, ", ".join(sorted(parts)))
        return jobs


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: on the shared 2-core machine a second thread mostly spins
    against other processes and slows small operations many times over."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    return Workflow(tmp_path)


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """A one-node SLURM (../shared/slurm) for the rest of the session; needs root."""
    if os.geteuid() != 0 or not (SHARED_SLURM / "start_local_slurm.sh").is_file():
        pytest.skip("needs root and ../shared/slurm/start_local_slurm.sh")
    env = {**os.environ, "SLURM_LOCAL_DIR": str(tmp_path_factory.mktemp("slurm"))}
    start = [str(SHARED_SLURM / "start_local_slurm.sh")]
    started = subprocess.run(["bash", *start], env=env, capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        pytest.skip(f"local SLURM did not start: {started.stderr[-500:]}")
    yield
    subprocess.run(["bash", str(SHARED_SLURM / "stop_local_slurm.sh")], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="session", autouse=True)
def slurm_controller_when_installed(request):
    """Where SLURM's client is installed, keep its controller up while the tests run.

    The SLURM executor plugin runs ``scontrol show config`` whenever snakemake starts; with the
    client installed but no controller that waits 10 s, on every snakemake call of every test.
    """
    if shutil.which("scontrol") and os.geteuid() == 0 and (SHARED_SLURM / "start_local_slurm.sh").is_file():
        request.getfixturevalue("local_slurm")
