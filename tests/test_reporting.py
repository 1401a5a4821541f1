"""The report's pages on crafted inputs: data warnings and their numbers, pitch rows, the epochs a
validation page shows, the index facts, audio embedded in pages."""

from __future__ import annotations

import base64
import re

import faiss
import numpy as np
import pytest
import soundfile as sf

from conftest import training_lock_holder

from rvc_pipeline.audio import decode_audio, encode_ogg_opus
from rvc_pipeline.index.retrieval import train_index
from rvc_pipeline.preprocess.dataset_report import SourceReport, write_source_report
from rvc_pipeline.reporting.dataset import Segment, dataset_warnings, measure_segment, plot_dataset
from rvc_pipeline.reporting.index import plot_index
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.reporting.pitch import pitch_row
from rvc_pipeline.reporting.validation import epochs_to_show

SR = 40000


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_segment_measures_length_loudness_and_the_longest_silence(tmp_path):
    wave = np.concatenate([tone(1.0), np.zeros(int(1.5 * SR), np.float32), tone(0.5)])
    sf.write(tmp_path / "s.wav", wave, SR, subtype="FLOAT")
    segment = measure_segment(tmp_path / "s.wav")
    assert segment.seconds == pytest.approx(3.0)
    rms_db = 20 * np.log10(0.3 / np.sqrt(2) * np.sqrt(1.5 / 3.0))
    assert segment.loudness_db == pytest.approx(rms_db, abs=0.05)
    assert segment.longest_silence_s == pytest.approx(1.5, abs=0.04)


def test_each_data_problem_gives_a_warning_with_a_fix():
    rows = [
        SourceReport("a.wav", "a", duration_s=60, clipped_fraction=0.02),
        SourceReport("b.flac", "b", duration_s=60, clipped_fraction=0.0),
    ]
    quiet = [Segment(3.7, -20.0, 1.2)] * 3 + [Segment(3.7, -20.0, 0.1)] * 7
    found = dataset_warnings(rows, quiet, {"a": 44100, "b": 22050}, model_rate=40000)
    texts = [text for text, _ in found]
    assert len(found) == 4 and all(fix for _, fix in found)
    assert texts[0].startswith("only 0.6 min of training audio")
    assert "1 recording(s) clip" in texts[1] and "a.wav (2.00 %)" in texts[1]
    assert texts[2].startswith("3 of 10 segments hold a silence of 1 s or more")
    assert "22.05 kHz (1), 44.1 kHz (1)" in texts[3] and "b lack the top of the band" in texts[3]

    plenty = [Segment(3.7, -20.0, 0.1)] * 200  # 12.3 minutes, no long silence
    clean = [SourceReport("a.wav", "a", duration_s=800)]
    assert dataset_warnings(clean, plenty, {"a": 48000}, model_rate=40000) == []


def test_data_page_lists_every_source_with_its_status(tmp_path):
    gt = tmp_path / "0_gt_wavs" / "a"
    gt.mkdir(parents=True)
    for j in range(3):
        sf.write(gt / f"a_{j}.wav", tone(3.7), SR, subtype="FLOAT")
    reports = tmp_path / "reports"
    write_source_report(SourceReport("a.wav", "a", duration_s=12.0, segments=3, peak=0.3), reports / "a.tsv")
    write_source_report(SourceReport("b.mp3", "b", status="skipped", reason="not audio"), reports / "b.tsv")
    from rvc_pipeline.preprocess.dataset_report import merge_reports

    merge_reports(
        [reports / "a.tsv", reports / "b.tsv"], {"notes": ("ignored", "folder")}, ["stand-in HuBERT"], tmp_path / "r.tsv"
    )
    sf.write(tmp_path / "a.wav", tone(12.0), 48000)
    warnings = plot_dataset(
        report=tmp_path / "r.tsv",
        gt_wavs=[tmp_path / "0_gt_wavs" / "a"],
        sources={"a": str(tmp_path / "a.wav"), "b": str(tmp_path / "missing.mp3")},
        sample_rate=SR,
        experiment="voice",
        summary=tmp_path / "data.html",
        figure=tmp_path / "data.png",
    )
    page = (tmp_path / "data.html").read_text()
    assert [text for text, _ in warnings] == [
        "only 0.2 min of training audio (segments); RVC voices want 10 min or more"
    ]
    for row in (
        "<td>a.wav</td><td>ok</td>",
        "<td>b.mp3</td><td>skipped</td><td>not audio</td>",
        "<td>notes</td><td>ignored</td>",
    ):
        assert row in page
    assert '<td class="num">48000</td>' in page  # a's own rate; b's cannot be read
    assert "Warning:</b> stand-in HuBERT" in page
    assert (tmp_path / "data.png").read_bytes()[:4] == b"\x89PNG"


