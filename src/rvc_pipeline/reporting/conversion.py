"""The Conversion page: each converted recording beside its source, as audio and as mel spectrograms."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.audio import decode_audio, read_wav
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.reporting.figures import mel_pair, png_bytes, save_png
from rvc_pipeline.reporting.page import Page

FIGURE_SECONDS = 20.0  # spectrograms show the start of long recordings; the players play all of it


def render_conversion_audio(
    *,
    converted: Sequence[str | os.PathLike],
    sources: Sequence[str | os.PathLike],
    config: str | os.PathLike,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> None:
    """The Conversion page of ``experiment``; ``sources[i]`` is the recording ``converted[i]`` came from."""
    mel = MelConfig.from_hparams(json.loads(Path(config).read_text(encoding="utf-8")))
    page = Page(f"Conversion: {experiment}")
    page.text(f"{len(converted)} recording(s) converted with this experiment's model and index.")
    for number, (output, source) in enumerate(zip(converted, sources)):
        rendered, sr = read_wav(output)
        original = decode_audio(source, sr).samples
        shown = int(FIGURE_SECONDS * sr)
        pair = mel_pair(original[:shown], rendered[:shown], mel, ("source", "converted"))
        page.heading(Path(output).name)
        page.image(save_png(pair, figure) if number == 0 else png_bytes(pair), f"mel spectrograms of {Path(output).name}")
        page.audio(original, sr, f"source {Path(source).name}")
        page.audio(rendered, sr, f"converted {Path(output).name}")
    page.write(summary)
