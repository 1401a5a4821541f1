"""The SLURM profile on a real one-node SLURM (../shared/slurm), as root; skipped elsewhere."""

import os
import subprocess
import sys

import pytest
from conftest import REPO
from test_workflow_preprocess import make_sources


def run_slurm_profile(workflow, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Snakemake with ``args`` through profiles/slurm on the local SLURM, tuned for quick tests."""
    cmd = [
        "timeout", "-s", "KILL", "600",
        sys.executable, "-m", "snakemake", *args,
        "--snakefile", str(REPO / "Snakefile"), "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--directory", str(workflow.workdir), "--configfile", str(workflow.workdir / "config.yaml"),
        "--cores", "2", "--latency-wait", "5",
        # No slurmdbd here: ask squeue for job states, and check often (../shared/slurm/README.md).
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1", "--max-status-checks-per-second", "10",
    ]  # fmt: skip
    full_env = {**os.environ, "RVC_SLURM_ACCOUNT": "ci", "RVC_SLURM_PARTITION": "debug"}
    full_env |= {"RVC_SLURM_GPU_PARTITION": "debug", **(env or {})}
    full_env["PATH"] = f"{os.path.dirname(sys.executable)}:{full_env['PATH']}"
    result = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
@pytest.mark.slurm
def test_preprocess_through_the_slurm_profile(local_slurm, workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=4.0)
    workflow.write_config({"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}})
    result = run_slurm_profile(workflow, "preprocess")
    results = workflow.workdir / "results" / "exp"
    assert sorted(p.name for p in (results / "0_gt_wavs").iterdir()) == ["alpha", "beta"]
    assert (results / "dataset_report.tsv").is_file()
    # Both slice jobs ran in one SLURM job (the per_source group of the profile).
    output = result.stdout + result.stderr
    assert output.count("has been submitted with SLURM jobid") == 1, output[-3000:]
    assert "group_per_source" in output


@pytest.mark.slow
@pytest.mark.slurm
def test_gpu_feature_jobs_go_in_one_submission_asking_for_one_gpu(local_slurm, workflow):
    names = ("alpha", "beta", "gamma")
    make_sources(workflow.workdir / "voices", names=names, seconds=2.0)
    workflow.write_config({"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}})
    # The node's GPU is declared to SLURM but fake: the jobs ask for it and run on the CPU.
    result = run_slurm_profile(workflow, "extract", "--verbose", env={"RVC_PIPELINE_DEVICE": "cpu"})
    output = result.stdout + result.stderr
    sbatch = [line for line in output.splitlines() if line.startswith("sbatch call:")]
    # One batch job for the three recordings (gpu_batch_size 32 in the profile), asking for one GPU.
    feature_batches = [line for line in sbatch if "rule_extract_features_batch_exp_0" in line]
    assert len(feature_batches) == 1, sbatch
    options = feature_batches[0].split("--wrap")[0].split()
    assert "--gpus=1" in options, feature_batches[0][:600]
    assert len(sbatch) == 2, sbatch  # the per_source CPU batch and the GPU batch
    results = workflow.workdir / "results" / "exp"
    for name in names:
        assert any((results / "3_feature256" / name).glob("*.npy")), name
        assert (results / "reports" / "extract_features256" / f"{name}.tsv").is_file(), name
        assert "job done in" in (results / "logs" / "extract_features256" / f"{name}.log").read_text(), name
    # The model loaded once for the batch (the HuBERT stand-in's warning comes with each load).
    logs = [(results / "logs" / "extract_features256" / f"{name}.log").read_text() for name in names]
    assert sum("RANDOMLY INITIALISED" in log for log in logs) == 1, logs
