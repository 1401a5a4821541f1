"""Log-mel spectrogram figures: the training's own mel (torch), for the pages that render audio."""

from __future__ import annotations

import numpy as np
import torch

from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.reporting.figures import Figure, new_figure


def log_mel(samples: np.ndarray, mel: MelConfig) -> np.ndarray:
    """The training's log-mel [n_mels, frames] of mono samples at ``mel.sampling_rate``."""
    with torch.no_grad():
        return mel.mel_spectrogram(torch.from_numpy(np.asarray(samples, np.float32))[None])[0].numpy()


def draw_mel(axes, spectrogram: np.ndarray, mel: MelConfig, title: str, limits: tuple[float, float]) -> None:
    """A log-mel spectrogram on ``axes``, time in seconds, colours over ``limits`` (shared by a pair)."""
    seconds = spectrogram.shape[1] * mel.hop_length / mel.sampling_rate
    image = axes.imshow(
        spectrogram,
        origin="lower",
        aspect="auto",
        extent=(0, seconds, 0, spectrogram.shape[0]),
        vmin=limits[0],
        vmax=limits[1],
        cmap="magma",
    )
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("seconds")
    axes.set_ylabel("mel bin")
    return image


def mel_pair(left: np.ndarray, right: np.ndarray, mel: MelConfig, titles: tuple[str, str]) -> Figure:
    """Two log-mels side by side on one colour scale (ground truth beside a rendering)."""
    figure = new_figure(10, 3)
    left_mel, right_mel = log_mel(left, mel), log_mel(right, mel)
    limits = (min(left_mel.min(), right_mel.min()), max(left_mel.max(), right_mel.max()))
    axes = figure.subplots(1, 2, sharey=True)
    draw_mel(axes[0], left_mel, mel, titles[0], limits)
    image = draw_mel(axes[1], right_mel, mel, titles[1], limits)
    figure.colorbar(image, ax=axes, label="log mel")
    return figure
