"""Decoding: every container RVC users bring, ffmpeg's downmix, and clear errors for bad files."""

import av
import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_tone, need_shared_data

from rvc_pipeline.audio import AudioDecodeError, decode_audio, load_audio, repair_nonfinite


def encode(path, samples: np.ndarray, sr: int, codec: str, layout: str = "mono") -> None:
    """Write ``samples`` ([channels, n] float32) with PyAV's encoder ``codec``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sr, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate = sr
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=sr)
        for out in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def test_stereo_downmix_is_ffmpegs_minus_3_db(tmp_path):
    sr = 40000
    left, right = np.full(sr, 0.4, np.float32), np.full(sr, 0.2, np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], 1), sr, subtype="FLOAT")
    mono = load_audio(tmp_path / "st.wav", sr)
    assert len(mono) == sr
    np.testing.assert_allclose(mono[100:-100], (0.4 + 0.2) * 0.70710678, atol=1e-4)


def test_resampling_keeps_duration_and_pitch(tmp_path):
    tone = harmonic_tone(220, 2.0, 44100, partials=1)
    sf.write(tmp_path / "t.wav", tone, 44100)
    y = load_audio(tmp_path / "t.wav", 16000)
    assert len(y) == 32000
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) / 2.0 == pytest.approx(220, abs=1)


@pytest.mark.parametrize(("suffix", "codec"), [("ogg", "libopus"), ("m4a", "aac"), ("mp3", "libmp3lame"), ("flac", "flac")])
def test_encoded_formats_decode(tmp_path, suffix, codec):
    sr = 48000
    tone = harmonic_tone(200, 3.0, sr)
    path = tmp_path / f"tone.{suffix}"
    encode(path, tone[None, :], sr, codec)
    y = load_audio(path, 40000)
    assert abs(len(y) / 40000 - 3.0) < 0.1
    assert 0.3 < np.abs(y).max() < 0.7


@pytest.mark.parametrize("name", ["LJ001-0001.mp3", "LJ001-0001.flac"])
def test_shared_formats_decode_to_the_same_audio(name):
    data = need_shared_data("formats")
    y = load_audio(data / name, 40000)
    ref = load_audio(data / "LJ001-0001.flac", 40000)
    assert abs(len(y) - len(ref)) < 0.05 * 40000
    assert decode_audio(data / name, 40000).problem == ""


def test_wav_int16_is_scaled_to_float(tmp_path):
    sf.write(tmp_path / "i.wav", (harmonic_tone(200, 1.0, 16000) * 32767).astype(np.int16), 16000)
    y = load_audio(tmp_path / "i.wav", 16000)
    assert y.dtype == np.float32 and np.abs(y).max() == pytest.approx(0.5, abs=1e-3)


def test_truncated_mp3_keeps_what_decodes_and_says_so(tmp_path):
    src = need_shared_data("formats/LJ001-0002.mp3")
    data = src.read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2 + 37])
    decoded = decode_audio(tmp_path / "cut.mp3", 40000)
    assert "truncated" in decoded.problem
    assert 0 < len(decoded.samples) < len(load_audio(src, 40000))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not audio at all\n"), "cannot decode audio"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "no audio samples"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_bad_inputs_raise_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioDecodeError, match=message) as err:
        load_audio(path, 40000)
    assert str(path) in str(err.value)


def test_repair_interpolates_short_runs_and_leaves_long_ones():
    x = np.linspace(0.0, 1.0, 101)
    y = x.copy()
    y[[10, 40, 41]] = [np.nan, np.inf, -np.inf]
    y[60:70] = np.nan
    assert repair_nonfinite(y, max_run=2) == (3, 10)
    np.testing.assert_allclose(y[[10, 40, 41]], x[[10, 40, 41]])  # linear ramp: exact
    assert np.isnan(y[60:70]).all() and np.isfinite(np.delete(y, range(60, 70))).all()
    edge = np.array([np.nan, 0.5, 0.25, np.inf])
    assert repair_nonfinite(edge, 1) == (2, 0) and edge.tolist() == [0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(("subtype", "channels"), [("FLOAT", 1), ("DOUBLE", 1), ("FLOAT", 2)])
def test_isolated_non_finite_samples_are_repaired_before_resampling(tmp_path, subtype, channels):
    sr = 32000
    tone = harmonic_tone(200, 2.0, sr)
    samples = np.stack([tone] * channels, 1)
    rng = np.random.default_rng(0)
    spots = rng.choice(len(tone), 21, replace=False)
    samples[spots, 0] = rng.choice([np.nan, np.inf, -np.inf], 21)
    sf.write(tmp_path / "nan.wav", samples, sr, subtype=subtype)
    decoded = decode_audio(tmp_path / "nan.wav", 40000)
    sf.write(tmp_path / "clean.wav", np.stack([tone] * channels, 1), sr, subtype=subtype)
    clean = load_audio(tmp_path / "clean.wav", 40000)
    assert (decoded.repaired, decoded.nonfinite) == (21, 0)
    assert np.isfinite(decoded.samples).all()
    assert np.abs(decoded.samples - clean).max() < 0.05


def test_a_long_non_finite_run_is_left_for_the_slicer_to_drop(tmp_path):
    tone = harmonic_tone(200, 2.0, 16000)
    tone[8000:8400] = np.nan  # 25 ms
    sf.write(tmp_path / "gap.wav", tone, 16000, subtype="FLOAT")
    decoded = decode_audio(tmp_path / "gap.wav", 16000)
    assert (decoded.repaired, decoded.nonfinite) == (0, 400)
    assert np.flatnonzero(~np.isfinite(decoded.samples)).tolist() == list(range(8000, 8400))


def test_downmix_of_many_channels(tmp_path):
    """ffmpeg sums 8 channels with weights up to 1 (peak 4.41x); "auto" and "average" take the mean."""
    tone = harmonic_tone(200, 1.0, 16000, amplitude=0.6)
    sf.write(tmp_path / "ch8.wav", np.stack([tone] * 8, 1), 16000, subtype="FLOAT")
    peaks = {
        method: np.abs(decode_audio(tmp_path / "ch8.wav", 16000, downmix=method).samples).max()
        for method in ("ffmpeg", "average", "auto")
    }
    assert peaks["ffmpeg"] == pytest.approx(0.6 * 4.414, rel=1e-3)
    assert peaks["average"] == peaks["auto"] == pytest.approx(0.6, rel=1e-4)
    assert decode_audio(tmp_path / "ch8.wav", 16000).downmix == "average"
    sf.write(tmp_path / "st.wav", np.stack([tone, tone], 1), 16000, subtype="FLOAT")
    assert decode_audio(tmp_path / "st.wav", 16000).downmix == "ffmpeg"  # RVC's -3 dB stereo downmix
    with pytest.raises(ValueError, match="downmix"):
        decode_audio(tmp_path / "st.wav", 16000, downmix="sum")
