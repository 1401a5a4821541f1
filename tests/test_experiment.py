"""Step 3's guards: the training lock, the list of what gave nothing, job logs that hold the error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import training_lock_holder

from rvc_pipeline.locks import LOCK_FILE, TrainingLockedError, lock_holder, training_lock
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.preprocess.dataset_report import SourceReport, write_source_report
from rvc_pipeline.training.inputs import require_segments
from rvc_pipeline.training.run import train_experiment


def test_a_second_trainer_stops_at_once_and_a_killed_holder_frees_the_lock(tmp_path):
    assert lock_holder(tmp_path) is None and not (tmp_path / LOCK_FILE).exists()  # a probe creates nothing
    with training_lock_holder(tmp_path) as holder:
        assert lock_holder(tmp_path).startswith(f"pid {holder.pid} on ")
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(TrainingLockedError, match=f"being trained by pid {holder.pid} on ") as err:
            train_experiment(tmp_path / "filelist.txt", tmp_path / "validation.txt", tmp_path / "config.json",
                             tmp_path / "trained.json", state_dir=tmp_path, options=TrainOptions())  # fmt: skip
        assert str(tmp_path / LOCK_FILE) in str(err.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == before == [LOCK_FILE]
    assert lock_holder(tmp_path) is None  # the kernel released it with the process
    with training_lock(tmp_path):
        assert lock_holder(tmp_path).startswith(f"pid {os.getpid()} on ")


def test_nothing_to_train_lists_every_entry_and_why(tmp_path):
    rows = [
        SourceReport("silent.wav", "silent", "empty", "no segment kept (silent or every piece dropped)"),
        SourceReport("notes.txt", "notes", "skipped", "cannot decode audio (Invalid data)"),
        SourceReport("loud.wav", "loud", "empty", "no segment kept", dropped="piece 0: peak 3.050 > 2.5"),
    ]
    folder = tmp_path / "voices"
    (folder / "sub").mkdir(parents=True)
    (folder / "gone.wav").symlink_to("nowhere.wav")
    reports = [tmp_path / f"{row.name}.tsv" for row in rows]
    for row, path in zip(rows, reports):
        write_source_report(row, path)
    with pytest.raises(ValueError) as err:
        require_segments(reports, str(folder))
    assert str(err.value).splitlines() == [
        f"nothing to train on: no recording in {str(folder)!r} kept a segment:",
        "  gone.wav: skipped: broken link: its target 'nowhere.wav' does not exist",
        "  loud.wav: empty: no segment kept; piece 0: peak 3.050 > 2.5",
        "  notes.txt: skipped: cannot decode audio (Invalid data)",
        "  silent.wav: empty: no segment kept (silent or every piece dropped)",
        "  sub: ignored: folder: only files directly in input_dir are read",
    ]
    with pytest.raises(ValueError, match="(it holds no recordings)"):
        require_segments([], None)
    write_source_report(SourceReport("ok.wav", "ok", segments=1), tmp_path / "ok.tsv")
    require_segments([*reports, tmp_path / "ok.tsv"], str(folder))  # one segment is enough


FAILING_JOB = textwrap.dedent(
    """
    import logging, sys
    from rvc_pipeline.logs import run_script

    def job():
        logging.getLogger("rvc_pipeline.x").info("working")
        logging.getLogger("rvc_pipeline.x").warning("corrupt checkpoint set aside")
        raise ValueError("filelist.txt:9: 13 fields, expected 5")

    run_script(sys.argv[1], job)
    """
)


def test_a_script_job_logs_its_traceback_and_shows_warnings_on_the_console(tmp_path):
    log = tmp_path / "train_model.log"
    done = subprocess.run([sys.executable, "-c", FAILING_JOB, str(log)], capture_output=True, text=True)
    assert done.returncode == 1
    text = log.read_text()
    assert "INFO rvc_pipeline.x: working" in text and "ERROR rvc_pipeline: job failed" in text
    assert "Traceback" in text and "ValueError: filelist.txt:9: 13 fields, expected 5" in text
    assert "WARNING rvc_pipeline.x: corrupt checkpoint set aside" in done.stderr
    assert "working" not in done.stderr and done.stderr.count("Traceback") == 1  # the interpreter's own
