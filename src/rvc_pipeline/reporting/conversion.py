"""The Conversion page: each converted recording beside its source, as audio and as mel spectrograms."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.audio import decode_audio, read_wav
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.reporting.figures import mel_pair, save_png
from rvc_pipeline.reporting.page import Page

FIGURE_SECONDS = 20.0  # spectrograms show the start of long recordings
# Players hold the start of long recordings too: a page shows in the report's frame only while it
# stays under the browser's limit for an address (about 2 MB of base64 in Chromium).
PLAYER_SECONDS = 120.0


def render_conversion_audio(
    *,
    converted: Sequence[str | os.PathLike],
    sources: Sequence[str | os.PathLike],
    config: str | os.PathLike,
    experiment: str,
    pages: str | os.PathLike,
    figure: str | os.PathLike,
) -> None:
    """One page per converted recording of ``experiment`` into the folder ``pages``; ``sources[i]`` is
    the recording ``converted[i]`` came from. ``figure`` is the first recording's spectrograms."""
    mel = MelConfig.from_hparams(json.loads(Path(config).read_text(encoding="utf-8")))
    Path(pages).mkdir(parents=True, exist_ok=True)
    for number, (output, source) in enumerate(zip(converted, sources)):
        name = Path(output).stem
        rendered, sr = read_wav(output)
        original = decode_audio(source, sr).samples
        page = Page(f"Conversion: {experiment}, {name}")
        page.text(
            f"{Path(source).name} converted with this experiment's model and index "
            f"({len(rendered) / sr:.1f} s; players and spectrograms show at most the first "
            f"{PLAYER_SECONDS:.0f} s and {FIGURE_SECONDS:.0f} s)."
        )
        shown = int(FIGURE_SECONDS * sr)
        pair = mel_pair(original[:shown], rendered[:shown], mel, ("source", "converted"))
        if number == 0:
            save_png(pair, figure)
        page.image(pair, f"mel spectrograms of {name}", photo=True)
        played = int(PLAYER_SECONDS * sr)
        page.audio(original[:played], sr, f"source {Path(source).name}")
        page.audio(rendered[:played], sr, f"converted {Path(output).name}")
        page.write(Path(pages) / f"{name}.html")
