"""Quality of each converted recording, for the Conversion page: how much it sounds like the trained
voice and like the source speaker, and how well it follows the transposed source pitch.

Written to a table by the measuring job (rule measure_conversion) so that the report's pages read
numbers without torch (reporting.conversion).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.pitch.classic import compute_f0
from rvc_pipeline.quality.pitch_error import pitch_error
from rvc_pipeline.quality.speaker import embed, optional_speaker_encoder, read_16k, speaker_similarity
from rvc_pipeline.training.quality import PITCH_TRACKER, training_voice
from rvc_pipeline.tables import write_tsv

COLUMNS = ("name", "similarity_voice", "similarity_source", "f0_error_cents", "voicing_error")


def measure_conversions(
    *,
    converted: Sequence[str | os.PathLike],
    sources: Sequence[str | os.PathLike],
    filelist: str | os.PathLike,
    trained: str | os.PathLike,
    transpose: float,
    table: str | os.PathLike,
    weights: str | os.PathLike | None = None,
) -> None:
    """One row per ``converted[i]`` (from ``sources[i]``) into ``table``: similarity to the training
    voice of ``filelist`` (cached beside ``trained``, the training's trained.json) and to the
    source, and the pitch error against the source's pitch moved
    by ``transpose`` semitones (both tracked with pm). Without the encoder's weights the
    similarities are empty, with one warning."""
    encoder = optional_speaker_encoder(weights, "the conversions' speaker similarity")
    voice = None if encoder is None else training_voice(encoder, filelist, Path(trained).parent)
    rows = []
    for output, source in zip(converted, sources, strict=True):
        rendered, original = read_16k(output), read_16k(source)
        expected = compute_f0(original, PITCH_TRACKER) * 2 ** (transpose / 12)
        error = pitch_error(expected, compute_f0(rendered, PITCH_TRACKER))
        row = {
            "name": Path(output).stem,
            "f0_error_cents": repr(error.cents),
            "voicing_error": repr(error.voicing_error),
        }
        if encoder is not None:
            embedding = embed(encoder, rendered)
            row["similarity_voice"] = repr(speaker_similarity(embedding, voice))
            row["similarity_source"] = repr(speaker_similarity(embedding, embed(encoder, original)))
        rows.append(row)
    write_tsv(table, COLUMNS, rows)
