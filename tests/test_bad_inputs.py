"""Everything a user's folder may hold, in one generated corpus beside good recordings.

One workflow run (preprocess, extract and the filelist) over three experiments: ``corpus`` (every
kind of bad entry plus two good recordings), ``empty`` (an empty folder), ``allbad`` (only
unusable files) and ``afile`` (a recording given as input_dir). Each case then checks its row of the dataset report; the run as a whole checks
that no good recording lost a segment, that ``allbad`` fails listing its files while the others
finish, and that the files follow the umask (022 here; 077 in test_crash.py).
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SHARED_DATA, need_shared_data

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.preprocess.segments import PreprocessParams, preprocess_wave
from rvc_pipeline.preprocess.dataset_report import read_reports

pytestmark = pytest.mark.slow  # every test here runs Snakemake

SR = 32000
MP3 = "formats/LJ001-0002.mp3"  # a real MP3 of the shared speech, cut in half for one case


def _voice(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    return synthesize_voice(seconds, sr, seed=seed)


@functools.cache
def _clean_voice() -> np.ndarray:
    return _voice(8.4, seed=3)[: int(8.4 * SR)]


def _nan_wav(path: Path) -> None:
    """The issue's case: 21 isolated NaN/inf samples in 8.4 s of float audio."""
    samples = _clean_voice().copy()
    rng = np.random.default_rng(1)
    samples[rng.choice(len(samples), 21, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], 21)
    sf.write(path, samples, SR, subtype="FLOAT")


def _truncated_mp3(path: Path) -> None:
    mp3 = SHARED_DATA / MP3
    path.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 2])


