"""SIGKILL in the middle of writes, placed by fault points (RVC_PIPELINE_FAULT), then a rerun.

One experiment goes through a chain of runs, each killed at a named point: slicing, features,
the index (Snakemake itself dies: those jobs are threads of its process) and a checkpoint save
(the training script dies). After ``--unlock`` and a plain rerun everything is finished, with no
temp file and no partial output left. The whole chain runs under umask 077. The training rows of
issue 9 (a corrupt latest checkpoint, a second trainer, a failing training job) reuse its state.
"""

from __future__ import annotations

import json
import signal
import stat
from pathlib import Path

import pytest
import torch
from conftest import Workflow, training_lock_holder
from test_workflow_preprocess import make_sources

from rvc_pipeline.preprocess.dataset_report import read_reports

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def _config(epochs: int) -> dict:
    return {
        "experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", "f0_method": "pm"}},
        "pretrained": {"hubert_standin": "tiny"},
        "train": {"model": "tiny", "epochs": epochs, "save_every_epoch": 1, "batch_size": 4},
    }


# One thread for training (no data-loader worker): two torch threads on a busy 2-core machine
# spin against each other and make the few steps here ten times slower. Last on the command line,
# because --set-threads takes several values.
ONE_THREAD = ("--set-threads", "train_model=1")


def _temps(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.rglob(".*.tmp"))


def _stems(folder: Path, suffix: str = ".wav") -> set[str]:
    """Segment names in a stage folder (not Snakemake's hidden .snakemake_timestamp)."""
    return {p.name.removesuffix(suffix) for p in folder.iterdir() if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    workflow = Workflow(tmp_path_factory.mktemp("crash"))
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=2.0)
    workflow.write_config(_config(epochs=2))
    exp = workflow.workdir / "results" / "exp"
    seen = {}

    def crash(point: str, *targets: str) -> None:
        result = workflow.run(*targets, *ONE_THREAD, check=False, env={"RVC_PIPELINE_FAULT": point}, umask=0o077)
        seen[point] = {
            "returncode": result.returncode,
            "output": result.stdout + result.stderr,
            "temps": _temps(exp),
            "files": sorted(str(p.relative_to(exp)) for p in exp.rglob("*") if p.is_file()),
        }
        if result.returncode == -signal.SIGKILL:  # Snakemake died with its lock held
            workflow.run("--unlock", umask=0o077)

    crash("preprocess", "index")
    crash("features", "index")
    crash("index", "index")
    crash("checkpoint:3", "train")  # the third save: D of epoch 2, after the pair of epoch 1
    final = workflow.run("train", "index", *ONE_THREAD, check=False, umask=0o077)
    return workflow, exp, seen, final


def test_kills_hit_in_the_middle_of_each_stage(chain):
    _, _, seen, _ = chain
    for point in ("preprocess", "features", "index"):
        assert seen[point]["returncode"] == -signal.SIGKILL, seen[point]["output"][-3000:]
    # slicing died after a first segment, before its report; features after a first file
    # (the other source's job, a thread beside it, may have written one too)
    for point, outputs, reports in (("preprocess", "0_gt_wavs/", "reports/slice_audio/"),
                                    ("features", "3_feature256/", "reports/extract_features256/")):  # fmt: skip
        files = seen[point]["files"]
        assert 1 <= len([f for f in files if f.startswith(outputs) and f.endswith((".wav", ".npy"))]) <= 2
        assert len([f for f in files if f.startswith(reports)]) < 2
    assert [Path(t).name for t in seen["index"]["temps"]][0].startswith(".trained_IVF")
    # the training script died in its third save; Snakemake itself reported the failed job
    assert seen["checkpoint:3"]["returncode"] == 1
    # both files of a pair are written to temps before either is renamed
    step = _step(chain, 2)
    assert [t for t in seen["checkpoint:3"]["temps"] if t.endswith(".pth.tmp")] == [f".D_{step}.pth.tmp", f".G_{step}.pth.tmp"]


def _step(chain, epoch: int) -> int:
    """The global step at the end of ``epoch`` (the losses table of the finished run)."""
    _, exp, _, _ = chain
    lines = (exp / "losses.tsv").read_text().splitlines()
    return int(next(line.split("\t")[1] for line in lines[1:] if line.split("\t")[0] == str(epoch)))


