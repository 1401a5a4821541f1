"""Planning at parse time (rvc_pipeline.planning): what common.smk decides before any job."""

from __future__ import annotations

import gc
from pathlib import Path

from rvc_pipeline.planning import (
    PLANNING_GC_THRESHOLDS,
    collect_as_usual,
    collect_less_while_planning,
    convert_sources,
    scan_sources,
    untrainable_reason,
    unused_entries,
    warm_start_folder,
)


def _experiment(**fields):
    return {"demo": 0, **fields}


def test_scan_sources_of_a_folder_lists_recordings_and_says_why_others_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "b.wav").write_bytes(b"x")
    (tmp_path / "a.flac").write_bytes(b"y")
    (tmp_path / ".hidden.wav").write_bytes(b"z")
    (tmp_path / "sub").mkdir()
    sources, excluded = scan_sources(_experiment(input_dir=str(tmp_path)), "unused")
    assert sources == {"a": str(tmp_path / "a.flac"), "b": str(tmp_path / "b.wav")}
    assert {entry: status for entry, (status, _) in excluded.items()} == {".hidden.wav": "ignored", "sub": "ignored"}
    assert unused_entries(excluded) == []


def test_scan_sources_of_a_missing_folder_is_empty_and_says_why(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    assert scan_sources(_experiment(input_dir=missing), "unused") == ({}, {})
    assert untrainable_reason(missing) == f"input_dir {missing!r} does not exist"
    assert untrainable_reason(str(tmp_path)) == f"input_dir {str(tmp_path)!r} holds no recordings"
    (tmp_path / "file").write_text("")
    assert untrainable_reason(str(tmp_path / "file")) == f"input_dir {str(tmp_path / 'file')!r} is a file, not a folder"


def test_a_demo_trains_on_its_synthesised_recordings_and_converts_the_first() -> None:
    demo = _experiment(demo=3, input_dir="ignored")
    sources, excluded = scan_sources(demo, "results/demo/demo_recordings")
    assert sorted(sources) == ["demo_1", "demo_2", "demo_3"]
    assert sources["demo_3"] == "results/demo/demo_recordings/demo_3.wav"
    assert excluded == {}
    assert convert_sources(demo, "results/demo/demo_recordings") == {"demo_1": "results/demo/demo_recordings/demo_1.wav"}


def test_convert_dir_comes_before_the_demo_and_nothing_is_converted_without_either(tmp_path: Path) -> None:
    (tmp_path / "song.wav").write_bytes(b"x")
    assert convert_sources(_experiment(demo=2, convert_dir=str(tmp_path)), "d") == {"song": str(tmp_path / "song.wav")}
    assert convert_sources(_experiment(input_dir="x"), "d") == {}


def test_unused_entries_names_what_looks_like_a_recording() -> None:
    excluded = {"notes": ("ignored", "folder"), "bad:name.wav": ("skipped", "colon"), "b.wav": ("duplicate", "as a.wav")}
    assert unused_entries(excluded) == ["bad:name.wav", "b.wav"]


def test_warm_start_folder_is_a_warm_start_that_names_no_experiment() -> None:
    experiments = {"alice": {}, "bob": {"warm_start": "alice"}, "carol": {"warm_start": "/rvc/logs/carol"}}
    assert warm_start_folder(experiments["alice"], experiments) is None
    assert warm_start_folder(experiments["bob"], experiments) is None
    assert warm_start_folder(experiments["carol"], experiments) == "/rvc/logs/carol"


def test_the_collector_runs_less_while_planning_and_as_usual_once_jobs_start():
    usual = gc.get_threshold()
    try:
        collect_less_while_planning()
        assert gc.get_threshold() == PLANNING_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what the workflow made so far is out of the scans
        collect_as_usual()
        assert gc.get_threshold() == usual
    finally:
        gc.set_threshold(*usual)
        gc.unfreeze()