# entry -> (how to make it, status, text in the reason, kept segments?)
CASES = {
    "good_a.wav": (lambda p: sf.write(p, _voice(4.0, seed=1), SR), "ok", "", True),
    "good_b.flac": (lambda p: sf.write(p, _voice(4.0, seed=2), SR), "ok", "", True),
    "{x}.wav": (lambda p: sf.write(p, _voice(2.0), SR), "skipped", "braces", False),
    "broken.wav": (lambda p: p.symlink_to("nowhere.wav"), "skipped", "broken link", False),
    "a|b.wav": (lambda p: sf.write(p, _voice(2.0), SR), "skipped", "'|' separates the fields", False),
    "link_to_a.wav": (lambda p: p.symlink_to("good_a.wav"), "duplicate", "the same file as good_a.wav", False),
    "nan.wav": (_nan_wav, "ok", "21 non-finite samples interpolated", True),
    "eight.wav": (lambda p: sf.write(p, np.stack([_voice(4.0, seed=4)] * 8, 1), SR), "ok", "", True),
    "notes.txt": (lambda p: p.write_text("not a recording\n"), "skipped", "cannot decode audio", False),
    "empty.wav": (lambda p: p.write_bytes(b""), "skipped", "empty file", False),
    "zero.wav": (lambda p: sf.write(p, np.zeros(0, np.float32), SR), "skipped", "no audio samples", False),
    "one_sample.wav": (lambda p: sf.write(p, np.full(1, 0.5, np.float32), SR), "empty", "no segment kept", False),
    "silent.wav": (lambda p: sf.write(p, np.zeros(3 * SR, np.float32), SR), "empty", "no segment kept", False),
    "cut.mp3": (_truncated_mp3, "partial", "truncated", True),
    "rate8k.wav": (lambda p: sf.write(p, _voice(3.0, 8000, seed=5), 8000), "ok", "", True),
    "rate96k.wav": (lambda p: sf.write(p, _voice(3.0, 96000, seed=6), 96000), "ok", "", True),
    "pcm24.wav": (lambda p: sf.write(p, _voice(3.0, seed=7), SR, subtype="PCM_24"), "ok", "", True),
    "Ünïcødé 声.wav": (lambda p: sf.write(p, _voice(3.0, seed=8), SR), "ok", "", True),
    "it's \"quoted\".wav": (lambda p: sf.write(p, _voice(3.0, seed=9), SR), "ok", "", True),
    "take.wav": (lambda p: sf.write(p, _voice(2.0), SR), "skipped", "name clash: take.wav and take.ogg", False),
    "take.ogg": (lambda p: sf.write(p, _voice(2.0), SR), "skipped", "name clash: take.ogg and take.wav", False),
    "pipe.wav": (lambda p: os.mkfifo(p), "skipped", "not a regular file", False),
    "sub": (lambda p: p.mkdir(), "ignored", "folder", False),
    "folder.wav": (lambda p: p.mkdir(), "ignored", "folder", False),
    "text.wav": (lambda p: p.write_text("RIFF? no, a note\n"), "skipped", "cannot decode audio", False),
    "rate384k.wav": (lambda p: sf.write(p, _voice(2.0, 384000, seed=10), 384000), "ok", "", True),
    # decoded, but shorter than training's shortest length bucket (about 0.75 s)
    "short.wav": (lambda p: sf.write(p, _voice(0.33, seed=11)[: int(0.33 * SR)], SR), "dropped", "too short to train on", False),
    "tenth.wav": (lambda p: sf.write(p, _voice(0.1, seed=12)[: int(0.1 * SR)], SR), "dropped", "too short to train on", False),
    ".DS_Store": (lambda p: p.write_bytes(b"\0\0\0\1Bud1"), "ignored", "hidden file", False),
}


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    from conftest import Workflow

    workflow = Workflow(tmp_path_factory.mktemp("corpus"))
    root = workflow.workdir
    (root / "voices").mkdir()
    cases = dict(CASES)
    if not (SHARED_DATA / MP3).is_file():
        del cases["cut.mp3"]
    for entry, (make, *_) in cases.items():
        make(root / "voices" / entry)
    (root / "nothing").mkdir()
    (root / "unusable").mkdir()
    (root / "unusable" / "readme.txt").write_text("no audio here\n")
    sf.write(root / "unusable" / "quiet.wav", np.zeros(2 * SR, np.float32), SR)
    workflow.write_config(
        {
            "experiments": {
                name: {"input_dir": folder, "sample_rate": "32k", "f0_method": "pm"}
                for name, folder in (
                    ("corpus", "voices"),
                    ("empty", "nothing"),
                    ("allbad", "unusable"),
                    ("afile", "voices/good_a.wav"),
                )
            },
            "pretrained": {"hubert_standin": "tiny"},
        }
    )
    targets = ["preprocess", "results/corpus/filelist.txt", "results/allbad/filelist.txt"]
    result = workflow.run(*targets, check=False, umask=0o022)
    rows = {row.source: row for row in read_reports(root / "results/corpus/dataset_report.tsv")}
    return workflow, result, cases, rows


@pytest.mark.parametrize("entry", CASES)
def test_each_entry_has_its_report_row(corpus_run, entry):
    _, _, cases, rows = corpus_run
    if entry not in cases:
        need_shared_data(MP3)
    _, status, reason, kept = cases[entry]
    row = rows[entry]
    assert row.status == status, row
    assert reason in row.reason, row
    assert (row.segments > 0) == kept, row


def test_the_rows_carry_the_numbers(corpus_run):
    workflow, _, _, rows = corpus_run
    clean, _ = preprocess_wave(_clean_voice(), SR, PreprocessParams())
    assert rows["nan.wav"].repaired == 21 and rows["nan.wav"].segments == len(clean) == 3
    assert rows["nan.wav"].dropped == ""
    assert rows["eight.wav"].peak == pytest.approx(rows["good_a.wav"].peak, abs=0.05)  # averaged, not summed
    assert rows["rate96k.wav"].duration_s == pytest.approx(sf.info(workflow.workdir / "voices/rate96k.wav").duration, abs=1e-3)
    assert set(rows) == set(corpus_run[2]) | {"*"}  # one row per entry, and the warnings


