"""The Conversion page: each converted recording beside its source, as audio and as mel spectrograms."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rvc_pipeline.audio import decode_audio, read_wav
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.reporting.figures import save_png
from rvc_pipeline.reporting.spectrograms import mel_pair
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.tables import read_tsv

FIGURE_SECONDS = 20.0  # spectrograms show the start of long recordings
# Players hold the start of long recordings too: a page shows in the report's frame only while it
# stays under the browser's limit for an address (about 2 MB of base64 in Chromium).
PLAYER_SECONDS = 120.0


def read_conversion_quality(table: str | os.PathLike) -> dict[str, dict[str, float]]:
    """The rows of convert.quality's table by name, as floats (NaN where not measured)."""
    return {
        row.pop("name"): {key: float(text) if text else math.nan for key, text in row.items()}
        for row in read_tsv(table)
    }


def summary_line(quality: dict[str, dict[str, float]]) -> str | None:
    """"converted audio is 0.xx similar to the trained voice; the source speaker was 0.yy" (means
    over the conversions), or None when the similarities were not measured."""
    measured = [row for row in quality.values() if not math.isnan(row["similarity_voice"])]
    if not measured:
        return None
    voice = np.mean([row["similarity_voice"] for row in measured])
    source = np.mean([row["similarity_source"] for row in measured])
    return f"converted audio is {voice:.2f} similar to the trained voice; the source speaker was {source:.2f}"


QUALITY_COLUMNS = (
    "recording",
    "similarity to the voice",
    "similarity to the source",
    "pitch error (cents)",
    "voicing error",
)


def render_conversion_quality(*, table: str | os.PathLike, experiment: str, page: str | os.PathLike) -> None:
    """The Conversion page of numbers: the summary line and, per converted recording, its
    similarities and pitch error (``table``: convert.quality.measure_conversions's)."""
    quality = read_conversion_quality(table)
    out = Page(f"Conversion quality: {experiment}")
    summary = summary_line(quality)
    if summary is None:
        out.warning(
            "speaker similarity not measured: the speaker encoder's weights are absent",
            "rvc-pipeline pretrained fetch speaker_encoder",
        )
    else:
        out.text(summary[0].upper() + summary[1:] + ".")
    out.text(
        "Pitch error: mean |difference| in cents to the source's pitch moved by convert: {transpose}, "
        "over the frames voiced in both; voicing error: the share of frames voiced in one only."
    )
    formats = {"similarity_voice": ".2f", "similarity_source": ".2f", "f0_error_cents": ".0f", "voicing_error": ".2f"}
    rows = [(name, *(_number(row[key], spec) for key, spec in formats.items())) for name, row in quality.items()]
    out.table(QUALITY_COLUMNS, rows)
    out.write(page)


def _number(value: float, spec: str) -> str:
    return "not measured" if math.isnan(value) else format(value, spec)


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
