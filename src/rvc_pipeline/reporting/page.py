"""A self-contained HTML page: headings, tables, warnings with their fix, figures and audio players.

Snakemake's report shows an HTML result in a frame from a data URI, so everything a page shows is
inside it: figures as base64 PNG, audio as base64 Ogg/Opus.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.reporting.figures import Figure, figure_bytes

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; max-width: 80em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.4em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warning { background: #fff4e0; border-left: 4px solid #e69500; padding: 0.4em 0.8em; margin: 0.5em 0; }
.ok { background: #eef8ee; border-left: 4px solid #3a3; padding: 0.4em 0.8em; margin: 0.5em 0; }
.fix { color: #555; } img { max-width: 100%; }
.pair { display: flex; gap: 1em; flex-wrap: wrap; align-items: center; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return '<td class="num">-</td>' if math.isnan(value) else f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


class Page:
    """Collects the parts of one page; ``write`` saves it atomically."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def facts(self, facts: dict[str, Any]) -> None:
        """A two-column table of named values."""
        self.table(["", ""], list(facts.items()), header=False)

    def warning(self, text: str, fix: str = "") -> None:
        fix_html = f' <span class="fix">Fix: {html.escape(fix)}</span>' if fix else ""
        self.parts.append(f'<div class="warning"><b>Warning:</b> {html.escape(text)}{fix_html}</div>')

    def ok(self, text: str) -> None:
        self.parts.append(f'<div class="ok">{html.escape(text)}</div>')

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], header: bool = True) -> None:
        head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>" if header else ""
        body = "".join("<tr>" + "".join(map(_cell, row)) + "</tr>" for row in rows)
        self.parts.append(f"<table>{head}{body}</table>")

    def image(self, figure: Figure, alt: str, photo: bool = False) -> None:
        """The figure, embedded: PNG for plots, JPEG for spectrograms (``photo``), which PNG packs badly."""
        kind = "jpeg" if photo else "png"
        data = base64.b64encode(figure_bytes(figure, kind)).decode("ascii")
        self.parts.append(f'<img alt="{html.escape(alt)}" src="data:image/{kind};base64,{data}">')

    def audio(self, samples: np.ndarray, sr: int, label: str) -> None:
        """An audio player (embedded Ogg/Opus) with its label."""
        from rvc_pipeline.audio import encode_ogg_opus  # av: only the pages that play audio load it

        data = base64.b64encode(encode_ogg_opus(samples, sr)).decode("ascii")
        self.parts.append(
            f'<div class="pair"><audio controls preload="metadata" src="data:audio/ogg;base64,{data}"></audio>'
            f"<span>{html.escape(label)}</span></div>"
        )

    def document(self) -> str:
        """The whole document."""
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(self.parts)}</body></html>\n"
        )

    def write(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(self.document(), encoding="utf-8")
