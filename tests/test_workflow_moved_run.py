"""A run folder (Snakemake's --directory) copied elsewhere, the original moved away: the copy
trains on its own segments."""

import json
import shutil

import pytest
from conftest import Workflow
from test_workflow_preprocess import make_sources
from test_workflow_train import train_config

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def test_a_copied_run_trains_on_its_own_segments_with_the_original_moved_away(tmp_path):
    first = Workflow(tmp_path / "run1")
    make_sources(first.workdir / "voices", names=("alpha", "beta"), seconds=8.0)
    config = train_config()
    config["train"]["epochs"] = 1
    first.write_config(config)
    first.run("train")
    copy = Workflow(tmp_path / "run2")
    shutil.copytree(first.workdir, copy.workdir, symlinks=True)  # cp -a: links and times kept
    first.workdir.rename(tmp_path / "moved")
    exp = copy.workdir / "results" / "exp"
    lists = [exp / "filelist.txt", exp / "validation.txt"]
    times = [path.stat().st_mtime_ns for path in lists]
    assert copy.dry_run_jobs("train") == []  # a moved finished run plans nothing

    config["train"]["epochs"] = 2
    copy.write_config(config)
    copy.run("train")
    assert json.loads((exp / "trained.json").read_text())["epoch"] == 2
    assert [line.split("\t")[0] for line in (exp / "losses.tsv").read_text().splitlines()[1:]] == ["1", "2"]
    assert not (exp / "superseded").exists()  # continued: the same segments, in their new folder
    log = (exp / "logs" / "train_model.log").read_text()
    assert "resuming after epoch 1" in log and f"{exp}/filelist.txt named another folder's files" in log
    for path, mtime in zip(lists, times):
        paths = [field for line in path.read_text().split("\n") for field in line.split("|")[:-1]]
        assert len(paths) >= 8 and all(p.startswith(f"{exp}/") for p in paths), paths
        assert path.stat().st_mtime_ns == mtime  # rewritten without making the training look stale
    assert copy.dry_run_jobs("train") == []
