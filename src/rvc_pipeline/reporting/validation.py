"""The validation page: for each saved epoch, one held-out segment as the model renders it, beside the
recording, as mel spectrograms and as audio."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from rvc_pipeline.audio import read_wav
from rvc_pipeline.training.filelist import filelist_wavs
from rvc_pipeline.training.history import best_epoch, read_history
from rvc_pipeline.layout import LOSSES
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.reporting.figures import note_figure, save_png
from rvc_pipeline.reporting.spectrograms import mel_pair
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.layout import VALIDATION_DIR

# A page shows in the report's frame only while it stays under the browser's limit for an address
# (about 2 MB of base64 in Chromium): a few epochs, not every saved one.
MAX_EPOCHS = 6


def renderings(state_dir: str | os.PathLike, segment: str) -> list[tuple[int, Path]]:
    """(epoch, wav) of the renderings of ``segment`` kept at each saved epoch, by epoch."""
    pattern = re.compile(rf"^{re.escape(segment)}_e(\d+)\.wav$")
    found = [
        (int(match.group(1)), path)
        for path in Path(state_dir, VALIDATION_DIR).glob(f"{segment}_e*.wav")
        if (match := pattern.match(path.name))
    ]
    return sorted(found)


def epochs_to_show(saved: list[int], best: int | None, count: int = MAX_EPOCHS) -> list[int]:
    """At most ``count`` of the saved epochs: the first, the last, the best and evenly spaced others."""
    if len(saved) <= count:
        return saved
    keep = {saved[0], saved[-1]} | ({best} if best in saved else set())
    spaced = [saved[round(k * (len(saved) - 1) / (count - 1))] for k in range(count)]
    for epoch in spaced:
        if len(keep) < count:
            keep.add(epoch)
    return sorted(keep)


def render_validation_audio(
    *,
    validation: str | os.PathLike,
    config: str | os.PathLike,
    state_dir: str | os.PathLike,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> int:
    """The validation page of ``experiment``; returns the number of saved epochs shown."""
    page = Page(f"Validation: {experiment}")
    held_out = filelist_wavs(validation)
    if not held_out:
        page.text("No held-out segments (train: validation_share is 0, or the experiment is too small).")
        save_png(note_figure("no validation segments"), figure)
        page.write(summary)
        return 0
    page.text(
        f"{len(held_out)} segments are held out of training: "
        + ", ".join(path.stem for path in held_out)
        + ". Each saved epoch renders the first through the inference path (no prior noise), "
        "from its features and pitch only; its mel L1 to the recording is the validation loss."
    )
    mel = MelConfig.from_hparams(json.loads(Path(config).read_text(encoding="utf-8")))
    truth, sr = read_wav(held_out[0])
    rendered_at = dict(renderings(state_dir, held_out[0].stem))
    best = best_epoch(read_history(Path(state_dir) / LOSSES), set(rendered_at))
    shown = [(epoch, rendered_at[epoch]) for epoch in epochs_to_show(sorted(rendered_at), best and best[0])]
    if len(shown) < len(rendered_at):
        page.text(
            f"{len(shown)} of the {len(rendered_at)} saved epochs: the first, the last, the best and some between."
        )
    if not shown:
        save_png(note_figure("no saved epoch rendered the validation segment"), figure)
    for number, (epoch, path) in enumerate(shown):
        rendered, _ = read_wav(path)
        pair = mel_pair(truth[: len(rendered)], rendered, mel, ("recording", f"model at epoch {epoch}"))
        if number == len(shown) - 1:
            save_png(pair, figure)
        page.heading(f"Epoch {epoch}" + (" (lowest validation loss)" if best and best[0] == epoch else ""))
        page.image(pair, f"mel spectrograms at epoch {epoch}", photo=True)
        page.audio(truth, sr, f"recording {held_out[0].name}")
        page.audio(rendered, sr, f"model at epoch {epoch}")
    page.write(summary)
    return len(shown)
