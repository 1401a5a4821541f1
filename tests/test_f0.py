import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import harmonic_tone, need_shared_data, need_shared_parity

from rvc_pipeline.pitch.classic import F0_METHODS, compute_f0, extract_f0_dir
from rvc_pipeline.pitch.files import coarse_f0

SR = 16000


def tone(f0: float, n: int) -> np.ndarray:
    """n samples of partials k*f0 below 4 kHz: a voice-like source (harvest rejects pure sines)."""
    return harmonic_tone(f0, n / SR, SR, partials=int(4000 / f0))


@pytest.mark.parametrize("method", F0_METHODS)
@pytest.mark.parametrize("freq", [110.0, 220.0, 440.0])
def test_harmonic_tone_gives_its_pitch(method, freq):
    f0 = compute_f0(tone(freq, SR), method)
    voiced = f0[f0 > 0]
    assert f0.dtype == np.float64
    assert len(voiced) > 0.8 * len(f0)
    assert abs(np.median(voiced) / freq - 1) < 0.01


@pytest.mark.parametrize("method", F0_METHODS)
def test_frame_counts_match_rvc(method):
    for n in (1000, 1600, 8000, 12345, 16000, 16159, 16160, 59200):
        p_len = n // 160
        expected = p_len if method == "pm" else p_len + 1
        assert len(compute_f0(tone(220.0, n), method)) == expected, n


@pytest.mark.parametrize("method", F0_METHODS)
def test_silence_is_unvoiced(method):
    f0 = compute_f0(np.zeros(SR, np.float32), method)
    assert np.all(f0 == 0)
    assert np.all(coarse_f0(f0) == 1)


def test_coarse_matches_rvc():
    ref = np.load(need_shared_parity("coarse_f0.npz"))
    coarse = coarse_f0(ref["f0"])
    assert coarse.dtype == np.int64
    np.testing.assert_array_equal(coarse, ref["coarse"])


def test_coarse_range_and_monotonic():
    hz = np.concatenate([[0.0], np.geomspace(30, 2000, 500)])
    coarse = coarse_f0(hz)
    assert coarse[0] == 1 and coarse.min() == 1 and coarse.max() == 255
    assert np.all(np.diff(coarse) >= 0)


def test_unknown_method():
    with pytest.raises(ValueError, match="crepe"):
        compute_f0(np.zeros(SR, np.float32), "crepe")


def test_extract_dir_writes_both_outputs(tmp_path):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    tones = {"a_0": tone(150.0, 20000), "a_2": tone(300.0, 9000)}
    for name, samples in tones.items():
        sf.write(wavs / f"{name}.wav", samples, SR, subtype="FLOAT")
    (wavs / "notes.txt").write_text("not audio")
    extract_f0_dir(wavs, tmp_path / "coarse", tmp_path / "hz", "dio")
    for name, samples in tones.items():
        hz = np.load(tmp_path / "hz" / f"{name}.wav.npy")
        coarse = np.load(tmp_path / "coarse" / f"{name}.wav.npy")
        assert hz.dtype == np.float64 and coarse.dtype == np.int64
        np.testing.assert_array_equal(hz, compute_f0(samples, "dio"))
        np.testing.assert_array_equal(coarse, coarse_f0(hz))
    assert sorted(p.name for p in (tmp_path / "hz").iterdir()) == ["a_0.wav.npy", "a_2.wav.npy"]
    assert sorted(p.name for p in (tmp_path / "coarse").iterdir()) == ["a_0.wav.npy", "a_2.wav.npy"]


def test_extract_dir_of_empty_source_makes_empty_outputs(tmp_path):
    (tmp_path / "wavs").mkdir()
    extract_f0_dir(tmp_path / "wavs", tmp_path / "coarse", tmp_path / "hz", "harvest")
    assert (tmp_path / "coarse").is_dir() and not any((tmp_path / "coarse").iterdir())
    assert (tmp_path / "hz").is_dir() and not any((tmp_path / "hz").iterdir())


def test_extract_dir_rejects_other_rates(tmp_path):
    sf.write(tmp_path / "x_0.wav", tone(220.0, 8000), 22050, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"x_0\.wav.*22050"):
        extract_f0_dir(tmp_path, tmp_path / "c", tmp_path / "h", "pm")
    assert not (tmp_path / "h").exists() or not any((tmp_path / "h").iterdir())


def test_methods_agree_on_real_speech():
    audio, rate = sf.read(need_shared_data("ljspeech/LJ001-0001.wav"), dtype="float32")
    x = soxr.resample(audio, rate, SR).astype(np.float32)[: 5 * SR]
    f0 = {method: compute_f0(x, method) for method in F0_METHODS}
    reference = f0["harvest"]
    assert 120 < np.median(reference[reference > 0]) < 300  # a female reading voice
    for method in ("pm", "dio"):
        other = f0[method]
        assert 0.3 < np.mean(other > 0) < 0.95  # speech has pauses and unvoiced consonants
        both = (other > 0) & (reference[: len(other)] > 0)
        ratio = other[both] / reference[: len(other)][both]
        assert np.mean(np.abs(ratio - 1) < 0.05) > 0.8, method  # the frames line up, as in RVC
