"""A run folder (Snakemake's --directory) copied elsewhere, the original moved away: the copy
trains on its own segments."""

import json

import pytest
from conftest import copy_run
from test_workflow_train import train_config

from rvc_pipeline.training.filelist import relocate_filelist

pytestmark = pytest.mark.slow  # every test here runs Snakemake

LISTS = ("filelist.txt", "validation.txt")


def test_a_copied_run_trains_on_its_own_segments_with_the_original_moved_away(trained_run, tmp_path):
    first = copy_run(trained_run[0], tmp_path / "run1")  # the original, trained to epoch 2
    for name in LISTS:  # naming its own files, as lists written in it do
        relocate_filelist(first.workdir / "results" / "exp" / name)
    copy = copy_run(first, tmp_path / "run2")  # cp -a: links and times kept
    first.workdir.rename(tmp_path / "moved")
    exp = copy.workdir / "results" / "exp"
    lists = [exp / name for name in LISTS]
    times = [path.stat().st_mtime_ns for path in lists]
    assert copy.dry_run_jobs("train") == []  # a moved finished run plans nothing

    config = train_config()
    config["train"]["epochs"] = 3
    copy.write_config(config)
    copy.run("train")
    assert json.loads((exp / "trained.json").read_text())["epoch"] == 3
    assert [line.split("\t")[0] for line in (exp / "losses.tsv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert not (exp / "superseded").exists()  # continued: the same segments, in their new folder
    log = (exp / "logs" / "train_model.log").read_text()
    assert "resuming after epoch 2" in log and f"{exp}/filelist.txt named another folder's files" in log
    for path, mtime in zip(lists, times):
        paths = [field for line in path.read_text().split("\n") for field in line.split("|")[:-1]]
        assert len(paths) >= 8 and all(p.startswith(f"{exp}/") for p in paths), paths
        assert path.stat().st_mtime_ns == mtime  # rewritten without making the training look stale
    assert copy.dry_run_jobs("train") == []
