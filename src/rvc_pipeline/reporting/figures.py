"""matplotlib figures for the report pages, drawn with the Agg backend (no display, thread-safe:
no pyplot state, every figure is its own object). Spectrograms, which need torch, are in
``spectrograms``: the other figure jobs do not import it."""

from __future__ import annotations

import io
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rvc_pipeline.atomic import atomic_path


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(figure: Figure, file_format: str = "png") -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format)
    return buffer.getvalue()


def save_png(figure: Figure, path: str | os.PathLike) -> Figure:
    """Write the figure as PNG, atomically; returns it (to show it on a page too)."""
    data = figure_bytes(figure)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return figure


def note_figure(text: str) -> Figure:
    """A small figure that only says why there is nothing to draw."""
    figure = new_figure(6, 1.2)
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return figure
