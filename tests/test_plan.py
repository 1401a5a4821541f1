"""The plan of a run (rvc_pipeline.plan) from a config, without Snakemake."""

import json
import os
from pathlib import Path

import pytest
import yaml

from rvc_pipeline.plan import PlanError, build_plan, record_run, start_run
from rvc_pipeline.pretrained.needs import load_config

SLICE_REPORT = "results/{experiment}/reports/slice_audio/{source}.tsv"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(tmp_path, **sections):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(sections))
    return load_config(path)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_experiments_sources_and_why_one_is_not_trained(in_tmp):
    (in_tmp / "voices").mkdir()
    for name in ("b.wav", "a.flac", ".hidden.wav", "{x}.wav"):
        (in_tmp / "voices" / name).write_bytes(b"x")
    (in_tmp / "voices" / "sub").mkdir()
    (in_tmp / "afile").write_text("not a folder")
    plan = build_plan(
        config(
            in_tmp,
            experiments={
                "demo": {"demo": 2},
                "real": {"input_dir": "voices", "convert_dir": "voices"},
                "none": {"input_dir": "missing"},
                "typo": {"input_dir": "afile"},
            },
        )
    )
    assert plan.experiments["demo"].sources == {
        "demo_1": "results/demo/demo_recordings/demo_1.wav",
        "demo_2": "results/demo/demo_recordings/demo_2.wav",
    }
    assert plan.experiments["demo"].convert == {"demo_1": "results/demo/demo_recordings/demo_1.wav"}
    assert sorted(plan.experiments["real"].sources) == ["a", "b"]
    assert plan.trainable == ["demo", "real"]
    assert plan.untrainable == {
        "none": "input_dir 'missing' does not exist",
        "typo": "input_dir 'afile' is a file, not a folder",
    }
    assert plan.misconfigured == {"typo": "input_dir 'afile' is a file, not a folder"}
    assert any("'real': 1 entries not used" in line and "'{x}.wav'" in line for line in plan.warnings)
    assert sorted(plan.experiments["real"].per_source("0_gt_wavs")) == ["results/real/0_gt_wavs/a", "results/real/0_gt_wavs/b"]


def test_pitch_routing_and_recorded_settings(in_tmp):
    plan = build_plan(
        config(
            in_tmp,
            experiments={"p": {"demo": 1, "f0_method": "pm"}, "h": {"demo": 1, "f0_method": "harvest", "version": "v2"}},
            preprocess={"per": 3.0},
            train={"export": "best"},
        )
    )
    assert plan.f0_experiments("extract_f0") == "h|p"
    assert plan.f0_experiments("extract_f0_device") == "(?!)"
    assert plan.used_pitch_rules == {"extract_f0"}
    assert plan.pitch_rule_version("extract_f0") == "1"
    assert plan.preprocess_record == {"settings": {"per": 3.0}}
    assert plan.experiments["h"].feature_dim == 768 and plan.experiments["h"].sample_rate == 40000
    assert plan.export_choice == "best"
    assert plan.pitch_input("p") == {}
    assert json.loads(plan.train_options("h"))["version"] == "v2"


def test_weights_a_method_needs_are_checked_before_any_job(in_tmp):
    with pytest.raises(PlanError, match=r"f0_method rmvpe needs its weights 'pretrained/rmvpe.pt'"):
        build_plan(config(in_tmp, experiments={"r": {"demo": 1, "f0_method": "rmvpe"}}))
    Path("pretrained").mkdir()
    Path("pretrained/rmvpe.pt").write_bytes(b"x")
    plan = build_plan(config(in_tmp, experiments={"r": {"demo": 1, "f0_method": "rmvpe"}}))
    assert plan.pitch_input("r") == {"weights": "pretrained/rmvpe.pt"}
    assert plan.device_method_record("r") == "1"  # what rmvpe's jobs recorded before the registry
    assert plan.used_pitch_rules == {"extract_f0_device"}


def test_gpu_batches_only_with_a_batch_size(in_tmp):
    experiments = {"a": {"demo": 3, "f0_method": "pm"}}
    assert build_plan(config(in_tmp, experiments=experiments)).feature_batches == ()
    plan = build_plan(config(in_tmp, experiments=experiments, gpu_batch_size=2))
    assert sum(len(batch.sources) for batch in plan.feature_batches) == 3
    assert plan.pitch_batches == ()  # pm runs in the CPU pool


def test_planning_writes_nothing_and_the_run_records_when_jobs_start(in_tmp):
    (in_tmp / "voices").mkdir()
    (in_tmp / "voices" / "a.wav").write_bytes(b"RIFF")
    plan = build_plan(config(in_tmp, experiments={"x": {"input_dir": "voices"}}))
    before = files_under(in_tmp)
    started = start_run(plan, SLICE_REPORT)
    assert files_under(in_tmp) == before  # the checks' cache lives in .snakemake/, nothing in results/
    assert not (in_tmp / "results").exists()
    assert started.busy == {} and started.seen == {"x": {"a": [4, os.stat("voices/a.wav").st_mtime_ns]}}
    record_run(started)
    assert sorted(files_under(in_tmp / "results")) == ["x/pretrained.json", "x/reports/sources_seen.json"]
