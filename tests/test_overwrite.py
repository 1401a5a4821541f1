"""No command writes over one of its own inputs: the one check (`overwrite.refuse_overwrite`) and
the commands that use it beside convert and model merge/extract (tested with their commands)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rvc_pipeline.cli import main
from rvc_pipeline.overwrite import refuse_overwrite


def test_the_same_file_under_any_name_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(b"input")
    (tmp_path / "hard.wav").hardlink_to(source)
    (tmp_path / "soft.wav").symlink_to(source)
    link = " (the same file under another name: a link)"
    names = {source: "", f"{tmp_path}/./in.wav": "", tmp_path / "hard.wav": link, tmp_path / "soft.wav": link}
    for output, alias in names.items():
        message = f"refusing to write the result to {output}: it is the input {source}{alias}; choose another output file"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            refuse_overwrite(output, {"model": None, "input": source}, what="the result")
    # A new file, another existing file, a missing or absent source: nothing to refuse.
    other = tmp_path / "other.wav"
    other.write_bytes(b"other")
    for output in (tmp_path / "new.wav", other):
        refuse_overwrite(output, {"input": source, "index": None, "weights": tmp_path / "missing.pt"}, what="x")


def test_an_output_inside_a_source_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "demo"
    folder.mkdir(parents=True)
    (tmp_path / "into").symlink_to(folder)
    for output in (folder / "new.html", tmp_path / "into" / "report" / "data.html"):
        with pytest.raises(ValueError, match=f"it is inside the experiment folder {re.escape(str(folder))};"):
            refuse_overwrite(output, {"experiment folder": folder}, what="the report")
    refuse_overwrite(tmp_path / "results" / "report.html", {"experiment folder": folder}, what="the report")
    refuse_overwrite(tmp_path / "results" / "demo2.html", {"experiment folder": folder}, what="the report")


def test_report_never_writes_into_an_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    page = results / "demo" / "report" / "data.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>the data page</body></html>")
    (tmp_path / "link.html").symlink_to(page)
    for output in (page, tmp_path / "link.html"):
        assert main(["report", "--results", str(results), "-o", str(output)]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"rvc-pipeline report: error: refusing to write the report to {output}: it is inside the "
            f"experiment folder {results / 'demo'}; choose another output file\n"
        )
    assert page.read_text() == "<html><body>the data page</body></html>"
    for output in (results / "report.html", tmp_path / "elsewhere.html"):
        assert main(["report", "--results", str(results), "-o", str(output)]) == 0
        assert "the data page" in output.read_text()


def test_fetch_never_writes_over_the_config_it_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hubert_base.pt"
    config.write_text("experiments: []\n")
    args = ["pretrained", "fetch", "hubert_base.pt", "--dest", str(tmp_path), "--configfile", str(config)]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"rvc-pipeline pretrained: error: refusing to write hubert_base.pt to {config}: it is the workflow "
        f"config {config}; choose another output file\n"
    )
    assert config.read_text() == "experiments: []\n" and os.listdir(tmp_path) == ["hubert_base.pt"]
