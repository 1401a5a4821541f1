"""The training history: epoch line with speed and ETA, overtraining warning (to the console, the log
and the report), best epoch; progress lines of long jobs."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import pytest

from rvc_pipeline.training.history import (
    QUALITY_COLUMNS,
    TSV_COLUMNS,
    best_epoch,
    best_epoch_by,
    epoch_line,
    first_overtraining,
    overtraining_warning,
    read_history,
    write_history,
)
from rvc_pipeline.logs import rule_log
from rvc_pipeline.progress import Progress, format_duration
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.epoch_log import log_epoch

# Validation best at epoch 3, then worse for 5 epochs while the training mel loss keeps falling.
VAL = [30.0, 25.0, 20.0, 21.0, 22.0, 21.5, 23.0, 24.0, 25.0]
MEL = [40.0, 35.0, 31.0, 29.0, 28.0, 27.0, 26.0, 25.0, 24.0]


def crafted(val=VAL, mel=MEL, seconds=10.0, steps=4) -> list[dict[str, str]]:
    rows = []
    for number, (v, m) in enumerate(zip(val, mel), start=1):
        row = dict.fromkeys(TSV_COLUMNS, "1.0")
        row.update(epoch=str(number), step=str(number * steps), seconds=str(seconds), loss_mel=repr(m))
        row["val_loss_mel"] = "" if v is None else repr(v)
        rows.append(row)
    return rows


def test_warning_fires_after_patience_epochs_while_training_mel_falls():
    history = crafted()
    assert best_epoch(history) == (3, 20.0)
    assert overtraining_warning(history[:7], patience=5) is None  # 4 epochs since the best
    warning = overtraining_warning(history[:8], patience=5)
    assert warning is not None
    assert "lowest at epoch 3 (20.0000)" in warning and "not improved for 5 epochs" in warning
    assert "fell from 31.0000 to 25.0000" in warning and "export: best" in warning
    assert first_overtraining(history, patience=5)[0] == 8
    assert first_overtraining(history, patience=3)[0] == 6


def test_no_warning_while_the_training_mel_loss_does_not_fall_or_without_validation():
    flat_mel = [31.0] * len(VAL)
    assert first_overtraining(crafted(mel=flat_mel), patience=5) is None
    improving = [30.0 - k for k in range(len(VAL))]
    assert first_overtraining(crafted(val=improving), patience=2) is None
    assert first_overtraining(crafted(val=[None] * len(VAL)), patience=1) is None
    assert best_epoch(crafted(val=[None] * len(VAL))) is None


def test_epoch_line_has_speed_eta_and_validation_loss():
    history = crafted(seconds=10.0, steps=4)
    line = epoch_line(history, 2, total_epochs=5)
    assert line.startswith("epoch 3/5 step 12 ")
    assert "0.40 steps/s" in line  # 4 steps in 10 s
    assert "ETA 0:00:20" in line  # 2 epochs left at 10 s each
    assert "val_loss_mel=20.0000 (best 20.0000 at epoch 3)" in line
    assert "ETA 0:00:00" in epoch_line(history, 4, total_epochs=5)
    assert format_duration(3725.4) == "1:02:05"


def test_warning_reaches_the_console_and_the_job_log_once(tmp_path, capsys):
    history = crafted()
    options = TrainOptions(epochs=len(history), patience=5)
    with rule_log(tmp_path / "train.log"):
        for end in range(1, len(history) + 1):
            log_epoch("voice", history[:end], options, events=None)
    # Only this job's console lines ("HH:MM:SS message"): handlers other tests left on the root
    # logger may print logging errors to this stderr too.
    console = [
        line
        for line in capsys.readouterr().err.splitlines()
        if re.match(r"\d\d:\d\d:\d\d train voice: ", line)
    ]
    epoch_lines = [line for line in console if "train voice: epoch " in line]
    assert len(epoch_lines) == len(history) and all(" ETA " in line for line in epoch_lines)
    warnings = [line for line in console if "possible overtraining" in line]
    assert len(warnings) == 1 and "train voice: WARNING" in warnings[0]
    assert console.index(warnings[0]) == console.index(epoch_lines[7]) + 1  # right after epoch 8
    log_text = (tmp_path / "train.log").read_text()
    assert log_text.count("possible overtraining") == 1 and "WARNING rvc_pipeline.progress" in log_text


def test_warning_is_on_the_training_page(tmp_path):
    from rvc_pipeline.reporting.training import plot_training

    write_history(tmp_path / "losses.tsv", crafted())
    (tmp_path / "trained.json").write_text(json.dumps({"G": "G_36.pth", "epoch": 9}))
    warning = plot_training(
        trained=tmp_path / "trained.json",
        losses=tmp_path / "losses.tsv",
        epochs=9,
        patience=5,
        export="latest",
        experiment="voice",
        summary=tmp_path / "training.html",
        figure=tmp_path / "training.png",
    )
    page = (tmp_path / "training.html").read_text()
    assert warning and "from epoch 8 on: possible overtraining" in page
    assert "lowest validation loss</td><td>20.0000 at epoch 3" in page
    etas = [f"<td>0:{10 * left // 60:02d}:{10 * left % 60:02d}</td>" for left in range(9)]  # 10 s an epoch
    assert all(eta in page for eta in etas) and "<th>ETA</th>" in page and "<th>steps/s</th>" in page
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_without_the_validation_column_reads_and_rewrites(tmp_path):
    old_columns = [c for c in TSV_COLUMNS if c != "val_loss_mel" and c not in QUALITY_COLUMNS.values()]
    lines = ["\t".join(old_columns), "\t".join(["1", "3", *["0.5"] * (len(old_columns) - 2)])]
    (tmp_path / "losses.tsv").write_text("\n".join(lines) + "\n")
    rows = read_history(tmp_path / "losses.tsv", last_epoch=1)
    assert rows[0]["val_loss_mel"] == "" and rows[0]["step"] == "3"
    assert all(rows[0][column] == "" for column in QUALITY_COLUMNS.values())
    write_history(tmp_path / "losses.tsv", rows)
    assert (tmp_path / "losses.tsv").read_text().splitlines()[0].split("\t") == list(TSV_COLUMNS)


def quality_history() -> list[dict[str, str]]:
    """Nine epochs, every third saved and measured: the lowest validation loss at epoch 3, the
    highest similarity to the voice at epoch 6."""
    rows = crafted()
    for row in rows:
        for column in QUALITY_COLUMNS.values():
            row[column] = ""
    for epoch, similarity, cents in ((3, 0.61, 80.0), (6, 0.74, 35.0), (9, 0.70, 40.0)):
        rows[epoch - 1].update(val_similarity_voice=repr(similarity), val_similarity_recording="0.7",
                               val_f0_error_cents=repr(cents), val_voicing_error="0.1", val_mcd_db="7.5")
    return rows


def test_each_criterion_picks_its_own_best_epoch():
    history = quality_history()
    assert best_epoch_by(history, "val_loss_mel") == (3, 20.0)
    assert best_epoch_by(history, "speaker_similarity") == (6, 0.74)
    assert best_epoch_by(history, "speaker_similarity", epochs={3, 9}) == (9, 0.70)
    assert best_epoch_by(crafted(), "val_loss_mel") == best_epoch(crafted())


def test_quality_and_the_epoch_of_each_criterion_are_on_the_training_page(tmp_path):
    from rvc_pipeline.reporting.training import plot_training

    write_history(tmp_path / "losses.tsv", quality_history())
    (tmp_path / "trained.json").write_text(json.dumps({"G": "G_36.pth", "epoch": 9}))
    plot_training(trained=tmp_path / "trained.json", losses=tmp_path / "losses.tsv", epochs=9, patience=5,
                  export="latest", experiment="voice", summary=tmp_path / "training.html",
                  figure=tmp_path / "training.png")
    page = (tmp_path / "training.html").read_text()
    assert "val_loss_mel: epoch 3 (20.0000); speaker_similarity: epoch 6 (0.7400)" in page
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within 10 s"
        time.sleep(0.01)


def test_progress_lines_come_from_a_helper_thread_into_the_jobs_log(tmp_path, caplog):
    log_file = tmp_path / "job.log"
    with caplog.at_level(logging.INFO, logger="rvc_pipeline.progress"), rule_log(log_file):
        with Progress("extract_features voice", total=4, every=0.01) as progress:
            for _ in progress.each(range(2)):
                pass
            progress.phase("a long single step")
            _wait_for(lambda: "2/4 files (50 %)" in log_file.read_text(), "progress line in the job log")
    owner = threading.get_ident()
    lines = [r for r in caplog.records if r.name == "rvc_pipeline.progress"]
    assert all(r.thread == owner for r in lines)  # so thread-run jobs keep them in their own log
    text = log_file.read_text()
    assert "extract_features voice: a long single step, 2/4 files (50 %)" in text and "ETA " in text
    assert "extract_features voice: done in 0:00:" in text


def test_progress_of_another_thread_stays_out_of_this_jobs_log(tmp_path):
    other_started = threading.Event()
    stop = threading.Event()

    def other_job():
        with Progress("other job", every=0.01):
            other_started.set()
            stop.wait(5)

    thread = threading.Thread(target=other_job)
    with rule_log(tmp_path / "mine.log"):
        thread.start()
        other_started.wait(5)
        with Progress("my job", every=0.01):
            _wait_for(lambda: "my job: 0:00:00 elapsed" in (tmp_path / "mine.log").read_text(), "own line")
        stop.set()
        thread.join()
    assert "other job" not in (tmp_path / "mine.log").read_text()


@pytest.mark.parametrize("total", [None, 0])
def test_progress_without_a_total_reports_elapsed_time(total):
    with Progress("index", total=total, every=60) as progress:
        progress.phase("training IVF4")
        assert progress.status() == "index: training IVF4, 0:00:00 elapsed"
