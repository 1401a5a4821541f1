"""rvc-pipeline doctor: its table and exit codes, the profile and SLURM checks, the GPU self-test
(run CPU against CPU here) and its comparison, and the guard that stops GPU jobs without CUDA."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import types
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from parity_pack import save_rmvpe_formula_weights

import rvc_pipeline.doctor as doctor
from rvc_pipeline.cli import main
from rvc_pipeline.devices import DEVICE_OVERRIDE, DeviceUnavailable, job_device, require_device
from rvc_pipeline.doctor import cluster, selftest
from rvc_pipeline.doctor.checks import Gpu
from rvc_pipeline.doctor.selftest import ATOL, RTOL, compare_devices, compare_outputs, cpu_noise
from rvc_pipeline.pretrained.needs import load_config

REPO = Path(__file__).resolve().parents[1]
AssetCheck = namedtuple("AssetCheck", "path key role status required reason sha256")
OFFICIAL = AssetCheck("pretrained/f0G40k.pth", "v1_f0G40k", "generator", "official", True, "", "a" * 64)
HUBERT = AssetCheck("pretrained/hubert_base.pt", "hubert_base", "hubert", "official", True, "", "b" * 64)
FIX = "snakemake --set-resources train_model:gpu=1 extract_features:gpu=1 extract_f0_device:gpu=1"


# --- compare_outputs ---------------------------------------------------------------------------


def test_identical_outputs_pass_with_zero_error() -> None:
    x = torch.randn(3, 100, generator=torch.Generator().manual_seed(0))
    result = compare_outputs(x, x.clone(), rtol=1e-3, atol=1e-2)
    assert (result.max_abs, result.rel_err, result.passed) == (0.0, 0.0, True)


def test_rounding_level_difference_passes_and_is_measured() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = compare_outputs(x, x * (1 + 1e-5), rtol=1e-3, atol=1e-2)
    assert result.passed
    assert result.rel_err == pytest.approx(1e-5, rel=1e-6)
    assert result.max_abs == pytest.approx(1e-5 * float(x.abs().max()), rel=1e-6)


def test_broad_drift_fails_on_the_relative_error() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    drifted = x + 2e-3 * torch.randn(1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    result = compare_outputs(x, drifted, rtol=1e-3, atol=1.0)
    assert not result.passed
    assert result.max_abs < 1.0
    assert result.rel_err == pytest.approx(2e-3, rel=0.1)


def test_one_corrupted_element_fails_on_the_largest_difference() -> None:
    x = torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    spiked = x.clone()
    spiked[12345] += 0.1  # averaged over the vector: a relative L2 error of about 3e-4
    result = compare_outputs(x, spiked, rtol=1e-3, atol=1e-2)
    assert result.rel_err < 1e-3
    assert result.max_abs == pytest.approx(0.1, rel=1e-5)
    assert not result.passed


def test_non_finite_output_fails() -> None:
    x = np.ones(10, np.float32)
    bad = x.copy()
    bad[3] = np.nan
    assert not compare_outputs(x, bad, rtol=1.0, atol=1.0).passed


def test_sequences_compare_element_by_element_and_shapes_must_match() -> None:
    a, b = torch.zeros(2, 3), torch.ones(4)
    assert compare_outputs([a, b], [a.clone(), b + 1e-6], rtol=1e-3, atol=1e-3).passed
    assert not compare_outputs([a, b], [a, b * 2], rtol=1e-3, atol=1e-3).passed
    with pytest.raises(ValueError, match="shapes differ"):
        compare_outputs(a, a.T, rtol=1e-3, atol=1e-3)


def test_zero_reference_passes_only_when_equal() -> None:
    zero = torch.zeros(5)
    assert compare_outputs(zero, zero, rtol=1e-3, atol=1e-3).passed
    result = compare_outputs(zero, zero + 1e-4, rtol=1e-3, atol=1e-3)
    assert result.rel_err == float("inf") and not result.passed


def test_cpu_noise_repeats_with_the_seed_and_is_restored() -> None:
    original = torch.rand
    with cpu_noise(7):
        first = (torch.rand([3], device="cpu"), torch.randn_like(torch.empty(2, 2)), torch.rand(2, 4))
    with cpu_noise(7):
        second = (torch.rand([3], device="cpu"), torch.randn_like(torch.empty(2, 2)), torch.rand(2, 4))
    assert torch.rand is original
    assert [t.shape for t in first] == [(3,), (2, 2), (2, 4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# --- the self-test, CPU against CPU --------------------------------------------------------------


@pytest.fixture(scope="module")
def rmvpe_weights(tmp_path_factory) -> Path:
    """RMVPE formula weights, written once for the module (a second or two each time)."""
    return save_rmvpe_formula_weights(tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt")


@pytest.fixture
def tiny_config(tmp_path: Path, rmvpe_weights: Path) -> dict:
    """The demo's config (tiny model), the tiny HuBERT stand-in and RMVPE formula weights."""
    config = load_config(REPO / "config/config.yaml")
    config["pretrained"].update(
        hubert=str(tmp_path / "absent_hubert.pt"),
        hubert_standin="tiny",
        rmvpe=str(rmvpe_weights),
    )
    config["train"]["batch_size"] = 1
    return config


