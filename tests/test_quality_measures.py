"""Pitch error and mel-cepstral distortion on signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import harmonic_tone
from rvc_pipeline.quality.mcd import DB_PER_NEPER, cepstral_distortion, cepstrum, mel_cepstral_distortion
from rvc_pipeline.quality.pitch_error import pitch_error, pitch_error_of_audio

SR = 16000


def test_pitch_error_counts_cents_on_frames_voiced_in_both():
    reference = np.array([100.0, 0.0, 200.0, 200.0, 0.0])
    estimate = np.array([100.0 * 2 ** (1 / 12), 150.0, 0.0, 200.0, 0.0, 300.0])  # one frame longer: cut
    error = pitch_error(reference, estimate)
    assert error.cents == pytest.approx(50.0)  # 100 cents and 0 cents
    assert error.voicing_error == pytest.approx(2 / 5)
    assert error.voiced_frames == 2


def test_pitch_error_without_common_voiced_frames_is_nan():
    error = pitch_error(np.zeros(4), np.array([0.0, 100.0, 0.0, 0.0]))
    assert math.isnan(error.cents) and error.voicing_error == 0.25 and error.voiced_frames == 0
    with pytest.raises(ValueError, match="empty"):
        pitch_error(np.zeros(0), np.zeros(3))


@pytest.mark.parametrize("method", ["pm", "harvest"])
def test_a_tone_shifted_by_50_cents_is_50_cents_off(method):
    reference = harmonic_tone(200.0, 1.0, SR)
    assert pitch_error_of_audio(reference, reference, method).cents == 0.0
    error = pitch_error_of_audio(reference, harmonic_tone(200.0 * 2 ** (50 / 1200), 1.0, SR), method)
    assert error.cents == pytest.approx(50.0, abs=2.0)
    assert error.voicing_error <= 0.05 and error.voiced_frames >= 80


def test_cepstral_distortion_of_a_known_cosine_ripple():
    """A ripple 2·0.1·cos(3ω) in the log amplitude is c_3 = 0.1: MCD = (10/ln 10)·sqrt(2·0.01)."""
    bands = 40
    omega = np.pi * (np.arange(bands) + 0.5) / bands
    flat = np.full((5, bands), -3.0)
    rippled = flat + 2 * 0.1 * np.cos(3 * omega)
    c_flat, c_rippled = cepstrum(flat), cepstrum(rippled)
    assert c_flat.shape == (5, 24)
    assert np.allclose(c_flat, 0.0, atol=1e-12)  # a level is c_0 only, which is left out
    assert c_rippled[:, 2] == pytest.approx(0.1) and np.allclose(np.delete(c_rippled, 2, axis=1), 0, atol=1e-12)
    assert cepstral_distortion(c_flat, c_rippled) == pytest.approx(DB_PER_NEPER * math.sqrt(0.02))


def test_mcd_is_zero_for_the_same_spectrum_and_grows_with_a_different_one():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    assert mel_cepstral_distortion(noise, noise) == 0.0
    assert mel_cepstral_distortion(noise, 0.5 * noise) == pytest.approx(0.0, abs=1e-3)  # gain is c_0
    # A first-difference filter tilts the spectrum by up to 6 dB per octave.
    tilted = np.diff(noise, prepend=0.0).astype(np.float32)
    assert mel_cepstral_distortion(noise, tilted) > 3.0
    voice = harmonic_tone(150.0, 1.0, SR)
    assert mel_cepstral_distortion(voice, noise) > mel_cepstral_distortion(noise, tilted)


def test_a_rendering_is_measured_on_every_count():
    import torch

    from rvc_pipeline.pitch.classic import compute_f0
    from rvc_pipeline.quality.segment import measure_rendering
    from rvc_pipeline.quality.speaker import SpeakerEncoder, embed

    torch.manual_seed(0)
    encoder = SpeakerEncoder().eval()
    recording = harmonic_tone(200.0, 2.0, SR)
    rendering = harmonic_tone(200.0 * 2 ** (100 / 1200), 2.0, SR)
    own = embed(encoder, recording)
    kwargs = dict(encoder=encoder, voice=own, recording_embedding=own, recording_f0=compute_f0(recording, "pm"),
                  f0_method="pm")
    same = measure_rendering(recording, recording, **kwargs)
    assert same == {"similarity_voice": pytest.approx(1.0), "similarity_recording": pytest.approx(1.0),
                    "f0_error_cents": 0.0, "voicing_error": 0.0, "mcd_db": 0.0}
    shifted = measure_rendering(rendering, recording, **kwargs)
    assert shifted["f0_error_cents"] == pytest.approx(100.0, abs=2.0)
    assert shifted["mcd_db"] > 0 and shifted["similarity_voice"] < 1.0
