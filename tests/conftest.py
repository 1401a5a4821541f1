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
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"
SHARED_PARITY = SHARED / "parity"
SHARED_SLURM = SHARED / "slurm"
SHARED_REFERENCE = SHARED / "reference"


REQUIRE_SHARED = "RVC_PIPELINE_REQUIRE_SHARED"


def skip_unless_required(reason: str, require_variable: str) -> None:
    """Skip the test with ``reason``, or fail it when ``$require_variable`` is 1 (a run that must
    not pass by skipping: CI with the shared files, or a machine that reaches the package index)."""
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"{reason} ({require_variable}=1)")
    pytest.skip(reason)


def need_shared(path: Path) -> Path:
    """``path`` (a file or folder of ../shared), or skip the test saying it is missing; every test
    needing the shared files goes through here, so ``RVC_PIPELINE_REQUIRE_SHARED=1`` (.ci/run)
    fails it instead."""
    if not path.exists():
        skip_unless_required(f"shared {path.relative_to(SHARED)} not found at {path}", REQUIRE_SHARED)
    return path


def need_shared_reference(name: str) -> Path:
    """A file of the shared reference facts (RVC.md, the pretrained files' hashes)."""
    return need_shared(SHARED_REFERENCE / name)


def need_shared_data(name: str = "") -> Path:
    """The shared speech folder, or ``name`` inside it."""
    return need_shared(SHARED_DATA / name)


def need_shared_parity(name: str = "") -> Path:
    """The parity pack (RVC's own numbers), or its file ``name``."""
    return need_shared(SHARED_PARITY / name)


_RUNNING: list[pytest.Item] = []  # the test being set up, run or torn down


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _RUNNING.append(item)
    yield
    _RUNNING.pop()


def runs_snakemake(args: Any) -> bool:
    """Whether a command line starts Snakemake: its executable, ``-m snakemake`` or code importing it."""
    if isinstance(args, str):
        words = args.split()
    elif isinstance(args, (bytes, os.PathLike)):
        words = [os.fsdecode(args)]
    else:
        words = [os.fsdecode(word) for word in args]
    return any(
        os.path.basename(word) == "snakemake" or "import snakemake" in word or "from snakemake" in word
        for word in words
    ) or any(a == "-m" and b == "snakemake" for a, b in zip(words, words[1:]))


class _SlowSnakemakePopen(subprocess.Popen):
    """Fails a test that starts Snakemake without the ``slow`` marker (``-m "not slow"`` must
    leave out every Snakemake run)."""

    def __init__(self, args: Any, *more: Any, **kwargs: Any):
        item = _RUNNING[-1] if _RUNNING else None
        if item is not None and item.get_closest_marker("slow") is None and runs_snakemake(args):
            pytest.fail(f"{item.nodeid} runs Snakemake: mark it @pytest.mark.slow")
        super().__init__(args, *more, **kwargs)


subprocess.Popen = _SlowSnakemakePopen


@pytest.fixture(scope="session")
def speaker_encoder_weights(tmp_path_factory) -> Path:
    """Resemblyzer's encoder weights, fetched from the package index through the manifest (the
    wheel is kept in the user's cache, so only the first run downloads); skips offline unless
    RVC_PIPELINE_REQUIRE_DOWNLOADS=1."""
    from rvc_pipeline.pretrained.fetch import SourceUnreachable, fetch_asset
    from rvc_pipeline.pretrained.manifest import find

    asset = find("speaker_encoder")
    target = tmp_path_factory.mktemp("pretrained") / asset.path
    try:
        fetch_asset(asset, target, report=lambda line: None)
    except SourceUnreachable as error:
        skip_unless_required(f"package index unreachable: {error}", "RVC_PIPELINE_REQUIRE_DOWNLOADS")
    return target


def fetched_pretrained(key: str, folder: Path) -> Path:
    """The pretrained manifest's file ``key`` fetched into ``folder`` (downloads are kept in the
    user's cache, so only the first run on a machine downloads); skip when its source is
    unreachable (fail instead when RVC_PIPELINE_REQUIRE_DOWNLOADS=1)."""
    from rvc_pipeline.pretrained.fetch import SourceUnreachable, fetch_asset
    from rvc_pipeline.pretrained.manifest import find

    asset = find(key)
    target = folder / asset.path
    try:
        fetch_asset(asset, target, report=print)
    except SourceUnreachable as error:
        skip_unless_required(f"{key}: source unreachable: {error}", "RVC_PIPELINE_REQUIRE_DOWNLOADS")
    return target


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """``folder`` as a tmpfs of ``size`` (e.g. "1m"), a real full disk; skips where mounting is
    not permitted. Unmounted lazily: a failed libsndfile write may hold its file a while."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def harmonic_tone(f0: float, seconds: float, sr: int, amplitude: float = 0.5, partials: int = 8):
    """A tone with decaying harmonics (pyworld's harvest does not track a pure sine)."""
    import numpy as np

    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1) if f0 * k < sr / 2)
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