def test_whole_self_test_cpu_against_cpu_agrees_exactly(tiny_config: dict, monkeypatch) -> None:
    # the speed row's format, not a measurement: its default of SPEED_SECONDS is bound at
    # definition, so setting the constant here would not shorten it
    monkeypatch.setattr(selftest, "steps_per_second", functools.partial(selftest.steps_per_second, seconds=0.0))
    rows = doctor.selftest_rows(tiny_config, ["cpu"], "cpu")
    names = [row.name for row in rows]
    assert names == [
        "self-test train step: waveform",
        "self-test train step: log mel",
        "self-test train step: losses",
        "self-test HuBERT: features",
        "self-test RMVPE: salience",
        "self-test speed",
    ]
    assert all(row.status == "ok" for row in rows)
    # Same seeds and inputs on the same device: not close, equal.
    assert all("max |diff| 0.00e+00" in row.detail and "relative L2 0.00e+00" in row.detail for row in rows[:-1])
    assert "training steps/s on cpu (tiny v1 40k, batch 1" in rows[-1].detail
    assert float(rows[-1].detail.split()[0]) > 0


def test_self_test_fails_a_perturbed_output(tiny_config: dict) -> None:
    setup = selftest.ModelSetup.from_config(tiny_config)
    runs = selftest.probes(tiny_config, setup)
    train_name = next(name for name in runs if name.startswith("train step"))
    calls = []

    def perturbed(device: str) -> dict:
        outputs = runs[train_name](device)
        calls.append(device)
        if len(calls) == 2:  # the device under test, not the reference
            outputs["train step: waveform"] = outputs["train step: waveform"] * (1 + 1e-2)
        return outputs

    results = {c.name: c for c in compare_devices({train_name: perturbed}, ["cpu"])["cpu"]}
    assert not results["train step: waveform"].passed
    assert results["train step: waveform"].rel_err == pytest.approx(1e-2, rel=1e-3)
    assert results["train step: log mel"].passed and results["train step: losses"].passed


def test_tolerances_cover_every_output() -> None:
    assert RTOL == 1e-3
    assert set(ATOL) == {
        "train step: waveform",
        "train step: log mel",
        "train step: losses",
        "HuBERT: features",
        "RMVPE: salience",
    }


# --- the GPU guard of jobs ---------------------------------------------------------------------


def test_job_device_follows_the_gpu_resource(monkeypatch) -> None:
    monkeypatch.delenv(DEVICE_OVERRIDE, raising=False)
    assert (job_device(0), job_device(1), job_device(4)) == ("cpu", "cuda", "cuda")


