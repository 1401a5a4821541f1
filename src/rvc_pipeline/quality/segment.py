"""All the quality measures of one rendering against its recording, for the validation's columns."""

from __future__ import annotations

import numpy as np

from rvc_pipeline.pitch.classic import compute_f0
from rvc_pipeline.quality.mcd import mel_cepstral_distortion
from rvc_pipeline.quality.pitch_error import pitch_error
from rvc_pipeline.quality.speaker import SpeakerEncoder, embed, speaker_similarity


def measure_rendering(
    rendering16k: np.ndarray,
    recording16k: np.ndarray,
    *,
    encoder: SpeakerEncoder | None,
    voice: np.ndarray | None,
    recording_embedding: np.ndarray | None,
    recording_f0: np.ndarray,
    f0_method: str,
) -> dict[str, float]:
    """Similarity of the rendering to the voice (``voice``: the mean embedding of the training
    segments) and to its recording (``recording_embedding``), its pitch error against
    ``recording_f0`` (the recording's track in Hz, 2b-f0nsf) with the rendering tracked by
    ``f0_method``, and the MCD against the recording. NaN cents when no frame is voiced in both.
    Without an ``encoder`` (its weights absent) the two similarities are left out."""
    error = pitch_error(recording_f0, compute_f0(rendering16k, f0_method))
    similarities = {}
    if encoder is not None:
        rendering = embed(encoder, rendering16k)
        similarities = {
            "similarity_voice": speaker_similarity(rendering, voice),
            "similarity_recording": speaker_similarity(rendering, recording_embedding),
        }
    return {
        **similarities,
        "f0_error_cents": error.cents,
        "voicing_error": error.voicing_error,
        "mcd_db": mel_cepstral_distortion(recording16k, rendering16k),
    }
