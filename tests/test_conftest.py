"""The test suite's own rules: Snakemake runs are marked slow; missing shared files fail in CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, REQUIRE_SHARED, SHARED_PARITY, need_shared, need_shared_parity, runs_snakemake


@pytest.mark.parametrize(
    "args",
    [
        [sys.executable, "-m", "snakemake", "-n"],
        ["timeout", "600", str(REPO / ".venv/bin/snakemake"), "--lint"],
        [sys.executable, "-c", "from snakemake.cli import main\nmain()"],
        "snakemake --cores 1",
        Path("/usr/bin/snakemake"),
    ],
)
def test_snakemake_command_lines_are_recognised(args):
    assert runs_snakemake(args)


@pytest.mark.parametrize("args", [[sys.executable, "-c", "print(1)"], ["snakefmt", "--check", "rules/"], "ls snakemake.log"])
def test_other_command_lines_are_not(args):
    assert not runs_snakemake(args)


def test_a_test_without_the_slow_marker_cannot_start_snakemake():
    with pytest.raises(pytest.fail.Exception, match=r"test_conftest\.py::.* runs Snakemake: mark it @pytest\.mark\.slow"):
        subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True)
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True).stdout == "ok\n"


@pytest.mark.slow
def test_a_slow_test_can():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("9."), result.stderr


def test_missing_shared_files_skip_or_fail_when_required(monkeypatch, tmp_path):
    missing = SHARED_PARITY / "no such file.npz"
    monkeypatch.delenv(REQUIRE_SHARED, raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared parity/no such file.npz not found"):
        need_shared_parity("no such file.npz")
    monkeypatch.setenv(REQUIRE_SHARED, "1")
    with pytest.raises(pytest.fail.Exception, match=rf"not found at {missing} \({REQUIRE_SHARED}=1\)"):
        need_shared(missing)


def test_every_skip_for_shared_files_goes_through_need_shared():
    # A test that skips on its own when ../shared is missing would pass CI without its check.
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((REPO / "tests").glob("*.py"))
        if path.name not in ("conftest.py", "test_conftest.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ("skip(" in line or "skipif(" in line) and ("SHARED" in line or "shared" in line or "parity" in line)
    ]
    assert offenders == []