def test_pitch_row_of_known_frames():
    f0 = np.concatenate([np.zeros(50), np.full(25, 100.0), np.full(25, 200.0)])
    name, frames, voiced, median, middle, extremes = pitch_row("a", f0)
    assert (name, frames, voiced, median, extremes) == ("a", 100, 50.0, 150.0, "100-200")
    assert pitch_row("silent", np.zeros(10))[2] == 0.0


@pytest.mark.parametrize(
    ("saved", "best", "shown"),
    [
        ([2, 4], 4, [2, 4]),
        (list(range(5, 101, 5)), 35, [5, 25, 35, 45, 60, 100]),
        (list(range(1, 41)), None, [1, 9, 17, 24, 32, 40]),
    ],
)
def test_validation_page_shows_first_last_best_and_spaced_epochs(saved, best, shown):
    assert epochs_to_show(saved, best) == shown


def test_index_page_has_rows_lists_and_build_time(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "f.npy", rng.standard_normal((400, 256)).astype(np.float32))
    train_index([tmp_path / "f.npy"], tmp_path / "index", "voice", "v1")
    (tmp_path / "bench.tsv").write_text("s\th:m:s\n12.5\t0:00:12\n")

    def page(benchmark):
        return plot_index(
            index_dir=tmp_path / "index",
            benchmark=tmp_path / benchmark,
            experiment="voice",
            summary=tmp_path / "index.html",
            figure=tmp_path / "index.png",
        )

    facts = page("bench.tsv")
    index = faiss.read_index(str(next((tmp_path / "index").glob("added_*.index"))))
    assert facts["rows"] == 400 == index.ntotal and facts["n_ivf (lists)"] == 10  # min(16*sqrt(400), 400//39)
    assert facts["build time"] == "12.5 s"
    assert "added_IVF10_Flat_nprobe_1_voice_v1.index" in (tmp_path / "index.html").read_text()
    missing = page("none.tsv")
    assert missing["build time"].startswith("unknown")