def test_the_rerun_finishes_with_no_temp_and_no_partial_output(chain):
    _, exp, _, final = chain
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert _temps(exp.parent.parent) == []
    rows = {r.name: r for r in read_reports(exp / "dataset_report.tsv") if r.name}
    assert set(rows) == {"alpha", "beta"} and all(r.status == "ok" for r in rows.values())
    for name, row in rows.items():
        segments = {f"{name}_{j}" for j in range(row.segments)}
        assert _stems(exp / "0_gt_wavs" / name) == _stems(exp / "1_16k_wavs" / name) == segments
        assert _stems(exp / "2a_f0" / name, ".wav.npy") == _stems(exp / "2b-f0nsf" / name, ".wav.npy") == segments
        assert _stems(exp / "3_feature256" / name, ".npy") == segments
    lines = (exp / "filelist.txt").read_text().split("\n")
    assert len(lines) == sum(r.segments for r in rows.values()) + 2
    assert sorted(_stems(exp / "index", "")) == [_index_name(exp, "added"), "total_fea.npy", _index_name(exp, "trained")]
    trained = json.loads((exp / "trained.json").read_text())
    assert trained["epoch"] == 2
    steps = [_step(chain, 1), _step(chain, 2)]
    assert sorted(p.name for p in exp.glob("[GD]_*.pth")) == sorted(f"{k}_{s}.pth" for k in "DG" for s in steps)
    log = (exp / "logs" / "train_model.log").read_text()
    assert f"removed results/exp/.D_{steps[1]}.pth.tmp, left by an interrupted write" in log
    assert "resuming after epoch 1" in log


def _index_name(exp: Path, kind: str) -> str:
    added = next((exp / "index").glob("added_*.index")).name
    return added.replace("added", kind, 1)


def test_outputs_follow_the_umask_077(chain):
    workflow, _, _, _ = chain
    files = [p for p in (workflow.workdir / "results").rglob("*") if p.is_file()]
    assert len(files) > 50 and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_a_corrupt_latest_checkpoint_is_set_aside_with_a_console_warning(chain):
    workflow, exp, _, _ = chain
    latest = _step(chain, 2)
    (exp / f"G_{latest}.pth").write_bytes(b"not a zip any more")
    result = workflow.run("train", "--forcerun", "train_model", *ONE_THREAD)
    kept = list((exp / "corrupt").glob(f"*/G_{latest}.pth"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"not a zip any more"
    assert (kept[0].parent / f"D_{latest}.pth").is_file()
    warning = f"skipping checkpoint pair at step {latest}: results/exp/G_{latest}.pth: cannot load checkpoint"
    assert warning in result.stderr and f"to results/exp/corrupt/{kept[0].parent.name}" in result.stderr
    assert "resuming after epoch 1" in (exp / "logs" / "train_model.log").read_text()
    g = torch.load(exp / f"G_{latest}.pth", weights_only=True)  # epoch 2 again, trained anew
    assert g["iteration"] == 2 and json.loads((exp / "trained.json").read_text())["epoch"] == 2


def test_a_second_run_leaves_a_training_in_progress_alone(chain):
    workflow, exp, _, _ = chain
    log = exp / "logs" / "train_model.log"
    with training_lock_holder(exp) as holder:
        first_log = log.read_text()
        before = {p.name: p.stat().st_mtime_ns for p in exp.glob("*.pth")}
        workflow.write_config(_config(epochs=5))  # train_model would run again
        planned = workflow.run("train", *ONE_THREAD)
        assert f"experiment 'exp' is being trained by pid {holder.pid} on " in planned.stderr
        assert "rule train_model:" not in planned.stdout + planned.stderr  # no such job
        assert log.read_text() == first_log  # Snakemake never started the job, so kept its log
        # Asked for by name, the job starts and stops at the lock.
        forced = workflow.run("results/exp/trained.json", *ONE_THREAD, check=False)
        assert forced.returncode != 0
        assert f"results/exp is being trained by pid {holder.pid} on " in forced.stdout + forced.stderr
        assert {p.name: p.stat().st_mtime_ns for p in exp.glob("*.pth")} == before


def test_a_failing_training_job_leaves_its_error_in_the_log_and_names_it(chain):
    workflow, exp, _, _ = chain
    filelist = exp / "filelist.txt"
    original = filelist.read_text()
    filelist.write_text(original + "\n" + "|".join(["x"] * 13))
    try:
        result = workflow.run("train", *ONE_THREAD, check=False)
    finally:
        filelist.write_text(original)
    assert result.returncode != 0
    log = (exp / "logs" / "train_model.log").read_text()
    assert "ERROR rvc_pipeline: job failed" in log and "Traceback" in log
    assert "13 fields, expected 5 for a model with f0" in log
    assert "results/exp/logs/train_model.log" in result.stdout + result.stderr
    assert (
        "experiment exp: NO MODEL: training did not finish (see results/exp/logs/train_model.log); "
        "results/exp/weights/exp.pth is an earlier run's model"
    ) in result.stderr
