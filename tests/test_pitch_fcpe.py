"""FCPE pitch: parity with torchfcpe 0.0.4 itself (../shared/parity/pitch.npz), known pitches of
synthetic tones, windows and batches against whole single passes, the front-end's padding, the
decoder, and the loader's refusals."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import fetched_pretrained, harmonic_tone, need_shared_parity

from rvc_pipeline.pitch.fcpe import (
    CONTEXT_FRAMES,
    MEL_SETTINGS,
    N_FFT,
    PAD,
    THRESHOLD,
    FcpeEstimator,
    decode,
    estimate_fcpe,
    estimate_fcpe_many,
    fcpe_network,
    load_fcpe,
    n_frames,
    padded_audio,
    plan_batches,
)
from rvc_pipeline.pitch.fcpe_network import N_BINS, RECEPTIVE_RADIUS, Fcpe
from rvc_pipeline.pitch.rmvpe.estimator import chunk_spans

SR = 16000
CLIPS = ("clip0", "clip1", "clip2")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return str(fetched_pretrained("fcpe", tmp_path_factory.mktemp("pretrained")))


@pytest.fixture(scope="module")
def parity() -> dict[str, np.ndarray]:
    with np.load(need_shared_parity("pitch.npz")) as data:
        return {key: data[key] for key in data.files}


def agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, np.ndarray]:
    """(fraction of frames with the same voiced/unvoiced decision, relative f0 differences on frames both voice)."""
    both = (ours > 0) & (theirs > 0)
    return float(((ours > 0) == (theirs > 0)).mean()), np.abs(ours[both] / theirs[both] - 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("clip", CLIPS)
def test_f0_matches_torchfcpe(parity, weights, clip, device):
    """``infer(audio, 16000, decoder_mode="local_argmax", threshold=0.006)`` of torchfcpe itself."""
    audio, theirs = parity[f"{clip}/audio"], parity[f"{clip}/fcpe_f0"]
    ours = estimate_fcpe(audio, weights=weights, device=device)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape == (len(audio) // 160 + 1,)
    same_voicing, relative = agreement(ours, theirs)
    print(f"{clip} on {device}: voicing agrees on {same_voicing:.2%}, f0 max relative difference {relative.max():.2e}")
    assert same_voicing >= 0.99
    assert (relative <= 0.01).mean() >= 0.99
    assert np.median(relative) < 1e-5  # the same network, not merely a similar one


@pytest.mark.parametrize("f0", [82.0, 110.0, 220.0, 440.0])
def test_harmonic_tone_gives_its_pitch(weights, f0):
    tone = harmonic_tone(f0, 1.0, SR)
    hz = estimate_fcpe(tone, weights=weights)
    inner = hz[10:-10]  # frames that see only the tone
    assert (inner > 0).all()
    assert np.abs(inner / f0 - 1).max() < 0.01


def test_silence_and_noise_floor_are_unvoiced(weights):
    quiet = np.random.default_rng(0).normal(0, 1e-5, SR).astype(np.float32)
    assert not estimate_fcpe(np.zeros(SR, np.float32), weights=weights).any()
    assert not estimate_fcpe(quiet, weights=weights).any()


def test_windows_give_the_whole_pass(parity, weights):
    """A long input in windows of 320 frames (seams every 128 frames) equals the input in one pass."""
    audio = parity["clip2/audio"]
    assert len(chunk_spans(n_frames(len(audio)), 320, CONTEXT_FRAMES)) == 6
    net = fcpe_network(weights)
    whole = FcpeEstimator(net).salience_many([audio])[0]
    windowed = FcpeEstimator(net, max_frames=320).salience_many([audio])[0]
    assert windowed.shape == whole.shape == (n_frames(len(audio)), N_BINS)
    assert (windowed - whole).abs().max() < 1e-5
    ours = decode(windowed, net.cent_table).numpy()
    same_voicing, relative = agreement(ours, decode(whole, net.cent_table).numpy())
    assert same_voicing == 1.0 and relative.max() < 1e-5


def test_a_batch_gives_each_input_alone(parity, weights):
    """Padding a row of a batch changes neither the GroupNorm statistics nor the frames at its end."""
    audio = parity["clip2/audio"]
    audios = [audio[:n] for n in (20000, 30001, 1000, 433, 432, 300, 1)]
    assert len(plan_batches([len(piece) for piece in audios])) == 1
    estimator = FcpeEstimator(fcpe_network(weights), batch=True)
    assert not FcpeEstimator(estimator.net).batch  # on CPU, by default
    together = estimator.salience_many(audios)
    for piece, salience in zip(audios, together):
        alone = estimator.salience_many([piece])[0]
        assert salience.shape == alone.shape == (n_frames(len(piece)), N_BINS)
        assert (salience - alone).abs().max() < 1e-5
    f0s = estimate_fcpe_many(audios, weights=weights)
    assert [len(f0) for f0 in f0s] == [n // 160 + 1 for n in map(len, audios)]


def test_context_covers_the_network_reach():
    assert RECEPTIVE_RADIUS == 92
    assert CONTEXT_FRAMES >= RECEPTIVE_RADIUS
    with pytest.raises(ValueError, match="reach"):
        FcpeEstimator(Fcpe(), context=64)


@pytest.mark.parametrize("n", [1, 100, 431, 432, 433, 1000, 5000])
def test_padded_audio_is_torchfcpes_padding(n):
    """Reflected by 432 on each side when the audio is longer than the right pad, else zero-padded
    to one full STFT frame."""
    audio = np.random.default_rng(n).normal(size=n).astype(np.float32)
    right = max(PAD, N_FFT - PAD - n)
    expected = np.pad(audio, (PAD, right), mode="reflect" if right < n else "constant")
    assert np.array_equal(padded_audio(audio, 0, len(expected)), expected)
    assert np.array_equal(padded_audio(audio, 200, 900), expected[200:900])


def test_decode_is_local_argmax():
    cents = torch.linspace(1000.0, 8000.0, N_BINS)
    salience = torch.zeros(4, N_BINS)
    salience[0, 100] = 0.9  # one class: its pitch
    salience[1, 100], salience[1, 101] = 0.5, 0.5  # two equal classes: halfway
    salience[1, 200] = 0.4  # far from the peak: ignored
    salience[2, 0], salience[2, 1] = 0.8, 0.2  # at the table's edge: indices clamped, class 0 counted 5 times
    salience[3, 50] = THRESHOLD  # not above the threshold: unvoiced
    hz = decode(salience, cents)
    expected_cents = [cents[100], (cents[100] + cents[101]) / 2, (5 * 0.8 * cents[0] + 0.2 * cents[1]) / 4.2]
    assert torch.allclose(hz[:3], 10 * 2 ** (torch.stack(expected_cents) / 1200), rtol=1e-6)
    assert hz[3] == 0


def test_plan_batches_bounds_padded_frames():
    lengths = [16000, 800, 1600, 16000 * 30, 3200]
    batches = plan_batches(lengths, max_frames=320)
    # shortest first; 4 × 101 frames would exceed 320; 3001 frames are more than one pass: alone
    assert batches == [[1, 2, 4], [0], [3]]


def fake_checkpoint(path, **changes):
    """A torchfcpe-shaped checkpoint of an untrained network."""
    checkpoint = {"global_step": 0, "model": Fcpe().state_dict(), "config_dict": {"mel": dict(MEL_SETTINGS)}}
    for key, value in changes.items():
        checkpoint[key] = value
    torch.save(checkpoint, path)
    return path


def test_loader_refuses_what_is_not_fcpe(tmp_path):
    assert isinstance(fcpe_network(fake_checkpoint(tmp_path / "ok.pt")), Fcpe)
    state = Fcpe().state_dict()
    del state["output_proj.weight_g"]
    with pytest.raises(ValueError, match=r"missing\.pt: not FCPE's bundled weights.*output_proj\.weight_g"):
        fcpe_network(fake_checkpoint(tmp_path / "missing.pt", model=state))
    mel = {**MEL_SETTINGS, "hop_size": 256}
    with pytest.raises(ValueError, match=r"hop\.pt: mel settings \{'hop_size': 256\}"):
        fcpe_network(fake_checkpoint(tmp_path / "hop.pt", config_dict={"mel": mel}))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"text\.pt: not a readable torch checkpoint"):
        fcpe_network(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError, match="pretrained fetch"):
        load_fcpe(tmp_path / "absent.pt")


def test_loader_reads_weights_only(tmp_path):
    """A pickle holding an arbitrary object is refused, not executed."""
    fake_checkpoint(tmp_path / "object.pt", global_step=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"object\.pt: not a readable torch checkpoint"):
        fcpe_network(tmp_path / "object.pt")


def test_loader_caches_per_file(tmp_path):
    path = fake_checkpoint(tmp_path / "a.pt")
    first = load_fcpe(path)
    assert load_fcpe(str(path)) is first
    os.utime(path, ns=(1, 1))  # as a replaced file: another mtime
    assert load_fcpe(path) is not first
