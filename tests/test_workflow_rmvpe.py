"""f0_method rmvpe in the workflow: the device pitch rule, the weights as an input, an early error without them."""

import os
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, RMVPE_SOURCES, copy_run
from parity_pack import save_rmvpe_formula_weights
from test_workflow_extract import extract_config
from test_workflow_preprocess import make_sources

from rvc_pipeline.pitch.files import coarse_f0

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def test_rmvpe_extract_lengths_no_rerun_and_new_weights_rerun_only_rmvpe_jobs(rmvpe_run, tmp_path):
    workflow = copy_run(rmvpe_run, tmp_path)  # its weights are touched below
    weights = workflow.workdir / "pretrained" / "rmvpe.pt"
    results = workflow.workdir / "results" / "exp"
    checked = 0
    for wav in sorted((results / "1_16k_wavs").glob("*/*.wav")):
        source = wav.parent.name
        hz = np.load(results / "2b-f0nsf" / source / f"{wav.name}.npy")
        coarse = np.load(results / "2a_f0" / source / f"{wav.name}.npy")
        assert hz.dtype == np.float64 and coarse.dtype == np.int64
        assert len(hz) == sf.info(wav).frames // 160 + 1
        np.testing.assert_array_equal(coarse, coarse_f0(hz))
        checked += 1
    assert checked >= len(RMVPE_SOURCES)
    logs = sorted((results / "logs" / "extract_f0_device").glob("*.log"))
    assert [p.stem for p in logs] == list(RMVPE_SOURCES)
    assert sum("loading RMVPE weights" in p.read_text() for p in logs) == 1  # once per process
    assert not (results / "logs" / "extract_f0").exists()

    assert workflow.dry_run_jobs("extract") == []
    later = time.time() + 5
    os.utime(weights, (later, later))
    jobs = workflow.dry_run_jobs("extract")
    # the rmvpe jobs, and the Pitch page of the report drawn from their output
    assert sorted(w for rule, w in jobs if "source=" in w) == [f"experiment=exp, source={name}" for name in RMVPE_SOURCES]
    assert sorted(rule for rule, _ in jobs) == ["extract", *["extract_f0_device"] * len(RMVPE_SOURCES), "plot_pitch"]


@pytest.mark.parametrize(
    "experiment, convert",
    [({"f0_method": "rmvpe"}, {}), ({"f0_method": "pm", "convert_dir": "voices"}, {"f0_method": "rmvpe"})],
    ids=["training", "conversion"],
)
def test_missing_weights_stop_the_run_before_any_job(workflow, experiment, convert):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    workflow.write_config({**extract_config(**experiment), "convert": convert, "pretrained": {"rmvpe": "w/rmvpe.pt"}})
    result = workflow.run("extract", check=False)
    assert result.returncode != 0
    said = result.stderr + result.stdout
    assert "f0_method rmvpe needs its weights 'w/rmvpe.pt' (pretrained key 'rmvpe'), not found" in said
    assert "(experiments: exp)" in said and "rvc-pipeline pretrained fetch" in said
    assert not (workflow.workdir / "results").exists()


def test_a_model_without_pitch_needs_no_rmvpe_weights(workflow):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    config = extract_config(f0=False, f0_method="rmvpe", convert_dir="voices")
    workflow.write_config({**config, "convert": {"f0_method": "rmvpe"}})
    rules = {rule for rule, _ in workflow.dry_run_jobs("extract")}
    assert "extract_features" in rules and not rules & {"extract_f0", "extract_f0_device"}


def test_slurm_profile_sends_rmvpe_jobs_to_the_gpu_partition(workflow, monkeypatch):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    # the run checks the file before planning (an empty one is refused)
    save_rmvpe_formula_weights(workflow.workdir / "pretrained" / "rmvpe.pt", half=True)
    workflow.write_config(extract_config(f0_method="rmvpe"))
    for key, value in {"ACCOUNT": "ci", "PARTITION": "cpu", "GPU_PARTITION": "gpu"}.items():
        monkeypatch.setenv(f"RVC_SLURM_{key}", value)
    out = workflow.run("extract", "-n", "--workflow-profile", str(REPO / "profiles" / "slurm")).stdout
    # jobs of a group job are listed indented under it: slicing in a CPU group; rmvpe in a GPU batch
    assert "\n    rule slice_audio:" in out and "\nrule extract_f0_device_batch_exp_0:" in out
    block = out.split("\nrule extract_f0_device_batch_exp_0:")[1].split("\n\n")[0]
    resources = next(line for line in block.splitlines() if "resources:" in line)
    assert "slurm_partition=gpu" in resources and "gpu=1" in resources
