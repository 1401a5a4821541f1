"""Source discovery: names from file names, entries left out with a status."""

import os
from pathlib import Path

import pytest

from rvc_pipeline.preprocess.sources import demo_sources, discover_sources


def test_sources_are_the_files_directly_in_input_dir(tmp_path):
    (tmp_path / "b.flac").write_bytes(b"x")
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.wav").write_bytes(b"x")
    sources, ignored = discover_sources(tmp_path)
    assert sources == {"a": str(tmp_path / "a.wav"), "b": str(tmp_path / "b.flac"), "notes": str(tmp_path / "notes.txt")}
    assert ignored == {
        ".DS_Store": ("ignored", "hidden file"),
        "sub": ("ignored", "folder: only files directly in input_dir are read"),
    }


def test_colliding_names_are_both_skipped_naming_each_other(tmp_path):
    (tmp_path / "take.wav").write_bytes(b"x")
    (tmp_path / "take.mp3").write_bytes(b"x")
    (tmp_path / "other.wav").write_bytes(b"x")
    sources, excluded = discover_sources(tmp_path)
    assert list(sources) == ["other"]
    for name, other in (("take.wav", "take.mp3"), ("take.mp3", "take.wav")):
        status, reason = excluded[name]
        assert status == "skipped" and reason.startswith(f"name clash: {name} and {other} ")


@pytest.mark.parametrize("name", ["{x}.wav", "a|b.wav", "line\nbreak.wav", "{x.wav"])
def test_names_the_workflow_cannot_carry_are_skipped_by_name(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "good.wav").write_bytes(b"x")
    sources, excluded = discover_sources(tmp_path)
    assert list(sources) == ["good"]
    status, reason = excluded[name]
    assert status == "skipped" and "rename the file" in reason


def test_links_broken_duplicate_and_outside(tmp_path):
    folder, outside = tmp_path / "in", tmp_path / "elsewhere.wav"
    folder.mkdir()
    outside.write_bytes(b"y")
    (folder / "real.wav").write_bytes(b"x")
    (folder / "a_link.wav").symlink_to(folder / "real.wav")  # sorts before its target
    (folder / "hard.wav").hardlink_to(folder / "real.wav")
    (folder / "far.wav").symlink_to(outside)
    (folder / "gone.wav").symlink_to(tmp_path / "missing.wav")
    (folder / "pipe.wav").parent.mkdir(exist_ok=True)
    os.mkfifo(folder / "pipe.wav")
    sources, excluded = discover_sources(folder)
    # hard.wav and real.wav are one file with two names: the first name in order is read
    assert sources == {"far": str(folder / "far.wav"), "hard": str(folder / "hard.wav")}
    assert excluded["a_link.wav"] == ("duplicate", "the same file as hard.wav: read once, as hard.wav")
    assert excluded["real.wav"] == ("duplicate", "the same file as hard.wav: read once, as hard.wav")
    assert excluded["gone.wav"] == ("skipped", f"broken link: its target {str(tmp_path / 'missing.wav')!r} does not exist")
    assert excluded["pipe.wav"][0] == "skipped" and "pipe" in excluded["pipe.wav"][1]


def test_a_link_to_a_file_read_under_its_own_name_is_the_duplicate(tmp_path):
    (tmp_path / "b_real.wav").write_bytes(b"x")
    (tmp_path / "a_link.flac").symlink_to(tmp_path / "b_real.wav")
    sources, excluded = discover_sources(tmp_path)
    assert sources == {"b_real": str(tmp_path / "b_real.wav")}
    assert excluded == {"a_link.flac": ("duplicate", "the same file as b_real.wav: read once, as b_real.wav")}


def test_missing_input_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        discover_sources(tmp_path / "nowhere")


def test_demo_sources():
    assert demo_sources("d", 2) == {"demo_1": "d/demo_1.wav", "demo_2": "d/demo_2.wav"}


def test_a_recording_replaced_by_an_older_file_ages_its_slice_report(tmp_path):
    from rvc_pipeline.preprocess.source_changes import replaced_sources, write_seen

    record, pattern = tmp_path / "seen.json", str(tmp_path / "{source}.tsv")
    sources = {name: str(tmp_path / f"{name}.wav") for name in ("kept", "older", "newer", "new")}
    for name in ("kept", "older", "newer"):
        Path(sources[name]).write_bytes(b"RIFF....")
        os.utime(sources[name], (1000, 1000))
        Path(pattern.format(source=name)).write_text("report")
        os.utime(pattern.format(source=name), (2000, 2000))
    messages, seen = replaced_sources(record, sources, pattern)
    assert messages == [] and not record.exists()  # first sight: nothing written until jobs run
    write_seen(record, seen)

    Path(sources["older"]).write_bytes(b"RIFF.... longer")
    os.utime(sources["older"], (500, 500))  # cp -p of an older file
    os.utime(sources["newer"], (3000, 3000))  # Snakemake sees this one itself
    Path(sources["new"]).write_bytes(b"RIFF")
    messages, seen = replaced_sources(record, sources, pattern)
    assert len(messages) == 1 and "older.wav" in messages[0] and "size 8 -> 15 bytes" in messages[0]
    assert os.stat(pattern.format(source="older")).st_mtime == 499
    assert [os.stat(pattern.format(source=n)).st_mtime for n in ("kept", "newer")] == [2000, 2000]
    write_seen(record, seen)
    assert replaced_sources(record, sources, pattern)[0] == []  # said once; the aged report stays
