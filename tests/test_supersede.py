"""Old training state: continued when only how long or how it trains changed (precision too),
superseded when what it learns from changed; a moved results folder changes nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import pytest

from rvc_pipeline.training.supersede import INPUTS_FILE
from rvc_pipeline.training.inputs import write_config
from rvc_pipeline.training.run import train_experiment
from test_train import make_experiment, options, small_hparams, tsv_rows, write_lists


def _train(exp: Path, **chosen) -> list[dict[str, str]]:
    """train_experiment on the CPU with the state in the experiment folder, as the workflow does."""
    train_experiment(
        exp / "filelist.txt",
        exp / "validation.txt",
        exp / "config.json",
        exp / "trained.json",
        state_dir=exp,
        options=options(**chosen),
    )
    return tsv_rows(exp)


def _superseded(exp: Path) -> list[str]:
    return sorted(p.name for p in exp.glob("superseded/*/G_*.pth"))


def test_switching_precision_continues_and_a_changed_filelist_supersedes(tmp_path, caplog):
    exp = tmp_path / "exp"
    make_experiment(exp)
    first = _train(exp, epochs=1)
    # What the workflow does when train.precision becomes fp16: config.json says fp16_run (RVC's
    # file), the options say fp16 (the CPU job trains in fp32 anyway).
    write_config(small_hparams(), exp / "config.json", fp16_run=True)
    assert json.loads((exp / "config.json").read_text())["train"]["fp16_run"] is True
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        rows = _train(exp, epochs=2, precision="fp16")
    assert "resuming after epoch 1" in caplog.text and _superseded(exp) == []
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0] == first[0]

    lines = (exp / "filelist.txt").read_text().split("\n")
    dropped = next(line for line in lines if "/mute/" not in line)
    (exp / "filelist.txt").write_text("\n".join(line for line in lines if line != dropped))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        rows = _train(exp, epochs=2)
    assert "training inputs changed" in caplog.text and "(the segments of filelist.txt)" in caplog.text
    assert "resuming" not in caplog.text
    assert len(_superseded(exp)) == 2 and [r["epoch"] for r in rows] == ["1", "2"]


def test_an_option_that_changes_the_model_supersedes_and_is_named(tmp_path, caplog):
    exp = tmp_path / "exp"
    make_experiment(exp)
    _train(exp, epochs=1)
    with caplog.at_level(logging.WARNING, logger="rvc_pipeline"):
        _train(exp, epochs=1, seed=7)
    assert "(option seed)" in caplog.text and len(_superseded(exp)) == 1


def test_a_moved_results_folder_continues(tmp_path, caplog):
    exp = tmp_path / "results" / "exp"
    make_experiment(exp)
    _train(exp, epochs=1)
    moved = tmp_path / "elsewhere" / "exp"
    shutil.move(exp, moved)
    write_lists(moved)  # the filelist names the segments by absolute path: now the moved ones
    assert str(moved) in (moved / "filelist.txt").read_text()
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        rows = _train(moved, epochs=2)
    assert "resuming after epoch 1" in caplog.text and _superseded(moved) == []
    assert [r["epoch"] for r in rows] == ["1", "2"]


@pytest.mark.parametrize("matches", [True, False])
def test_a_record_of_the_first_format_continues_when_its_inputs_match(tmp_path, caplog, matches):
    exp = tmp_path / "exp"
    make_experiment(exp)
    _train(exp, epochs=1)
    data = (exp / "filelist.txt").read_bytes() + b"\0" + (exp / "config.json").read_bytes()
    first_format = {
        "data_sha256": hashlib.sha256(data if matches else b"other").hexdigest(),
        "options": {
            "batch_size": 2,
            "f0": True,
            "pretrained_d": None,
            "pretrained_g": None,
            "seed": 1234,
            "version": "v1",
            "warm_start": None,
        },
    }
    (exp / INPUTS_FILE).write_text(json.dumps(first_format))
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        _train(exp, epochs=2)
    assert ("resuming after epoch 1" in caplog.text) == matches
    assert len(_superseded(exp)) == (0 if matches else 1)
    assert json.loads((exp / INPUTS_FILE).read_text())["format"] == 2
