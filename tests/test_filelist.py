"""filelist.txt, config.json and the generated mute assets, in RVC's formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rvc_pipeline.audio import read_wav
from rvc_pipeline.training.data import read_filelist
from rvc_pipeline.training.quality import voice_sample
from rvc_pipeline.training.filelist import filelist_wavs, relocate_filelist, relocated_lines, write_filelist
from rvc_pipeline.models import rvc_hparams
from rvc_pipeline.mute import mute_paths, write_mute_assets
from rvc_pipeline.training.inputs import write_config
from test_train import HOP, SR, make_experiment, write_segment

STAGES = ("0_gt_wavs", "3_feature256", "2a_f0", "2b-f0nsf")


@pytest.fixture
def layout(tmp_path) -> Path:
    """Sources "a" (2 segments), "my.song" (1), "b" (2, b_1 lacks 2a_f0), and a 0.5 s clip "c_0"."""
    exp = tmp_path / "exp"
    rng = np.random.default_rng(0)
    for source, seconds in (("a", [1.2, 1.1]), ("my.song", [1.0]), ("b", [1.3, 1.2]), ("c", [0.5])):
        for j, length in enumerate(seconds):
            write_segment(exp, source, f"{source}_{j}", np.zeros(int(length * SR), np.float32) + 0.1, rng)
    (exp / "2a_f0" / "b" / "b_1.wav.npy").unlink()
    (exp / "0_gt_wavs" / "a" / "a_0.spec.pt").write_bytes(b"")  # RVC's cache files are not segments
    (exp / "0_gt_wavs" / "a" / "._a_1.wav").write_bytes(b"")  # nor macOS' hidden resource files
    return exp


def _write(exp: Path, path: Path, seed: int = 0, f0: bool = True, **kw) -> list[dict[str, str]]:
    folders = [exp / s for s in STAGES] if f0 else [exp / s for s in STAGES[:2]] + [None, None]
    return write_filelist(
        path,
        *folders,
        mute_dir=exp.parent / "mute",
        sample_rate=SR,
        hop_length=HOP,
        version="v1",
        seed=seed,
        **kw,
    )


def test_filelist_lines_are_rvc_format(layout):
    report = _write(layout, layout / "filelist.txt", spk_id=3)
    text = (layout / "filelist.txt").read_text()
    assert not text.endswith("\n")
    lines = text.split("\n")
    segments = ["a/a_0", "a/a_1", "b/b_0", "c/c_0", "my.song/my.song_0"]
    assert len(lines) == len(segments) + 2
    mute = "|".join([*(str(p) for p in mute_paths(layout.parent / "mute", SR, "v1")), "3"])
    assert mute.startswith(str(layout.parent / "mute" / "0_gt_wavs" / "mute32k.wav") + "|")
    assert lines.count(mute) == 2
    expected = {
        "|".join(
            [
                str(layout / "0_gt_wavs" / f"{s}.wav"),
                str(layout / "3_feature256" / f"{s}.npy"),
                str(layout / "2a_f0" / f"{s}.wav.npy"),
                str(layout / "2b-f0nsf" / f"{s}.wav.npy"),
                "3",
            ]
        )
        for s in segments
    }
    assert {line for line in lines if line != mute} == expected
    assert all(Path(field).is_absolute() for line in lines for field in line.split("|")[:4])

    assert [r["file"] for r in report] == [
        str(layout / "0_gt_wavs" / "b" / "b_1.wav"),
        str(layout / "0_gt_wavs" / "c" / "c_0.wav"),
    ]
    assert "segment b/b_1 is missing from 2a_f0" in report[0]["reason"]
    assert "outside the training buckets" in report[1]["reason"]  # 0.5 s: estimated 66 <= 100


def test_filelist_shuffle_is_seeded(layout):
    texts = {}
    for name, seed in (("one", 1), ("again", 1), ("other", 2)):
        _write(layout, layout / f"{name}.txt", seed=seed)
        texts[name] = (layout / f"{name}.txt").read_text()
    assert texts["one"] == texts["again"]
    assert texts["one"] != texts["other"]
    assert sorted(texts["one"].split("\n")) == sorted(texts["other"].split("\n"))


def test_per_source_folders_give_the_same_list(layout):
    _write(layout, layout / "whole.txt")
    per_source = [[layout / stage / s for s in ("a", "b", "c", "my.song")] for stage in STAGES]
    write_filelist(
        layout / "parts.txt",
        *per_source,
        mute_dir=layout.parent / "mute",
        sample_rate=SR,
        hop_length=HOP,
        version="v1",
    )
    assert (layout / "parts.txt").read_text() == (layout / "whole.txt").read_text()


def test_filelist_without_f0_has_three_fields(layout):
    report = _write(layout, layout / "nof0.txt", f0=False)
    lines = (layout / "nof0.txt").read_text().split("\n")
    assert {len(line.split("|")) for line in lines} == {3}
    assert len(lines) == 6 + 2  # b_1 is complete without f0
    assert [r["reason"] for r in report if "missing" in r["reason"]] == []


def test_filelist_with_no_complete_segment_fails(tmp_path):
    for stage in STAGES:
        (tmp_path / stage).mkdir()
    with pytest.raises(ValueError, match="no segment is present in all of"):
        _write(tmp_path, tmp_path / "filelist.txt")


def test_config_json_is_written_as_rvc_does(tmp_path):
    h = rvc_hparams(40000, "v1")
    write_config(h, tmp_path / "config.json")
    text = (tmp_path / "config.json").read_text(encoding="utf-8")
    expected = dict(h, train=dict(h["train"], fp16_run=False))
    assert text == json.dumps(expected, ensure_ascii=False, indent=4, sort_keys=True) + "\n"
    assert h["train"]["fp16_run"] is True  # the caller's dict is not changed
    write_config(h, tmp_path / "gpu.json", fp16_run=True)
    assert json.loads((tmp_path / "gpu.json").read_text())["train"]["fp16_run"] is True


def test_mute_assets_are_generated(tmp_path):
    write_mute_assets(tmp_path, 40000, "v1", weights=None, standin="tiny")
    wav, features, coarse, hz = mute_paths(tmp_path, 40000, "v1")
    samples, sr = read_wav(wav)
    assert (sr, samples.dtype, samples.shape) == (40000, np.float32, (120000,)) and not samples.any()
    samples16, sr16 = read_wav(tmp_path / "1_16k_wavs" / "mute.wav")
    assert (sr16, samples16.shape) == (16000, (48000,)) and not samples16.any()
    c, f = np.load(coarse), np.load(hz)
    assert c.dtype == np.int64 and c.shape == (301,) and (c == 1).all()
    assert f.dtype == np.float64 and f.shape == (301,) and not f.any()
    feats = np.load(features)
    assert feats.dtype == np.float32 and feats.shape == (149, 256) and np.isfinite(feats).all()


def test_a_separator_in_a_path_is_refused_naming_it(tmp_path):
    exp = tmp_path / "a|b"
    write_segment(exp, "s", "s_0", np.zeros(int(1.0 * SR), np.float32) + 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"a\|b/0_gt_wavs/s/s_0\.wav: a path in filelist\.txt cannot hold '\|'"):
        _write(exp, tmp_path / "filelist.txt")
    assert not (tmp_path / "filelist.txt").exists()


def test_relocation_maps_an_experiment_folder_elsewhere_by_its_stage_and_keeps_other_paths():
    old, new = "/old/run/results/exp", "/new/run2/results/exp"

    def segment(root: str) -> str:
        return f"{root}/0_gt_wavs/a/a_0.wav|{root}/3_feature768/a/a_0.npy|{root}/2a_f0/a/a_0.wav.npy|{root}/2b-f0nsf/a/a_0.wav.npy|3"

    lines = [
        segment(old),
        f"{old}/mute/0_gt_wavs/mute40k.wav|{old}/mute/3_feature256/mute.npy|7",  # mute assets, no f0
        f"{old}/0_gt_wavs/2a_f0/2a_f0_0.wav|{old}/0_gt_wavs/exp/x.wav|0",  # sources named as a stage, the experiment
        f"/old/run/results/other/0_gt_wavs/a/a_0.wav|/data/exp/clips/a/a_0.wav|{old}/a_0.wav|exp/0_gt_wavs/a/a_0.wav|0",
        "",
    ]
    text = "\n".join(lines)
    assert relocated_lines(text, new).split("\n") == [
        segment(new),
        f"{new}/mute/0_gt_wavs/mute40k.wav|{new}/mute/3_feature256/mute.npy|7",
        f"{new}/0_gt_wavs/2a_f0/2a_f0_0.wav|{new}/0_gt_wavs/exp/x.wav|0",
        lines[3],  # another experiment, no stage folder, not three levels down, relative: as written
        "",
    ]
    assert relocated_lines(relocated_lines(text, new), new) == relocated_lines(text, new)
    assert relocated_lines("", new) == ""  # an empty validation.txt


@pytest.fixture
def moved_copy(tmp_path) -> tuple[Path, Path]:
    """An experiment written in run1, copied as ``cp -a`` does to run2, run1 then moved away;
    returns the original's experiment folder (now gone) and the copy's."""
    original = tmp_path / "run1" / "results" / "exp"
    make_experiment(original, {"a": [1.2, 1.0, 1.1], "b": [1.1, 0.9]}, validation_share=0.02)
    copy = tmp_path / "run2" / "results" / "exp"
    shutil.copytree(tmp_path / "run1", tmp_path / "run2", symlinks=True)
    (tmp_path / "run1").rename(tmp_path / "moved")
    return original, copy


def test_a_copied_run_reads_its_own_segments(moved_copy):
    original, copy = moved_copy
    for name, rows in (("filelist.txt", 3 + 2), ("validation.txt", 2)):
        entries = read_filelist(copy / name, f0=True)
        assert len(entries) == rows
        files = [f for e in entries for f in (e.wav, e.feature, e.coarse, e.hz)]
        assert all(f.is_relative_to(copy) and f.is_file() for f in files), files
    written = (copy / "filelist.txt").read_text().split("\n")[0].split("|")[0]
    assert written.startswith(f"{original}/")  # the file itself is left to the trainer


def test_later_jobs_of_a_copied_run_read_its_own_wavs(moved_copy):
    _, copy = moved_copy  # before any training rewrote the lists: a finished run moved
    assert len(voice_sample(copy / "filelist.txt")) == 3 + 1  # the training voice (mute lines: one wav)
    assert len(filelist_wavs(copy / "validation.txt")) == 2  # the validation page's recording
    for wav in [*voice_sample(copy / "filelist.txt"), *filelist_wavs(copy / "validation.txt")]:
        assert wav.is_relative_to(copy) and wav.is_file(), wav


def test_a_copied_run_s_lists_are_rewritten_keeping_their_time(moved_copy):
    original, copy = moved_copy
    for name in ("filelist.txt", "validation.txt"):
        path = copy / name
        text, mtime = path.read_text(), path.stat().st_mtime_ns
        assert text.count(f"{original}/") == 4 * len(text.split("\n")) and str(copy) not in text
        assert relocate_filelist(path)
        assert path.read_text() == text.replace(f"{original}/", f"{copy}/")
        assert path.stat().st_mtime_ns == mtime  # else Snakemake would retrain the finished model
        assert not relocate_filelist(path)


def test_an_unmoved_run_s_lists_are_left_alone(tmp_path):
    filelist, _ = make_experiment(tmp_path / "results" / "exp", validation_share=0.02)
    text, mtime = filelist.read_text(), filelist.stat().st_mtime_ns
    assert not relocate_filelist(filelist)
    assert (filelist.read_text(), filelist.stat().st_mtime_ns) == (text, mtime)
    lines = [line.split("|") for line in text.split("\n")]
    assert [[*map(str, (e.wav, e.feature, e.coarse, e.hz)), str(e.sid)] for e in read_filelist(filelist, True)] == lines


def test_a_copy_into_a_folder_with_a_separator_is_refused_naming_it(moved_copy):
    _, copy = moved_copy
    bad = copy.parents[2] / "run|3"
    shutil.copytree(copy.parents[1], bad, symlinks=True)
    path = bad / "results" / "exp" / "filelist.txt"
    before = path.read_text()
    with pytest.raises(ValueError, match=r"run\|3/results/exp: a path in filelist\.txt cannot hold '\|'"):
        relocate_filelist(path)
    assert path.read_text() == before