def test_the_device_override_wins_over_the_gpu_resource(monkeypatch) -> None:
    # A test cluster's fake GPU: the job asks SLURM for it and runs on the CPU.
    monkeypatch.setenv(DEVICE_OVERRIDE, "cpu")
    assert (job_device(0), job_device(1)) == ("cpu", "cpu")


def test_cpu_always_passes(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    require_device("cpu")


def test_cuda_on_a_cpu_only_build_stops_with_the_fix(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    with pytest.raises(DeviceUnavailable) as err:
        require_device("cuda")
    message = str(err.value)
    assert "\n" not in message
    assert "CPU-only build" in message and "install a CUDA" in message and "train_model:gpu=0" in message


def test_cuda_build_without_a_visible_gpu_says_so(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(DeviceUnavailable, match="sees no GPU: check the driver"):
        require_device("cuda:0")


def test_cuda_passes_when_torch_can_use_it(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    require_device("cuda")


def test_gpu_jobs_stop_before_loading_anything(tmp_path: Path, monkeypatch) -> None:
    from rvc_pipeline.features.extract import extract_features_dir
    from rvc_pipeline.options import TrainOptions
    from rvc_pipeline.training.run import train_experiment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    with pytest.raises(DeviceUnavailable, match="CPU-only build"):
        extract_features_dir(tmp_path / "wavs", tmp_path / "out", weights=None, version="v1", device="cuda")
    assert not (tmp_path / "out").exists()
    with pytest.raises(DeviceUnavailable, match="CPU-only build"):
        train_experiment(
            "f.txt",
            "v.txt",
            "c.json",
            tmp_path / "trained.json",
            state_dir=tmp_path / "state",
            options=TrainOptions(),
            gpus=1,
        )
    assert not (tmp_path / "state").exists()


def test_rules_take_the_device_from_the_package() -> None:
    common = (REPO / "rules/common.smk").read_text()
    assert 'return device_for_gpus(resources.get("gpu", 0))' in common


# --- the doctor's checks and CLI ---------------------------------------------------------------


@pytest.fixture
def quick(monkeypatch):
    """No GPU, a fixed decoder row (the real check is tested once below), pretrained files as given."""
    monkeypatch.setattr(doctor, "gpus", lambda: [])
    monkeypatch.setattr(doctor, "check_decoders", lambda: doctor.Check("decoders", "ok", "fake"))
    monkeypatch.setattr(doctor.checks, "visible_gpu_hardware", lambda: [])
    assets = [OFFICIAL, HUBERT]
    module = types.ModuleType("rvc_pipeline.pretrained.verify")
    module.verify_config = lambda config: list(assets)
    monkeypatch.setitem(sys.modules, "rvc_pipeline.pretrained.verify", module)
    return assets


def _doctor(capsys, *args: str, configfile: Path = REPO / "config/config.yaml") -> tuple[int, list[list[str]]]:
    """Exit code and the table's rows (check, status, detail) of ``rvc-pipeline doctor``."""
    code = main(["doctor", "--configfile", str(configfile), *args])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["check", "status", "detail"] and set(lines[1]) == {"-", " "}
    widths = [len(part) for part in lines[1].split("  ")[:2]]
    rows = [
        [
            line[: widths[0]].strip(),
            line[widths[0] + 2 : widths[0] + 2 + widths[1]].strip(),
            line[widths[0] + widths[1] + 4 :],
        ]
        for line in lines[2:]
    ]
    return code, rows


def test_all_ok_exits_zero_and_says_no_gpu_in_one_line(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    code, rows = _doctor(capsys)
    assert code == 0
    assert [r[0] for r in rows] == [
        "Python",
        "torch",
        "GPU",
        "decoders",
        "pretrained generator",
        "pretrained hubert",
        "profile GPUs",
    ]
    assert all(status == "ok" for _, status, _ in rows)
    gpu_rows = [r for r in rows if r[0].startswith("GPU")]
    assert gpu_rows == [["GPU", "ok", "none: jobs and training run on the CPU (no GPU self-test)"]]
    assert "RVC's file (sha256 aaaaaaaaaaaa…)" in rows[4][2]


def test_missing_required_file_fails_and_missing_hubert_warns(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    quick[:] = [HUBERT._replace(status="missing", reason="no file")]
    code, rows = _doctor(capsys, "--no-self-test")
    assert code == 0
    assert rows[4][:2] == ["pretrained hubert", "warn"] and "stand-in" in rows[4][2]
    quick[:] = [OFFICIAL._replace(status="unusable", reason="shapes do not fit: 256 vs 768")]
    code, rows = _doctor(capsys)
    assert code == 1
    assert rows[4] == ["pretrained generator", "FAIL", "pretrained/f0G40k.pth: unusable: shapes do not fit: 256 vs 768"]


def test_the_doctor_reads_the_config_with_the_schema_defaults(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"experiments": {"me": {"input_dir": "rec", "version": "v2"}}}))
    config = load_config(path)
    assert config["experiments"]["me"] == {
        "input_dir": "rec",
        "version": "v2",
        "sample_rate": "40k",
        "f0": True,
        "f0_method": "pm",
        "speaker_id": 0,
        "demo": 0,
    }
    assert config["pretrained"]["hubert"] == "pretrained/hubert_base.pt" and config["train"]["model"] == "rvc"
    setup = selftest.ModelSetup.from_config(config)
    assert (setup.describe(), setup.hparams["model"]["hidden_channels"]) == ("rvc v2 40k", 192)
    path.write_text("train: {model: tiny}\n")
    with pytest.raises(ValueError, match="'experiments' is a required property"):
        load_config(path)


def test_missing_config_fails(quick, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    code, rows = _doctor(capsys, configfile=tmp_path / "nope.yaml")
    assert code == 1
    assert ["config", "FAIL", f"config file {tmp_path / 'nope.yaml'}: No such file or directory"] in rows
    assert not any(row[0].startswith("pretrained") for row in rows)


def test_json_output(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["doctor", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["check"] == "Python" and {r["status"] for r in rows} == {"ok"}


def test_gpu_without_gpu_rules_in_the_profile_warns_with_the_fix(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(doctor, "gpus", lambda: [Gpu(0, "Fake GPU", 80.0, (9, 0))])
    monkeypatch.setattr(cluster, "torch_build", lambda: "CUDA 12.4")
    code, rows = _doctor(capsys, "--no-self-test")
    assert code == 0
    assert ["GPU 0", "ok", "Fake GPU, 80.0 GiB, compute capability 9.0"] in rows
    profile = next(r for r in rows if r[0] == "profile GPUs")
    assert profile[1] == "warn" and FIX in profile[2] and "train_model" in profile[2]


def test_self_test_runs_on_the_gpu_when_one_is_found(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(doctor, "gpus", lambda: [Gpu(0, "Fake GPU", 80.0, (9, 0))])
    monkeypatch.setattr(
        doctor, "selftest_rows", lambda config, devices: [doctor.Check("self-test x", "FAIL", " ".join(devices))]
    )
    code, rows = _doctor(capsys)
    assert (code, rows[-1]) == (1, ["self-test x", "FAIL", "cuda:0"])
    code, rows = _doctor(capsys, "--no-self-test")
    assert code == 0 and not any(row[0].startswith("self-test") for row in rows)


def test_gpus_in_the_profile_on_a_cpu_only_torch_fail(tmp_path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"set-resources": ["extract_features:gpu=1"]}))
    row = cluster.check_profile_gpus(cluster.read_profile(tmp_path), gpu_count=0)
    if cluster.torch_build() == "CPU only":
        assert row.status == "FAIL" and "--set-resources extract_features:gpu=0" in row.detail
    else:
        assert row.status == "ok" and "run the doctor on a GPU node" in row.detail


def test_profile_giving_every_gpu_rule_a_gpu_is_ok(monkeypatch) -> None:
    monkeypatch.setattr(cluster, "torch_build", lambda: "CUDA 12.4")
    profile = cluster.read_profile(REPO / "profiles/slurm")
    assert profile.slurm and profile.rule_gpus == dict.fromkeys(cluster.GPU_RULES, "1")
    assert profile.variables == ("RVC_SLURM_ACCOUNT", "RVC_SLURM_GPU_PARTITION", "RVC_SLURM_PARTITION")
    assert cluster.check_profile_gpus(profile, gpu_count=1).status == "ok"
    assert cluster.check_profile_gpus(cluster.read_profile(REPO / "profiles/default"), 1).status == "warn"


def _sinfo(partitions: str, returncode: int = 0):
    return lambda cmd, timeout=15: subprocess.CompletedProcess(
        cmd, returncode, partitions, "sinfo: error: no controller"
    )


def test_slurm_variables_and_sinfo(monkeypatch) -> None:
    profile = cluster.read_profile(REPO / "profiles/slurm")
    for name in cluster.SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cluster, "run_tool", lambda cmd, timeout=15: None)
    rows = {row.name: row for row in cluster.check_slurm(profile)}
    assert [rows[f"${v}"].status for v in cluster.SLURM_VARIABLES] == ["FAIL"] * 3
    assert "export RVC_SLURM_ACCOUNT=" in rows["$RVC_SLURM_ACCOUNT"].detail
    assert rows["sinfo"].status == "FAIL" and "not installed here" in rows["sinfo"].detail

    monkeypatch.setenv("RVC_SLURM_ACCOUNT", "lab")
    monkeypatch.setenv("RVC_SLURM_PARTITION", "cpu")
    monkeypatch.setenv("RVC_SLURM_GPU_PARTITION", "gpu")
    monkeypatch.setattr(cluster, "run_tool", _sinfo("cpu*\ngpu\n"))
    rows = cluster.check_slurm(profile)
    assert all(row.status == "ok" for row in rows)
    assert rows[-1].detail == "partitions cpu, gpu"

    monkeypatch.setattr(cluster, "run_tool", _sinfo("cpu*\n"))
    assert "no such partition: $RVC_SLURM_GPU_PARTITION=gpu" in cluster.check_slurm(profile)[-1].detail
    monkeypatch.setattr(cluster, "run_tool", _sinfo("", returncode=1))
    assert "no controller" in cluster.check_slurm(profile)[-1].detail


def test_slurm_profile_rows_in_the_table(quick, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cluster, "torch_build", lambda: "CUDA 12.4")
    monkeypatch.setattr(cluster, "run_tool", _sinfo("cpu*\ngpu\n"))
    for name, value in zip(cluster.SLURM_VARIABLES, ("lab", "cpu", "gpu"), strict=True):
        monkeypatch.setenv(name, value)
    code, rows = _doctor(capsys, "--profile", "profiles/slurm")
    assert code == 0
    assert [r[0] for r in rows[-4:]] == [
        "$RVC_SLURM_ACCOUNT",
        "$RVC_SLURM_GPU_PARTITION",
        "$RVC_SLURM_PARTITION",
        "sinfo",
    ]
    monkeypatch.delenv("RVC_SLURM_ACCOUNT")
    code, rows = _doctor(capsys, "--profile", "profiles/slurm")
    assert code == 1 and ["$RVC_SLURM_ACCOUNT", "FAIL"] == rows[-4][:2]


def test_batched_gpu_steps_take_their_gpus_from_the_batch_resources(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cluster, "torch_build", lambda: "CUDA 12.4")
    settings = {
        "set-resources": {name: {"gpu": 1} for name in cluster.GPU_RULES},
        "config": ["gpu_batch_size=32", "gpu_batch_resources={gpu: 0, runtime: 2}"],
    }
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(settings))
    gpus = cluster.read_profile(tmp_path).rule_gpus
    assert gpus["train_model"] == "1" and gpus["extract_features"] == "0"
    assert {gpus[name] for name in cluster.GPU_RULES if name != "train_model"} == {"0"}
    row = cluster.check_profile_gpus(cluster.read_profile(tmp_path), gpu_count=1)
    assert row.status == "warn" and "extract_features" in row.detail and "train_model" not in row.detail
    assert "gpu_batch_resources" in row.detail and "--set-resources" not in row.detail
    settings["config"] = ["gpu_batch_size=0", "gpu_batch_resources={gpu: 0}"]
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(settings))
    assert set(cluster.read_profile(tmp_path).rule_gpus.values()) == {"1"}


def test_set_resources_as_strings_and_a_missing_profile(tmp_path) -> None:
    assert cluster._rule_gpus(["train_model:gpu=2", "extract_features:mem_mb=100"]) == {"train_model": "2"}
    with pytest.raises(FileNotFoundError, match="no Snakemake profile"):
        cluster.read_profile(tmp_path / "nowhere")


def test_kernels_for_the_gpu_architecture() -> None:
    from rvc_pipeline.doctor.checks import has_kernels

    built = {"sm_80", "sm_90", "compute_90"}
    assert has_kernels(built, (8, 0)) and has_kernels(built, (8, 6))  # same major, newer minor
    assert has_kernels(built, (10, 0))  # PTX of 9.0, compiled by the driver
    assert not has_kernels({"sm_80", "sm_90"}, (10, 0)) and not has_kernels({"sm_80"}, (7, 5))
    assert not has_kernels({"sm_90a"}, (9, 0))


def test_gpu_rows(monkeypatch) -> None:
    from rvc_pipeline.doctor import checks

    monkeypatch.setattr(checks, "visible_gpu_hardware", lambda: ["GPU 0: NVIDIA H200 (UUID: GPU-1)"])
    [row] = checks.check_gpus([])
    assert row.status == "warn" and row.detail.startswith("GPU 0: NVIDIA H200 (UUID: GPU-1) is present, but torch")
    monkeypatch.setattr(torch.version, "cuda", "11.8")
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_70", "sm_80"])
    rows = checks.check_gpus([Gpu(0, "A100", 79.2, (8, 0)), Gpu(1, "B200", 178.4, (10, 0))])
    assert rows[0] == doctor.Check("GPU 0", "ok", "A100, 79.2 GiB, compute capability 8.0")
    assert rows[1].status == "FAIL" and "no kernels for it (built for sm_70, sm_80)" in rows[1].detail


def test_decoders_decode_every_format() -> None:
    row = doctor.checks.check_decoders()
    assert row.status == "ok"
    assert row.detail.endswith("wav flac mp3 ogg m4a decode")


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="torch here can use a GPU: the guard lets the job run")
def test_a_feature_job_given_a_gpu_on_a_cpu_only_machine_stops_with_one_line(workflow) -> None:
    from test_workflow_extract import extract_config
    from test_workflow_preprocess import make_sources

    make_sources(workflow.workdir / "voices", names=("alpha",), seconds=3.0)
    workflow.write_config(extract_config())
    result = workflow.run("extract", "--set-resources", "extract_features:gpu=1", "--resources", "gpu=1", check=False)
    assert result.returncode != 0
    log = (workflow.workdir / "results/exp/logs/extract_features256/alpha.log").read_text()
    assert "DeviceUnavailable: this job was given a GPU, but torch" in log
    assert "Torch not compiled with CUDA enabled" not in log + result.stderr
    assert not (workflow.workdir / "results/exp/3_feature256/alpha").exists()
