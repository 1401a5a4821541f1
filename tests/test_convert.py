from pathlib import Path

import faiss
import numpy as np
import pytest
import soundfile as sf
import torch
from parity_pack import save_rmvpe_formula_weights

from rvc_pipeline.convert import pipeline as convert
from rvc_pipeline.cli import main
from rvc_pipeline.convert.pipeline import (
    X_CENTER,
    X_QUERY,
    chunk_bounds,
    convert_file,
    load_input,
    pitch_track,
    protect_unvoiced,
    retrieval_weights,
    retrieve,
    rms_mix,
    to_int16,
)
from rvc_pipeline.training.checkpoint import save_checkpoint
from rvc_pipeline.training.export import export_model
from rvc_pipeline.pitch.files import coarse_f0
from rvc_pipeline.filters import highpass
from rvc_pipeline.index.retrieval import train_index
from rvc_pipeline.layout import FEATURE_RATE as SR
from rvc_pipeline.layout import HOP
from rvc_pipeline.models import ModelConfig, build_synthesizer, tiny_hparams

MODEL_SR = 40000
HUBERT = {"hubert_weights": None, "hubert_standin": "tiny"}


def rvc_weights(scores: np.ndarray) -> np.ndarray:
    """RVC's formula as written in RVC.md §7."""
    weight = np.square(1 / scores)
    return weight / weight.sum(axis=1, keepdims=True)


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a gliding 120-250 Hz pitch, an unvoiced noise burst in the middle."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 180 + 60 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    burst = (t > seconds * 0.45) & (t < seconds * 0.55)
    x[burst] = np.random.default_rng(seed).normal(0, 0.05, burst.sum())
    return x.astype(np.float32)


def test_retrieval_weights_follow_rvc_on_a_hand_made_index() -> None:
    # rows at distance 1..10 from the origin along one axis: squared distances 1, 4, 9, ...
    rows = np.zeros((10, 4), np.float32)
    rows[:, 0] = np.arange(1, 11)
    index = faiss.IndexFlatL2(4)
    index.add(rows)
    query = np.array([[0, 0, 0, 0], [2.5, 0, 0, 0]], np.float32)
    scores, labels = index.search(query, 8)
    np.testing.assert_array_equal(scores[0], np.arange(1, 9) ** 2)
    np.testing.assert_array_equal(labels[0], np.arange(8))

    weights = retrieval_weights(scores, labels)
    np.testing.assert_allclose(weights, rvc_weights(scores.astype(np.float64)), rtol=1e-12)
    expected_first = (1 / np.arange(1, 9) ** 4) / (1 / np.arange(1, 9) ** 4).sum()
    np.testing.assert_allclose(weights[0], expected_first, rtol=1e-12)

    rate = 0.75
    blended = retrieve(query, index, rows, rate)
    retrieved = np.einsum("tk,tkd->td", rvc_weights(scores.astype(np.float64)), rows[labels])
    np.testing.assert_allclose(blended, rate * retrieved + (1 - rate) * query, rtol=1e-6)
    np.testing.assert_array_equal(retrieve(query, index, rows, 0.0), query)


def test_retrieval_weights_without_nans() -> None:
    scores = np.array([[0.0, 0.0, 4.0], [1.0, 4.0, 3e38], [2.0, 3.0, 4.0], [1e-30, 1e-29, 1.0]])
    labels = np.array([[5, 6, 7], [1, 2, -1], [-1, -1, -1], [0, 1, 2]])
    weights = retrieval_weights(scores, labels)
    assert np.isfinite(weights).all()
    np.testing.assert_array_equal(weights[0], [0.5, 0.5, 0])  # exact matches share everything
    np.testing.assert_allclose(weights[1], [16 / 17, 1 / 17, 0])  # a missing neighbour counts for 0
    np.testing.assert_array_equal(weights[2], [0, 0, 0])  # nothing found
    # tiny distances: the formula in float64 agrees, RVC's float32 arithmetic overflows to NaN
    np.testing.assert_allclose(weights[3], rvc_weights(scores[3:])[0], rtol=1e-12)
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(rvc_weights(scores[3:].astype(np.float32))).any()


def test_retrieve_keeps_frames_without_neighbours() -> None:
    rows = np.ones((3, 4), np.float32)
    index = faiss.IndexFlatL2(4)
    index.add(rows)  # 3 rows, 8 asked for: labels -1 beyond the third
    feats = np.zeros((2, 4), np.float32)
    np.testing.assert_allclose(retrieve(feats, index, rows, 1.0), 1.0)
    far = np.full((1, 4), 1e30, np.float32)  # squared distance overflows to inf: no usable neighbour
    np.testing.assert_array_equal(retrieve(far, index, rows, 1.0), far)



