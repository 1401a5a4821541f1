"""The SLURM profile on a real one-node SLURM (../shared/slurm), as root; skipped elsewhere."""

import os
import subprocess
import sys

import pytest
from conftest import REPO
from test_workflow_preprocess import make_sources


@pytest.mark.slurm
def test_preprocess_through_the_slurm_profile(local_slurm, workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=4.0)
    workflow.write_config({"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}})
    cmd = [
        "timeout", "-s", "KILL", "600",
        sys.executable, "-m", "snakemake", "preprocess",
        "--snakefile", str(REPO / "Snakefile"), "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--directory", str(workflow.workdir), "--configfile", str(workflow.workdir / "config.yaml"),
        "--cores", "2", "--latency-wait", "5",
        # No slurmdbd here: ask squeue for job states, and check often (../shared/slurm/README.md).
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1", "--max-status-checks-per-second", "10",
    ]  # fmt: skip
    env = {**os.environ, "RVC_SLURM_ACCOUNT": "ci", "RVC_SLURM_PARTITION": "debug", "RVC_SLURM_GPU_PARTITION": "debug"}
    env["PATH"] = f"{os.path.dirname(sys.executable)}:{env['PATH']}"
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = workflow.workdir / "results" / "exp"
    assert sorted(p.name for p in (results / "0_gt_wavs").iterdir()) == ["alpha", "beta"]
    assert (results / "dataset_report.tsv").is_file()
    # Both slice jobs ran in one SLURM job (the per_source group of the profile).
    output = result.stdout + result.stderr
    assert output.count("has been submitted with SLURM jobid") == 1, output[-3000:]
    assert "group_per_source" in output
