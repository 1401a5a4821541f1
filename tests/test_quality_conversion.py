"""The Conversion page's numbers: measured by the conversion's job into a table, read by the page."""

from __future__ import annotations

import math

import pytest
from conftest import harmonic_tone, need_shared_data

from rvc_pipeline.audio import write_wav
from rvc_pipeline.convert.quality import measure_conversions
from rvc_pipeline.reporting.conversion import read_conversion_quality, render_conversion_quality, summary_line

SR = 16000


def conversion(tmp_path, transpose_cents: float):
    """A source tone and its conversion ``transpose_cents`` higher; the training filelist holds the
    conversion's own voice."""
    source, converted = tmp_path / "source.wav", tmp_path / "converted" / "take.wav"
    converted.parent.mkdir()
    write_wav(source, harmonic_tone(150.0, 3.0, SR), SR)
    write_wav(converted, harmonic_tone(150.0 * 2 ** (transpose_cents / 1200), 3.0, SR), SR)
    filelist = tmp_path / "filelist.txt"
    filelist.write_text(f"{converted}|f.npy|0\n")
    return {"converted": [converted], "sources": [source], "filelist": filelist, "trained": tmp_path / "trained.json"}


def test_pitch_error_is_against_the_transposed_source_and_similarity_needs_the_weights(tmp_path, caplog):
    files = conversion(tmp_path, 1200.0)
    table = tmp_path / "quality.tsv"
    measure_conversions(**files, transpose=12, table=table, weights=tmp_path / "absent.pt")
    row = read_conversion_quality(table)["take"]
    assert row["f0_error_cents"] == pytest.approx(0.0, abs=5.0)
    assert math.isnan(row["similarity_voice"]) and summary_line({"take": row}) is None
    assert "not measured" in caplog.text
    render_conversion_quality(table=table, experiment="exp", page=tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert "Fix: rvc-pipeline pretrained fetch speaker_encoder" in page
    assert f"<tr><td>take</td><td>not measured</td><td>not measured</td><td>{row['f0_error_cents']:.0f}</td>" in page
    measure_conversions(**files, transpose=0, table=table, weights=tmp_path / "absent.pt")
    assert read_conversion_quality(table)["take"]["f0_error_cents"] == pytest.approx(1200.0, abs=10.0)


def test_similarity_to_the_trained_voice_and_to_the_source(tmp_path, speaker_encoder_weights):
    ljspeech = sorted(need_shared_data().joinpath("ljspeech").glob("*.wav"))
    files = conversion(tmp_path, 0.0)
    files.update(converted=[ljspeech[0]], sources=[tmp_path / "source.wav"])
    files["filelist"].write_text("".join(f"{wav}|f.npy|0\n" for wav in ljspeech[1:9]))
    table = tmp_path / "quality.tsv"
    measure_conversions(**files, transpose=0, table=table, weights=speaker_encoder_weights)
    quality = read_conversion_quality(table)
    row = quality[ljspeech[0].stem]
    assert row["similarity_voice"] > 0.8 > row["similarity_source"]  # LJSpeech is like LJSpeech, not a tone
    assert summary_line(quality) == (
        f"converted audio is {row['similarity_voice']:.2f} similar to the trained voice; "
        f"the source speaker was {row['similarity_source']:.2f}"
    )
    assert (tmp_path / "speaker_voice.npz").is_file()  # the training voice, cached beside trained.json
    render_conversion_quality(table=table, experiment="exp", page=tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert summary_line(quality).capitalize() in page
    assert f"<tr><td>{ljspeech[0].stem}</td><td>{row['similarity_voice']:.2f}</td>" in page