def test_chunk_bounds_cut_at_the_quietest_point() -> None:
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 100 * SR).astype(np.float32)
    quiet = [int(35.3 * SR), int(79.1 * SR)]  # within x_query of 38 s and 76 s
    for q in quiet:
        audio[q - 400 : q + 400] = 0
    bounds = chunk_bounds(audio)
    assert bounds[0] == 0 and bounds[-1] == len(audio) and len(bounds) == 4
    for bound, q in zip(bounds[1:-1], quiet):
        assert bound % HOP == 0
        assert q - 400 - HOP < bound <= q + 400
    assert chunk_bounds(audio[: 40 * SR]) == [0, 40 * SR]  # under x_max: one chunk


def test_chunk_bounds_stay_in_the_search_window() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 50 * SR)
    audio[: 10 * SR] = 0  # quieter than anything in the window, but outside it
    (_, cut, _) = chunk_bounds(audio)
    assert (X_CENTER - X_QUERY) * SR - HOP < cut < (X_CENTER + X_QUERY) * SR


def test_protect_unvoiced() -> None:
    feats = np.full((4, 2), 10.0, np.float32)
    original = np.zeros((4, 2), np.float32)
    pitchf = np.array([220.0, 0.0, 0.5, 100.0], np.float32)
    out = protect_unvoiced(feats, original, pitchf, 0.33)
    np.testing.assert_allclose(out[:, 0], [10.0, 3.3, 3.3, 10.0], rtol=1e-6)


def test_rms_mix() -> None:
    t = np.arange(4 * SR) / SR
    source = 0.5 * np.sin(2 * np.pi * 200 * t)
    sr = 40000
    out = (0.1 * np.sin(2 * np.pi * 300 * np.arange(4 * sr) / sr)).astype(np.float32)
    np.testing.assert_allclose(rms_mix(source, out, sr, 1.0), out, rtol=1e-6)
    middle = slice(sr, 3 * sr)
    for rate, expected_rms in [(0.0, 0.5), (0.5, np.sqrt(0.5 * 0.1))]:
        mixed = rms_mix(source, out, sr, rate)[middle]
        np.testing.assert_allclose(np.sqrt(np.mean(mixed**2)), expected_rms / np.sqrt(2), rtol=0.02)


def test_to_int16() -> None:
    quiet = np.array([0.5, -0.25], np.float32)
    np.testing.assert_array_equal(to_int16(quiet), [16384, -8192])
    loud = np.array([2.0, -1.0], np.float32)
    np.testing.assert_array_equal(to_int16(loud), [int(0.99 * 32768), int(-0.99 * 32768 / 2)])


def test_load_input_limits_the_peak(tmp_path: Path) -> None:
    loud = speech_like(1.0) * 6
    sf.write(tmp_path / "loud.wav", loud, SR, subtype="FLOAT")
    sf.write(tmp_path / "quiet.wav", loud / 10, SR, subtype="FLOAT")
    assert np.abs(load_input(tmp_path / "loud.wav")).max() == pytest.approx(0.95, rel=1e-5)
    np.testing.assert_allclose(load_input(tmp_path / "quiet.wav"), loud / 10, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="nothing.wav"):
        load_input(tmp_path / "nothing.wav")


@pytest.mark.parametrize("method", ["pm", "harvest"])
def test_pitch_track_shifts_by_semitones(method: str) -> None:
    t = np.arange(int(1.5 * SR) + 77) / SR
    tone = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6)) * 0.2  # harvest misses pure sines
    coarse, hz = pitch_track(tone, method, 12)
    assert len(coarse) == len(hz) == len(tone) // HOP
    assert hz.dtype == np.float32 and coarse.dtype == np.int64
    np.testing.assert_allclose(np.median(hz[20:-20]), 400, rtol=0.01)
    np.testing.assert_array_equal(coarse, coarse_f0(hz))
    down = pitch_track(tone, method, -5)[1]
    np.testing.assert_allclose(np.median(down[20:-20]), 200 * 2 ** (-5 / 12), rtol=0.01)


