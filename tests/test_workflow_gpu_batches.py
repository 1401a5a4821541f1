"""gpu_batch_size: the GPU steps as one job per batch write the bytes the per-recording jobs write."""

import shutil

import pytest
from conftest import RMVPE_SOURCES, Workflow
from test_workflow_preprocess import make_sources

from rvc_pipeline.gpu_batches import batch_of

pytestmark = pytest.mark.slow  # every test here runs Snakemake

BATCHES = ("--config", "gpu_batch_size=2", "gpu_batch_resources={runtime: 3}")
COMPARED = ("3_feature256", "2a_f0", "2b-f0nsf", "reports/extract_features256")


def files(results):
    return {
        str(path.relative_to(results)): path.read_bytes()
        for folder in COMPARED
        for path in sorted((results / folder).rglob("*"))
        if path.is_file()
    }


def test_batches_write_the_per_recording_files_and_a_new_recording_reruns_only_its_batch(rmvpe_run, tmp_path):
    # the per-recording run's inputs (recordings, weights, config) without its outputs
    batched = Workflow(tmp_path / "batched")
    shutil.copytree(rmvpe_run.workdir, batched.workdir, ignore=shutil.ignore_patterns("results", ".snakemake"))

    batched.run("extract", *BATCHES)
    results = batched.workdir / "results" / "exp"
    expected = files(rmvpe_run.workdir / "results" / "exp")
    assert len(expected) > 3 * len(COMPARED)
    assert files(results) == expected
    # Each recording has its own log, the model loaded once for the batches of this one process.
    for step in ("extract_features256", "extract_f0_device"):
        logs = sorted((results / "logs" / step).glob("*.log"))
        assert [log.stem for log in logs] == list(RMVPE_SOURCES)
        assert all("job done in" in log.read_text() for log in logs)
    rmvpe_logs = (results / "logs" / "extract_f0_device").glob("*.log")
    assert sum("loading RMVPE weights" in log.read_text() for log in rmvpe_logs) == 1
    assert sorted(p.name for p in (results / "benchmarks" / "extract_features256").iterdir()) == [
        "batch_0.tsv",
        "batch_1.tsv",
    ]

    assert batched.dry_run_jobs("extract", *BATCHES) == []
    # A fourth recording keeps 2 batches of about 2: only the one it joins reruns.
    make_sources(batched.workdir / "voices", names=("delta",), seconds=2.0)
    number = batch_of("delta", 2)
    rules = {rule for rule, _ in batched.dry_run_jobs("extract", *BATCHES) if "_batch_" in rule}
    assert rules == {f"extract_features_batch_exp_{number}", f"extract_f0_device_batch_exp_{number}"}