def test_no_usable_recording_lost_a_segment(corpus_run):
    workflow, _, _, rows = corpus_run
    results = workflow.workdir / "results" / "corpus"
    lines = (results / "filelist.txt").read_text().split("\n")
    held_out = [line for line in (results / "validation.txt").read_text().split("\n") if line]
    listed = {Path(line.split("|")[0]).stem for line in lines + held_out if "/mute/" not in line}
    expected = set()
    for row in (row for row in rows.values() if row.name):  # the entries that were sliced
        segments = {f"{row.name}_{j}" for j in range(row.segments)}
        for folder in ("0_gt_wavs", "1_16k_wavs"):
            assert {p.stem for p in (results / folder / row.name).glob("*.wav")} == segments, row
        expected |= segments
    assert listed == expected and len(lines) + len(held_out) == len(listed) + 2 and len(held_out) == 2


def test_bad_names_stop_nothing_and_are_named_at_planning(corpus_run):
    _, result, _, _ = corpus_run
    output = result.stdout + result.stderr
    assert "WildcardError" not in output and "MissingInputException" not in output
    assert "experiment 'corpus': " in output and "'{x}.wav'" in output and "'broken.wav'" in output


def test_an_experiment_without_recordings_is_reported_at_planning(corpus_run):
    workflow, result, _, _ = corpus_run
    output = result.stdout + result.stderr
    planning = output[: output.index("Job stats")]
    assert "experiment 'empty' is not trained: input_dir 'nothing' holds no recordings" in planning
    report = read_reports(workflow.workdir / "results/empty/dataset_report.tsv")
    assert [r.reason for r in report if r.status == "warning"][-1] == "not trained: input_dir 'nothing' holds no recordings"
    assert not (workflow.workdir / "results/empty/filelist.txt").exists()


def test_a_file_given_as_input_dir_is_named_so_and_the_run_ends_with_a_line_per_experiment(corpus_run):
    _, result, _, _ = corpus_run
    output = result.stdout + result.stderr
    planning = output[: output.index("Job stats")]
    assert "experiment 'afile' is not trained: input_dir 'voices/good_a.wav' is a file, not a folder" in planning
    summary = output[output.rindex("Job stats") :]
    for line in (
        "experiment afile: not trained: input_dir 'voices/good_a.wav' is a file, not a folder",
        "experiment empty: not trained: input_dir 'nothing' holds no recordings",
        "experiment corpus: no model yet (this run's targets stop before training)",
        "experiment allbad: no model yet (this run's targets stop before training)",
    ):
        assert line in summary, summary[-3000:]


def test_a_run_with_a_file_as_input_dir_fails_an_empty_folder_does_not(tmp_path):
    from conftest import Workflow

    workflow = Workflow(tmp_path)
    (tmp_path / "nothing").mkdir()
    (tmp_path / "take.wav").write_bytes(b"")
    experiments = {"empty": {"input_dir": "nothing", "sample_rate": "32k"}}
    workflow.write_config({"experiments": experiments, "pretrained": {"hubert_standin": "tiny"}})
    fine = workflow.run("train")
    assert "experiment empty: not trained: input_dir 'nothing' holds no recordings" in fine.stderr
    experiments["afile"] = {"input_dir": "take.wav", "sample_rate": "32k"}
    workflow.write_config({"experiments": experiments, "pretrained": {"hubert_standin": "tiny"}})
    failed = workflow.run("train", check=False)
    assert failed.returncode == 1
    assert "experiment afile: not trained: input_dir 'take.wav' is a file, not a folder" in failed.stderr
    assert "no model for experiment(s) afile" in failed.stderr


def test_an_experiment_whose_recordings_all_dropped_fails_alone(corpus_run):
    workflow, result, _, _ = corpus_run
    output = result.stdout + result.stderr
    assert result.returncode != 0
    log = (workflow.workdir / "results/allbad/logs/write_filelist.log").read_text()
    for text in ("nothing to train on", "quiet.wav: empty: no segment kept", "readme.txt: skipped: cannot decode audio"):
        assert text in log and text in output  # show-failed-logs puts it on the console
    assert (workflow.workdir / "results/corpus/filelist.txt").is_file()  # keep-going: the others finished


def test_outputs_follow_the_umask_022(corpus_run):
    workflow, _, _, _ = corpus_run
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (workflow.workdir / "results").rglob("*") if p.is_file()}
    assert modes == {0o644}