def test_highpass() -> None:
    t = np.arange(2 * SR) / SR
    low, high = np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 1000 * t)
    middle = slice(SR // 2, 3 * SR // 2)
    assert np.abs(highpass(low, SR, "filtfilt")[middle]).max() < 0.01
    np.testing.assert_allclose(highpass(high, SR, "filtfilt")[middle], high[middle], atol=1e-3)


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny exported model with pitch, its index over random features, and a 2.3 s input."""
    root = tmp_path_factory.mktemp("voice")
    torch.manual_seed(0)
    hparams = tiny_hparams(MODEL_SR)
    net = build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True)
    model = root / "weights" / "tiny.pth"
    export_model(net.state_dict(), hparams, model, epoch=1, f0=True, version="v1")
    feats = root / "3_feature256" / "src"
    feats.mkdir(parents=True)
    np.save(feats / "src_0.npy", np.random.default_rng(0).normal(0, 1, (400, 256)).astype(np.float32))
    index = train_index(feats.parent, root, "tiny", "v1")
    wav = root / "input.wav"
    sf.write(wav, speech_like(2.3), SR, subtype="PCM_16")
    return {"model": model, "index": index, "input": wav, "root": root}


def test_convert_file(voice: dict[str, Path]) -> None:
    torch.set_num_threads(1)
    out = voice["root"] / "out.wav"
    summary = convert_file(voice["model"], voice["input"], out, index_path=voice["index"], **HUBERT)
    audio, sr = sf.read(out, dtype="int16")
    assert sr == MODEL_SR and sf.info(out).subtype == "PCM_16"
    samples = sf.info(voice["input"]).frames
    assert len(audio) == samples * MODEL_SR // SR
    assert 0 < np.abs(audio).max() <= 0.99 * 32768
    assert summary["sample_rate"] == MODEL_SR and summary["chunks"] == 1
    assert summary["output_seconds"] == pytest.approx(2.3, abs=1 / 100)

    again = voice["root"] / "again.wav"
    convert_file(voice["model"], voice["input"], again, index_path=voice["index"], **HUBERT)
    np.testing.assert_array_equal(sf.read(again, dtype="int16")[0], audio)  # seeded noise

    no_index = voice["root"] / "rate0.wav"
    full = voice["root"] / "rate1.wav"
    convert_file(voice["model"], voice["input"], no_index, index_path=voice["index"], index_rate=0, **HUBERT)
    convert_file(voice["model"], voice["input"], full, index_path=voice["index"], index_rate=1, **HUBERT)
    a, b = sf.read(no_index, dtype="int16")[0], sf.read(full, dtype="int16")[0]
    # same seeded noise, so the whole difference comes from the retrieved features
    assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() > 5
    plain = voice["root"] / "plain.wav"
    convert_file(voice["model"], voice["input"], plain, **HUBERT)
    np.testing.assert_array_equal(sf.read(plain, dtype="int16")[0], sf.read(no_index, dtype="int16")[0])


def test_convert_long_input_in_chunks(voice: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # RVC's 41 s limit scaled down to 5 s, so the chunked path runs in seconds (the cut points at
    # the real values are tested above)
    monkeypatch.setattr(convert, "X_MAX", 5)
    monkeypatch.setattr(convert, "X_CENTER", 2)
    monkeypatch.setattr(convert, "X_QUERY", 1)
    torch.set_num_threads(1)
    wav = voice["root"] / "long.wav"
    samples = 7 * SR + 77
    sf.write(wav, np.tile(speech_like(2.0), 4)[:samples], SR, subtype="PCM_16")
    out = voice["root"] / "long_out.wav"
    summary = convert_file(voice["model"], wav, out, rms_mix_rate=1, **HUBERT)
    assert summary["chunks"] == 4
    assert sf.info(out).frames == samples * MODEL_SR // SR


def test_convert_v2_model_without_pitch(voice: dict[str, Path]) -> None:
    hparams = tiny_hparams(32000)
    net = build_synthesizer(ModelConfig.from_hparams(hparams), "v2", False)
    model = voice["root"] / "weights" / "nof0.pth"
    export_model(net.state_dict(), hparams, model, epoch=3, f0=False, version="v2")
    out = voice["root"] / "nof0.wav"
    summary = convert_file(model, voice["input"], out, f0_method="not-used", **HUBERT)
    assert summary["f0"] is False and summary["version"] == "v2" and summary["f0_method"] is None
    assert sf.info(out).samplerate == 32000
    assert sf.info(out).frames == sf.info(voice["input"]).frames * 2
    with pytest.raises(ValueError, match="256-d rows, a v2 model needs 768"):
        convert_file(model, voice["input"], out, index_path=voice["index"], **HUBERT)


def test_cli_convert(voice: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = voice["root"] / "cli.wav"
    argv = ["convert", str(voice["model"]), str(voice["input"]), str(out), "--index", str(voice["index"]),
            "--index-rate", "0.5", "--transpose", "3", "--f0-method", "harvest", "--hubert-standin", "tiny"]
    assert main(argv) == 0
    assert '"sample_rate": 40000' in capsys.readouterr().out
    assert sf.info(out).samplerate == MODEL_SR

    missing = voice["root"] / "missing.wav"
    assert main(["convert", str(voice["model"]), str(missing), str(out), "--hubert-standin", "tiny"]) == 1
    assert f"input file {missing} does not exist" in capsys.readouterr().err
    assert main(["convert", str(voice["root"] / "no.pth"), str(voice["input"]), str(out)]) == 1
    assert "no.pth does not exist" in capsys.readouterr().err
    assert main(["convert", str(voice["model"]), str(voice["input"]), str(out), "--sid", "109"]) == 1
    assert "speaker id 109 out of range (model has 109)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(voice["model"])])


def test_convert_with_rmvpe_pitch(voice: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = voice["root"] / "rmvpe.wav"
    base = ["convert", str(voice["model"]), str(voice["input"]), str(out), "--hubert-standin", "tiny", "--f0-method", "rmvpe"]
    missing = voice["root"] / "no_rmvpe.pt"
    assert main([*base, "--rmvpe", str(missing)]) == 1
    assert f"RMVPE weights not found at {missing}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="f0_method rmvpe needs its weights"):
        convert_file(voice["model"], voice["input"], out, f0_method="rmvpe", **HUBERT)
    weights = save_rmvpe_formula_weights(voice["root"] / "rmvpe.pt", half=True)
    assert main([*base, "--rmvpe", str(weights)]) == 0
    assert '"f0_method": "rmvpe"' in capsys.readouterr().out
    assert sf.info(out).frames == sf.info(voice["input"]).frames * MODEL_SR // SR


def test_convert_never_writes_over_its_input_or_model(voice: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    original = voice["input"].read_bytes()
    hard = voice["root"] / "hard_link.wav"
    hard.unlink(missing_ok=True)
    hard.hardlink_to(voice["input"])
    soft = voice["root"] / "soft_link.wav"
    soft.unlink(missing_ok=True)
    soft.symlink_to(voice["input"])
    dotted = f"{voice['root']}/./{voice['input'].name}"
    for output in (voice["input"], dotted, hard, soft):
        assert main(["convert", str(voice["model"]), str(voice["input"]), str(output), "--hubert-standin", "tiny"]) == 1
        err = capsys.readouterr().err
        assert f"refusing to write the conversion to {Path(output)}: it is the input {voice['input']}" in err, err
    assert "(the same file under another name: a link)" in err
    with pytest.raises(ValueError, match=f"it is the model {voice['model']}"):
        convert_file(voice["model"], voice["input"], voice["model"], **HUBERT)
    with pytest.raises(ValueError, match=f"it is the index {voice['index']}"):
        convert_file(voice["model"], voice["input"], voice["index"], index_path=voice["index"], **HUBERT)
    assert voice["input"].read_bytes() == original and hard.read_bytes() == original


def test_convert_names_a_missing_index_a_wrong_width_index_and_a_training_checkpoint(voice: dict[str, Path]) -> None:
    out = voice["root"] / "refused.wav"
    with pytest.raises((FileNotFoundError, ValueError), match="nothing.index"):
        convert_file(voice["model"], voice["input"], out, index_path=voice["root"] / "nothing.index", **HUBERT)
    feats = voice["root"] / "wide" / "3_feature768" / "src"
    feats.mkdir(parents=True)
    np.save(feats / "src_0.npy", np.random.default_rng(1).normal(0, 1, (400, 768)).astype(np.float32))
    wide = train_index(feats.parent, voice["root"] / "wide", "wide", "v2")
    with pytest.raises(ValueError, match="768-d rows, a v1 model needs 256"):
        convert_file(voice["model"], voice["input"], out, index_path=wide, **HUBERT)
    hparams = tiny_hparams(MODEL_SR)
    net = build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True)
    optim = torch.optim.AdamW(net.parameters())
    save_checkpoint(voice["root"] / "G_8.pth", net, optim, epoch=1, learning_rate=1e-4, extra={})
    with pytest.raises(ValueError, match="G_8.pth"):
        convert_file(voice["root"] / "G_8.pth", voice["input"], out, **HUBERT)
    assert not out.exists()
