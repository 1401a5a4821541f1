"""Device pitch methods from the registry in the workflow (crepe-tiny with random weights: no
download): extract_f0_device writes RVC's files, the weights are an input, a clear error without them."""

import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO
from test_workflow_extract import extract_config
from test_workflow_preprocess import make_sources

from rvc_pipeline.convert.pipeline import pitch_track
from rvc_pipeline.pitch.crepe_network import Crepe
from rvc_pipeline.pitch.files import coarse_f0
from rvc_pipeline.pitch.registry import tracker

WEIGHTS = "pretrained/crepe/tiny.pth"  # where `rvc-pipeline pretrained fetch` puts crepe_tiny


def save_random_tiny(path):
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(Crepe("tiny").state_dict(), path)
    return path


def test_conversion_tracks_with_the_registrys_loader(tmp_path):
    weights = save_random_tiny(tmp_path / "tiny.pth")
    audio = np.sin(2 * np.pi * 220 * np.arange(8000) / 16000).astype(np.float32)
    coarse, hz = pitch_track(audio, "crepe-tiny", 12, tracker("crepe-tiny", str(weights)))
    assert len(coarse) == len(hz) == len(audio) // 160 and hz.dtype == np.float32
    np.testing.assert_array_equal(coarse, coarse_f0(hz))
    with pytest.raises(ValueError, match="f0_method crepe-tiny needs its weights \\(pretrained key 'crepe_tiny'"):
        pitch_track(audio, "crepe-tiny", 0)


@pytest.mark.slow
def test_crepe_tiny_extract_lengths_no_rerun_and_new_weights_rerun(workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=3.0)
    weights = save_random_tiny(workflow.workdir / WEIGHTS)
    workflow.write_config(extract_config(f0_method="crepe-tiny"))
    workflow.run("extract")
    results = workflow.workdir / "results" / "exp"
    wavs = sorted((results / "1_16k_wavs").glob("*/*.wav"))
    assert len(wavs) >= 2
    for wav in wavs:
        hz = np.load(results / "2b-f0nsf" / wav.parent.name / f"{wav.name}.npy")
        coarse = np.load(results / "2a_f0" / wav.parent.name / f"{wav.name}.npy")
        assert hz.dtype == np.float64 and coarse.dtype == np.int64
        assert len(hz) == sf.info(wav).frames // 160 + 1
        np.testing.assert_array_equal(coarse, coarse_f0(hz))
    logs = sorted((results / "logs" / "extract_f0_device").glob("*.log"))
    assert [p.stem for p in logs] == ["alpha", "beta"]
    assert sum("loading CREPE tiny weights" in p.read_text() for p in logs) == 1  # once per process
    assert workflow.dry_run_jobs("extract") == []
    later = time.time() + 5
    os.utime(weights, (later, later))
    rules = sorted(rule for rule, _ in workflow.dry_run_jobs("extract"))
    assert rules == ["extract", "extract_f0_device", "extract_f0_device", "plot_pitch"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment, convert",
    [({"f0_method": "crepe"}, {}), ({"f0_method": "pm", "convert_dir": "voices"}, {"f0_method": "crepe"})],
    ids=["training", "conversion"],
)
def test_missing_weights_stop_the_run_before_any_job(workflow, experiment, convert):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    workflow.write_config({**extract_config(**experiment), "convert": convert})
    result = workflow.run("extract", check=False)
    said = result.stderr + result.stdout
    assert result.returncode != 0
    assert "f0_method crepe needs its weights 'pretrained/crepe/full.pth' (pretrained key 'crepe_full')" in said
    assert "rvc-pipeline pretrained fetch" in said and "(experiments: exp)" in said
    assert not (workflow.workdir / "results").exists()


@pytest.mark.slow
def test_slurm_profile_sends_device_pitch_jobs_to_the_gpu_partition(workflow, monkeypatch):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    save_random_tiny(workflow.workdir / WEIGHTS)
    workflow.write_config(extract_config(f0_method="crepe-tiny"))
    for key, value in {"ACCOUNT": "ci", "PARTITION": "cpu", "GPU_PARTITION": "gpu"}.items():
        monkeypatch.setenv(f"RVC_SLURM_{key}", value)
    out = workflow.run("extract", "-n", "--workflow-profile", str(REPO / "profiles" / "slurm")).stdout
    block = out.split("\nrule extract_f0_device_batch_exp_0:")[1].split("\n\n")[0]  # one GPU batch
    resources = next(line for line in block.splitlines() if "resources:" in line)
    assert "slurm_partition=gpu" in resources and "gpu=1" in resources
