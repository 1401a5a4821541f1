"""Pruning: the outputs of sources that left the input go, the others stay."""

import logging

from rvc_pipeline.prune import prune_sources, prune_stale


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


def test_prune_sources_logs_each_removal_and_records_the_sources(tmp_path, caplog):
    (tmp_path / "2a_f0" / "gone").mkdir(parents=True)
    (tmp_path / "3_feature768" / "keep").mkdir(parents=True)
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        removed = prune_sources(tmp_path, ["keep", "b"], tmp_path / "sources.txt")
    assert removed == [tmp_path / "2a_f0" / "gone"]
    assert f"removed {tmp_path / '2a_f0' / 'gone'}: its source is no longer in the input" in caplog.text
    assert (tmp_path / "sources.txt").read_text() == "b\nkeep\n"
    assert (tmp_path / "3_feature768" / "keep").is_dir()