@contextlib.contextmanager
def training_lock_holder(state_dir: Path, new_session: bool = False):
    """Another process holding the training lock of ``state_dir`` (yielded); SIGKILLed at the end.

    ``new_session``: in a process group of its own, as another run's trainer."""
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
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(state_dir)], stdout=subprocess.PIPE, text=True, start_new_session=new_session
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        if holder.poll() is None:
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

    def command(self, *args: str) -> list[str]:
        """The snakemake command line with ``args`` (the config in the working directory, 2 cores)."""
        return [
            sys.executable, "-m", "snakemake",
            "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(self.workdir),
            "--configfile", str(self.workdir / "config.yaml"),
            "--cores", "2",
            *args,
        ]  # fmt: skip

    def run(
        self, *args: str, check: bool = True, timeout: int = 900, env: dict | None = None, umask: int | None = None
    ) -> subprocess.CompletedProcess:
        """Run snakemake with ``args``; ``env`` adds variables, ``umask`` sets the child's umask."""
        cmd = self.command(*args)
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


# Runs of the workflow that several tests check, each built once per session (a run takes
# minutes on the 2-core machine). A test that changes one works on copy_run() of it.


def copy_run(run: Workflow, folder: Path) -> Workflow:
    """A copy of ``run``'s whole folder, Snakemake's records (.snakemake/) included, with links and
    modification times kept (cp -a): the copy plans what the original would."""
    shutil.copytree(run.workdir, folder, symlinks=True, dirs_exist_ok=True)
    return Workflow(folder)


INDEXED_SOURCES = ("alpha", "beta")


@pytest.fixture(scope="session")
def indexed_run(tmp_path_factory) -> Workflow:
    """INDEXED_SOURCES (5 s each) of a default 32k experiment through slicing, pitch, features and
    the index; no training."""
    import soundfile as sf

    from rvc_pipeline.demo import synthesize_voice

    run = Workflow(tmp_path_factory.mktemp("indexed"))
    (run.workdir / "voices").mkdir()
    for k, name in enumerate(INDEXED_SOURCES):
        sf.write(run.workdir / "voices" / f"{name}.wav", synthesize_voice(5.0, 32000, seed=k), 32000)
    run.write_config({"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}})
    run.run("index")
    assert run.dry_run_jobs("index") == []
    return run


RMVPE_SOURCES = ("alpha", "beta", "gamma")


@pytest.fixture(scope="session")
def rmvpe_run(tmp_path_factory) -> Workflow:
    """RMVPE_SOURCES (2 s each) through pitch (f0_method rmvpe, formula weights in
    pretrained/rmvpe.pt) and features, one job per recording."""
    from parity_pack import save_rmvpe_formula_weights
    from test_workflow_extract import extract_config
    from test_workflow_preprocess import make_sources

    run = Workflow(tmp_path_factory.mktemp("rmvpe"))
    make_sources(run.workdir / "voices", names=RMVPE_SOURCES, seconds=2.0)
    save_rmvpe_formula_weights(run.workdir / "pretrained" / "rmvpe.pt", half=True)
    run.write_config(extract_config(f0_method="rmvpe"))
    run.run("extract")
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> tuple[Workflow, list[str]]:
    """Two recordings (alpha, beta: 8 s) trained (test_workflow_train's train_config: the tiny
    model, 2 epochs) and exported; with the rules the dry run of the fresh folder planned."""
    from test_workflow_preprocess import make_sources
    from test_workflow_train import train_config

    run = Workflow(tmp_path_factory.mktemp("trained"))
    make_sources(run.workdir / "voices", names=("alpha", "beta"), seconds=8.0)
    run.write_config(train_config())
    planned = [rule for rule, _ in run.dry_run_jobs("train")]
    run.run("train")
    return run, planned


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """A one-node SLURM (../shared/slurm) for the rest of the session; needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    env = {**os.environ, "SLURM_LOCAL_DIR": str(tmp_path_factory.mktemp("slurm"))}
    start = [str(need_shared(SHARED_SLURM / "start_local_slurm.sh"))]
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