def test_audio_on_a_page_is_ogg_opus_that_decodes_to_the_same_sound(tmp_path):
    wave = tone(2.0)
    page = Page("t")
    page.audio(wave, SR, "a tone")
    page.write(tmp_path / "p.html")
    data = re.search(r'src="data:audio/ogg;base64,([^"]+)"', (tmp_path / "p.html").read_text()).group(1)
    (tmp_path / "a.ogg").write_bytes(base64.b64decode(data))
    assert base64.b64decode(data)[:4] == b"OggS" and b"OpusHead" in base64.b64decode(data)[:100]
    assert len(encode_ogg_opus(wave, SR)) < 2.5 * 4000 + 2000  # 32 kbit/s: about 4 kB a second
    back = decode_audio(tmp_path / "a.ogg", SR).samples
    assert abs(len(back) - len(wave)) < 0.03 * SR
    middle = slice(SR // 2, SR)
    assert np.corrcoef(back[middle], wave[middle])[0, 1] > 0.95  # Opus is lossy, not a different sound


def test_pages_without_validation_segments_say_so(tmp_path):
    from rvc_pipeline.training.history import TSV_COLUMNS, write_history
    from rvc_pipeline.reporting.training import plot_training
    from rvc_pipeline.reporting.validation import render_validation_audio

    (tmp_path / "validation.txt").write_text("")
    shown = render_validation_audio(
        validation=tmp_path / "validation.txt",
        config=tmp_path / "unused.json",
        state_dir=tmp_path,
        experiment="voice",
        summary=tmp_path / "validation.html",
        figure=tmp_path / "validation.png",
    )
    assert shown == 0 and "No held-out segments" in (tmp_path / "validation.html").read_text()
    assert (tmp_path / "validation.png").read_bytes()[:4] == b"\x89PNG"

    row = {**dict.fromkeys(TSV_COLUMNS, "1.0"), "epoch": "1", "step": "3", "val_loss_mel": ""}
    write_history(tmp_path / "losses.tsv", [row])
    (tmp_path / "trained.json").write_text('{"G": "G_3.pth", "epoch": 1}')
    warning = plot_training(
        trained=tmp_path / "trained.json",
        losses=tmp_path / "losses.tsv",
        epochs=1,
        patience=5,
        export="best",
        experiment="voice",
        summary=tmp_path / "training.html",
        figure=tmp_path / "training.png",
    )
    page = (tmp_path / "training.html").read_text()
    assert warning is None and "no validation segments" in page and "epoch 1 (export: best)" in page
    assert "<td>batch size (per device)</td><td>1.0</td>" in page


def test_batch_sizes_say_where_the_batch_was_halved():
    from rvc_pipeline.training.history import batch_size_cell, batch_sizes

    rows = [{"epoch": "1", "batch_size": batch_size_cell(4, 4)}, {"epoch": "2", "batch_size": batch_size_cell(4, 2)}]
    rows += [{"epoch": "3", "batch_size": "2"}, {"epoch": "4", "batch_size": batch_size_cell(2, 1)}]
    assert batch_sizes(rows) == (
        "4, halved to 2 in epoch 2 (out of device memory), halved to 1 in epoch 4 (out of device memory)"
    )
    assert batch_sizes([{"epoch": "1", "batch_size": ""}]) == "-"


def _epochs_so_far(state, epochs):
    from rvc_pipeline.training.history import TSV_COLUMNS, write_history

    rows = [
        {**dict.fromkeys(TSV_COLUMNS, "1.0"), "epoch": str(e), "step": str(3 * e), "loss_mel": f"{40 - e}.5"}
        for e in range(1, epochs + 1)
    ]
    write_history(state / "losses.tsv", rows)


def _training_frame(report_html):
    """The Training page inside the report (its iframe's document, unescaped)."""
    import html as html_module

    frames = re.findall(r'<h2 id="exp-Training-training">.*?<iframe srcdoc="([^"]*)"', report_html, re.S)
    assert len(frames) == 1
    return html_module.unescape(frames[0])


def test_the_report_command_shows_a_training_in_progress(tmp_path):
    """The training lock held (as by a running trainer): the report holds the epochs finished so far."""
    from rvc_pipeline.cli import main
    from rvc_pipeline.training.status import TrainingStatus, write_status

    state = tmp_path / "results" / "exp"
    (state / "report").mkdir(parents=True)
    (state / "report" / "data.html").write_text("<html><body>the data page</body></html>")
    (state / "report" / "training.html").write_text("<html><body>a page of an earlier training</body></html>")
    write_status(state, TrainingStatus("running", epochs=50, patience=5))
    _epochs_so_far(state, 3)
    with training_lock_holder(state) as holder:
        assert main(["report", "--results", str(tmp_path / "results")]) == 0
    report = (tmp_path / "results" / "report.html").read_text()
    assert "the data page" in report
    training = _training_frame(report)
    assert f"training in progress (pid {holder.pid} on " in training
    assert "earlier training" not in training
    assert re.search(r"<td>epochs finished</td><td>3 of 50</td>", training)
    epochs = re.findall(r'<tr><td class="num">(\d+)</td><td class="num">\d+</td>', training)
    assert epochs == ["1", "2", "3"]
    assert '<td class="num">37.5</td>' in training  # epoch 3's mel loss


def test_the_report_command_names_a_failed_training(tmp_path):
    from rvc_pipeline.reporting.snapshot import build_report
    from rvc_pipeline.training.status import TrainingStatus, write_status

    state = tmp_path / "results" / "exp"
    state.mkdir(parents=True)
    error = "RuntimeError: CUDA out of memory (details in results/exp/logs/train_model.log)"
    write_status(state, TrainingStatus("failed", epochs=50, patience=5, error=error))
    _epochs_so_far(state, 2)
    shown = build_report(tmp_path / "results", tmp_path / "r.html")
    assert shown == ["exp/Training/training"]
    training = _training_frame((tmp_path / "r.html").read_text())
    assert f"<b>Warning:</b> training failed: {error}" in training
    assert re.search(r"<td>epochs finished</td><td>2 of 50</td>", training)

    # Killed outright: "running" left behind, nobody holds the lock.
    write_status(state, TrainingStatus("running", epochs=50, patience=5))
    build_report(tmp_path / "results", tmp_path / "r.html")
    assert "ended without a word (killed?)" in _training_frame((tmp_path / "r.html").read_text())
