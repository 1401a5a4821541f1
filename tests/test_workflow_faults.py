"""Faults a user meets that the workflow already handles, kept handled (issue 17's list).

A Ctrl-C or SIGTERM to Snakemake while features are extracted (sent from inside a job by a fault
point, so it lands there and nowhere else); one folder as two experiments at two sample rates,
then a changed sample rate (fewer epochs: test_workflow_train.py); a disk that fills up while
slicing (a 2 MiB tmpfs, where mounting one is allowed), log files included; a working directory
that takes no writes, stopped at planning.
"""

from __future__ import annotations

import contextlib
import re

import pytest
import soundfile as sf
from conftest import Workflow, small_disk
from test_workdir import ADVICE
from test_workflow_preprocess import make_sources


@pytest.mark.slow
def test_sigint_and_sigterm_during_feature_extraction_stop_the_run_and_a_rerun_finishes(tmp_path):
    workflow = Workflow(tmp_path)
    make_sources(tmp_path / "voices", names=("alpha", "beta"), seconds=4.0)
    workflow.write_config(
        {
            "experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", "f0_method": "pm"}},
            "pretrained": {"hubert_standin": "tiny"},
        }
    )
    exp = tmp_path / "results" / "exp"
    for kind in ("sigint", "sigterm"):
        stopped = workflow.run("extract", check=False, env={"RVC_PIPELINE_FAULT": f"features:1:{kind}"})
        assert stopped.returncode != 0, (kind, stopped.stderr[-3000:])
        # The next run needs no --unlock: Snakemake released its lock on the way out.
        assert "LockException" not in stopped.stderr
    finished = workflow.run("extract")
    assert "LockException" not in finished.stderr
    segments = {p.stem for p in (exp / "1_16k_wavs").glob("*/*.wav")}
    features = {p.stem for p in (exp / "3_feature256").glob("*/*.npy")}
    assert segments and features == segments
    assert list(exp.rglob(".*.tmp")) == []
    assert workflow.dry_run_jobs("extract") == []


@pytest.mark.slow
def test_two_experiments_on_one_folder_then_a_changed_rate(tmp_path):
    workflow = Workflow(tmp_path)
    make_sources(tmp_path / "voices", names=("alpha", "beta"), seconds=4.0)

    def config(b_rate: str) -> dict:
        return {
            "experiments": {
                "a": {"input_dir": "voices", "sample_rate": "32k", "f0_method": "pm"},
                # the same folder by another relative spelling, without pitch
                "b": {"input_dir": "./voices/", "sample_rate": b_rate, "f0": False},
            },
            "pretrained": {"hubert_standin": "tiny"},
        }

    workflow.write_config(config("40k"))
    workflow.run("extract")
    for name, rate in (("a", 32000), ("b", 40000)):
        exp = tmp_path / "results" / name
        segments = sorted(exp.glob("0_gt_wavs/*/*.wav"))
        assert {p.parent.name for p in segments} == {"alpha", "beta"}
        assert {sf.info(p).samplerate for p in segments} == {rate}
        assert {p.stem for p in exp.glob("3_feature256/*/*.npy")} == {p.stem for p in segments}
    assert not (tmp_path / "results" / "b" / "2a_f0").exists()

    # Another rate for b: its slicing and everything after it again, nothing of a.
    workflow.write_config(config("48k"))
    jobs = workflow.dry_run_jobs("extract")
    assert sorted(w for r, w in jobs if r == "slice_audio") == ["experiment=b, source=alpha", "experiment=b, source=beta"]
    assert sorted(w for r, w in jobs if r == "extract_features") == ["dim=256, experiment=b, source=alpha", "dim=256, experiment=b, source=beta"]
    assert not [w for _, w in jobs if "experiment=a" in w]


@pytest.mark.slow
def test_a_full_disk_while_slicing_is_named_in_the_job_log_and_on_the_console(tmp_path):
    with small_disk(tmp_path / "disk", "2m") as disk:
        workflow = Workflow(disk)
        make_sources(disk / "voices", names=("alpha",), seconds=12.0)  # 0.8 MB; its segments need 2.3 MB
        workflow.write_config(
            {"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}, "pretrained": {"hubert_standin": "tiny"}}
        )
        result = workflow.run("preprocess", check=False)
        assert result.returncode == 1
        log = (disk / "results/exp/logs/slice_audio/alpha.log").read_text()
        pattern = (
            r"\[Errno 28\] no space left on the device writing results/exp/(0_gt_wavs|1_16k_wavs)/alpha/alpha_\d+\.wav: "
            r"\d\.\d MB free in results/exp/\1/alpha without this write's partial files, it needs "
            r"about 0\.[1-5] MB \(LibsndfileError: System error\.\)"
        )
        assert re.search(pattern, log) and re.search(pattern, result.stderr), result.stderr[-3000:]
        assert "experiment exp: no model yet" in result.stderr
        assert list(disk.rglob(".*.tmp")) == []


def _fill(disk) -> None:
    """Write a file into ``disk`` until the disk is full."""
    with open(disk / "filler", "wb", buffering=0) as filler:
        with contextlib.suppress(OSError):
            while True:
                filler.write(bytes(1 << 12))


DEMO = {"experiments": {"exp": {"demo": 1}}, "pretrained": {"hubert_standin": "tiny"}}


@pytest.mark.slow
def test_a_working_directory_that_takes_no_writes_stops_the_run_at_planning_in_one_line(tmp_path):
    workflow = Workflow(tmp_path)
    workflow.write_config(DEMO)
    refused = workflow.run("preprocess", check=False, env={"RVC_PIPELINE_FAULT": "workdir_write:1:enospc"})
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1
    line = f"cannot write in the working directory {tmp_path}: No space left on device (injected at workdir_write); {ADVICE}"
    assert f"\n{line}\n" in said and "Traceback" not in said and len(said.splitlines()) < 6, said
    assert not (tmp_path / "results").exists()  # before Snakemake's lock, and before any check that writes


@pytest.mark.slow
def test_a_full_disk_at_planning_is_one_line_without_logging_errors(tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        workflow = Workflow(disk)
        workflow.write_config(DEMO)
        _fill(disk)
        refused = workflow.run("preprocess", check=False)
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1
        assert f"\ncannot write in the working directory {disk}: No space left on device; {ADVICE}\n" in said, said
        # Snakemake's own log file (.snakemake/log) cannot take its records either: no tracebacks.
        assert "Logging error" not in said and "Traceback" not in said, said


@pytest.mark.slow
def test_a_full_disk_while_slicing_with_log_files_it_refuses_fails_with_its_one_line(tmp_path):
    with small_disk(tmp_path / "disk", "2m") as disk:
        workflow = Workflow(disk)
        make_sources(disk / "voices", names=("alpha",), seconds=12.0)  # its segments need 2.3 MB
        workflow.write_config(
            {"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}, "pretrained": {"hubert_standin": "tiny"}}
        )
        # Every record a rule log takes is refused, as a full disk refuses it.
        result = workflow.run("preprocess", check=False, env={"RVC_PIPELINE_FAULT": "log_write:1:enospc"})
        said = result.stdout + result.stderr
        assert result.returncode == 1
        assert re.search(r"\n\[Errno 28\] no space left on the device writing results/exp/\S+/alpha/alpha_\d+\.wav: ", said), said
        assert "Logging error" not in said, said
        assert "log: results/exp/logs/slice_audio/alpha.log" in said
        assert (disk / "results/exp/logs/slice_audio/alpha.log").read_text() == ""
