"""Source discovery: names from file names, collisions refused, stale outputs pruned."""

import pytest

from rvc_pipeline.sources import SourceNameError, demo_sources, discover_sources, prune_stale


def test_sources_are_the_files_directly_in_input_dir(tmp_path):
    (tmp_path / "b.flac").write_bytes(b"x")
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.wav").write_bytes(b"x")
    sources, ignored = discover_sources(tmp_path)
    assert sources == {"a": str(tmp_path / "a.wav"), "b": str(tmp_path / "b.flac"), "notes": str(tmp_path / "notes.txt")}
    assert set(ignored) == {".DS_Store", "sub"} and "folder" in ignored["sub"]


def test_colliding_names_are_an_error_naming_both(tmp_path):
    (tmp_path / "take.wav").write_bytes(b"x")
    (tmp_path / "take.mp3").write_bytes(b"x")
    with pytest.raises(SourceNameError) as err:
        discover_sources(tmp_path)
    assert "take.wav" in str(err.value) and "take.mp3" in str(err.value)


def test_missing_input_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        discover_sources(tmp_path / "nowhere")


def test_demo_sources():
    assert demo_sources("d", 2) == {"demo_1": "d/demo_1.wav", "demo_2": "d/demo_2.wav"}


def test_prune_removes_only_stale_sources(tmp_path):
    for folder in ("0_gt_wavs", "1_16k_wavs", "3_feature256"):
        for name in ("keep", "gone"):
            (tmp_path / folder / name).mkdir(parents=True)
            (tmp_path / folder / name / f"{name}_0.wav").write_bytes(b"x")
    (tmp_path / "reports" / "slice_audio").mkdir(parents=True)
    (tmp_path / "reports" / "slice_audio" / "gone.tsv").write_text("x")
    (tmp_path / "reports" / "slice_audio" / "keep.tsv").write_text("x")
    removed = prune_stale(tmp_path, {"keep"})
    assert len(removed) == 4
    assert sorted(p.name for p in tmp_path.glob("*/*")) == ["keep", "keep", "keep", "slice_audio"]
    assert [p.name for p in (tmp_path / "reports" / "slice_audio").iterdir()] == ["keep.tsv"]
