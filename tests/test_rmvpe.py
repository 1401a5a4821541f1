"""RMVPE pitch: parity with RVC's numbers (formula weights), the decode on crafted saliences,
batches of equal length, windows for long inputs, and the strict, cached loader."""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import pytest
import soxr
import torch
from parity_pack import load_json, load_npz, max_abs_diff, save_rmvpe_formula_weights

from rvc_pipeline.convert.pipeline import pitch_track
from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.pitch.files import coarse_f0
from rvc_pipeline.models.mel import hz_to_mel, mel_filter_bank, mel_to_hz
from rvc_pipeline.pitch.rmvpe import PitchEstimator, load_rmvpe
from rvc_pipeline.pitch.rmvpe.decode import BIN_CENTS, THRESHOLD, salience_to_hz
from rvc_pipeline.pitch.rmvpe.estimator import chunk_spans, plan_batches
from rvc_pipeline.pitch.rmvpe.loader import rmvpe_network
from rvc_pipeline.pitch.rmvpe.mel import log_mel
from rvc_pipeline.pitch.rmvpe.network import Rmvpe


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> pathlib.Path:
    """An rmvpe.pt of the parity pack's formula weights (fp32), written once for this module."""
    return save_rmvpe_formula_weights(tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt")


@pytest.fixture(scope="module")
def estimator(weights_file) -> PitchEstimator:
    return load_rmvpe(weights_file)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return load_npz("rmvpe.npz")


def test_state_dict_keys_and_shapes_are_rvcs():
    expected = load_json("rmvpe_state_dict_shapes.json")
    ours = {key: list(t.shape) for key, t in Rmvpe().state_dict().items()}
    assert list(ours) == list(expected)
    assert ours == expected


def test_log_mel_matches_rvc(reference):
    mel = log_mel(torch.from_numpy(reference["audio"])[None])
    assert mel.shape == reference["mel"].shape == (1, 128, len(reference["audio"]) // 160 + 1)
    assert max_abs_diff(mel, reference["mel"]) <= 1e-4


def test_htk_filter_bank_is_area_normalised_on_the_htk_scale():
    assert hz_to_mel(np.array(700.0), htk=True) == pytest.approx(2595 * np.log10(2))
    freqs = np.array([0.0, 30.0, 440.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, htk=True), htk=True), freqs, atol=1e-9)
    bank = mel_filter_bank(16000, 1024, 128, 30.0, 8000.0, htk=True)
    assert bank.shape == (128, 513) and bank.dtype == np.float32
    # Slaney normalisation: every triangle has unit area in Hz (bins are 15.625 Hz apart), which the
    # FFT grid resolves for the wide upper filters.
    np.testing.assert_allclose(bank[64:].sum(axis=1) * 16000 / 1024, 1.0, rtol=0.02)
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > peaks[0]


def test_salience_and_f0_match_rvc_on_every_frame(estimator, reference):
    audio = reference["audio"]
    hidden = estimator.salience(audio)
    assert hidden.shape == reference["hidden"].shape[1:] == (len(audio) // 160 + 1, 360)
    assert max_abs_diff(hidden, reference["hidden"][0]) <= 1e-4
    f0 = estimator.f0(audio)
    assert f0.dtype == np.float64
    assert np.all(reference["f0"] > 0)  # the pack's frames are all voiced (threshold: crafted tests)
    np.testing.assert_allclose(f0, reference["f0"], rtol=1e-3)


def test_batches_of_equal_padded_length_give_the_single_results(estimator, reference):
    audio = reference["audio"]  # 310 frames, padded to 320
    inputs = [audio, audio[:-1000], audio[:-4000], audio[2000:]]  # frames 310, 304, 285, 297
    assert plan_batches([len(a) for a in inputs]) == [[0, 1, 3], [2]]
    for batched, single in zip(estimator.salience_many(inputs), map(estimator.salience, inputs)):
        assert batched.shape == single.shape
        # fp32 rounding (other conv kernels for a batch) grows to ~1e-5 through the deep net
        assert max_abs_diff(batched, single) <= 1e-4


def test_long_input_in_windows_is_within_1e3_of_the_whole(estimator):
    # 1501 frames in windows of at most 1472: two, with the whole context on both sides of the seam
    audio = soxr.resample(synthesize_voice(15.0, 32000, seed=3), 32000, 16000).astype(np.float32)
    frames = len(audio) // 160 + 1
    windowed = PitchEstimator(estimator.net, max_frames=1472)
    assert len(chunk_spans(frames, windowed.max_frames, windowed.context)) == 2
    whole = estimator.salience(audio)
    parts = windowed.salience(audio)
    assert parts.shape == whole.shape == (frames, 360)
    assert max_abs_diff(parts, whole) <= 1e-3  # everywhere, seams included


def test_conversion_pitch_track_from_rmvpe(estimator, reference):
    audio = reference["audio"]
    coarse, hz = pitch_track(audio, "rmvpe", 12, estimator.f0)
    assert len(coarse) == len(hz) == len(audio) // 160  # the synthesiser's frames
    np.testing.assert_allclose(hz, 2 * reference["f0"][: len(hz)], rtol=1e-3)
    np.testing.assert_array_equal(coarse, coarse_f0(hz))
    with pytest.raises(ValueError, match=r"f0_method rmvpe needs its weights \(pretrained key 'rmvpe': rvc-pipeline pretrained fetch\)"):
        pitch_track(audio, "rmvpe", 0)


def test_short_audio_is_refused(estimator):
    with pytest.raises(ValueError, match="at least 513 samples"):
        estimator.f0(np.zeros(512, np.float32))
    assert len(estimator.f0(np.zeros(513, np.float32))) == 513 // 160 + 1


def _cents(weights: dict[int, float]) -> float:
    """Salience-weighted mean of the bins' cents (the expected decode, written out)."""
    return sum(w * (20 * k + 1997.3794084376191) for k, w in weights.items()) / sum(weights.values())


def _hz(cents: float) -> float:
    return 10 * 2 ** (cents / 1200)


def test_decode_averages_nine_bins_around_the_peak_and_truncates_at_the_edges():
    sal = np.zeros((5, 360), np.float32)
    sal[0, [99, 100, 101]] = [0.2, 0.9, 0.5]
    sal[0, 105] = 0.8  # five bins away: outside the window
    sal[0, 95] = 0.7
    sal[1, [96, 100, 104]] = [0.3, 0.6, 0.1]  # the window's outermost bins count
    sal[2, [0, 1, 4, 359]] = [0.9, 0.4, 0.2, 0.85]  # peak at the bottom edge: bins 0..4 only
    sal[3, [355, 358, 359, 0]] = [0.3, 0.5, 0.95, 0.9]  # peak at the top edge: bins 355..359 only
    sal[4, 200] = 0.5  # a lone peak: its own bin's pitch
    expected = [
        _hz(_cents({99: 0.2, 100: 0.9, 101: 0.5})),
        _hz(_cents({96: 0.3, 100: 0.6, 104: 0.1})),
        _hz(_cents({0: 0.9, 1: 0.4, 4: 0.2})),
        _hz(_cents({355: 0.3, 358: 0.5, 359: 0.95})),
        _hz(20 * 200 + 1997.3794084376191),
    ]
    f0 = salience_to_hz(sal)
    np.testing.assert_allclose(f0, expected, rtol=1e-6)
    assert f0[4] == pytest.approx(10 * 2 ** (BIN_CENTS[200] / 1200))


def test_decode_threshold_is_strict_at_003():
    assert THRESHOLD == 0.03
    sal = np.zeros((4, 360), np.float32)
    sal[0, 150] = 0.03  # at the threshold: unvoiced
    sal[1, 150] = 0.0301  # just above: voiced
    sal[2, [10, 11, 12]] = [0.01, 0.02, 0.01]  # all below
    f0 = salience_to_hz(sal)
    assert f0[0] == 0 and f0[2] == 0 and f0[3] == 0
    assert f0[1] == pytest.approx(_hz(20 * 150 + 1997.3794084376191))
    assert salience_to_hz(sal, threshold=0.005)[2] == pytest.approx(_hz(_cents({10: 0.01, 11: 0.02, 12: 0.01})))


def test_plan_batches_groups_by_padded_frames_within_the_bound():
    # 160 samples per frame, frames = n//160 + 1, padded up to a multiple of 32
    lengths = [31 * 160, 20 * 160, 40 * 160, 5 * 160, 33 * 160, 0 + 31 * 160]
    assert plan_batches(lengths) == [[0, 1, 3, 5], [2, 4]]
    assert plan_batches(lengths, max_frames=64) == [[0, 1], [3, 5], [2], [4]]
    assert plan_batches([10_000 * 160], max_frames=64) == [[0]]  # alone, even beyond the bound


def test_chunk_spans_cover_the_input_on_the_pooling_grid():
    assert chunk_spans(1000, max_frames=1024, context=64) == [(0, 1000, 0, 1000)]
    spans = chunk_spans(5000, max_frames=1024, context=128)
    assert spans[0][0] == spans[0][2] == 0 and spans[-1][1] == spans[-1][3] == 5000
    for (start, stop, keep_start, keep_stop), following in zip(spans, spans[1:] + [None]):
        assert start % 32 == 0 and stop - start <= 1024
        assert keep_start - start >= (128 if start else 0)
        assert stop - keep_stop >= (128 if stop < 5000 else 0)
        if following:
            assert following[2] == keep_stop
    with pytest.raises(ValueError, match="multiples of 32"):
        chunk_spans(5000, max_frames=1000, context=64)
    with pytest.raises(ValueError, match="max_frames > 2"):
        chunk_spans(5000, max_frames=256, context=128)


def test_loader_caches_per_file_version(estimator, weights_file):
    assert load_rmvpe(weights_file) is estimator
    later = time.time() + 5
    os.utime(weights_file, (later, later))
    reloaded = load_rmvpe(weights_file)
    assert reloaded is not estimator
    assert load_rmvpe(weights_file) is reloaded


def test_loader_names_the_file_and_every_problem(tmp_path):
    path = tmp_path / "rmvpe.pt"
    torch.save({"cnn.weight": torch.zeros(2, 16, 3, 3), "cnn.bias": torch.zeros(3), "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError) as err:
        rmvpe_network(path)
    message = str(err.value)
    assert str(path) in message
    assert "unexpected: extra.weight" in message
    assert "shape mismatch: cnn.weight (2, 16, 3, 3) (model (3, 16, 3, 3))" in message
    assert "missing: " in message and "fc.1.weight" in message and "cnn.bias," not in message
    torch.save({"model": pathlib.PurePosixPath("x")}, path)  # not loadable with weights_only
    with pytest.raises(ValueError, match=f"{path}: not a readable torch state dict"):
        rmvpe_network(path)
    with pytest.raises(FileNotFoundError, match="RMVPE weights not found at"):
        load_rmvpe(tmp_path / "absent.pt")


def test_half_precision_file_loads_into_float32(estimator, tmp_path):
    """RVC's published rmvpe.pt stores fp16 tensors; they load strictly into the fp32 model."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in estimator.net.state_dict().items()}
    path = tmp_path / "rmvpe.pt"
    torch.save(state, path)
    net = rmvpe_network(path)
    assert net.cnn.weight.dtype == torch.float32
    assert torch.equal(net.fc[1].weight, state["fc.1.weight"].float())
