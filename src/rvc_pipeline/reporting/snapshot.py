"""``rvc-pipeline report``: one self-contained HTML page of every experiment's report pages as
they are now, built at any time.

``snakemake --report`` shows only the outputs of jobs that ran, and needs the workflow's lock
to be free of a running training. This reads what exists instead: the pages the report's rules
wrote (``results/{experiment}/report/``), and draws the Training page afresh from ``losses.tsv``
while a training runs, or after it failed or was stopped, naming the failure. It takes no lock
and writes nothing under the experiments.
"""

from __future__ import annotations

import html
import os
import tempfile
import time
from pathlib import Path

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.layout import RESULTS
from rvc_pipeline.reporting.page import STYLE
from rvc_pipeline.reporting.training import live_training_page
from rvc_pipeline.training.status import read_status

# The report's categories and, in the folder report/, their pages (as rules/report.smk names them).
CATEGORIES = (
    ("Data", ("data.html",)),
    ("Pitch", ("pitch.html",)),
    ("Training", ("training.html", "validation.html")),
    ("Index", ("index.html",)),
    ("Conversion", ("conversion/*.html",)),
)
LIVE_PAGE = "training.html"  # drawn afresh unless the training finished and its page exists


def build_report(results: str | os.PathLike = RESULTS, output: str | os.PathLike | None = None) -> list[str]:
    """Write ``output`` (default ``results/report.html``); return the pages it holds, as
    ``experiment/Category/page``."""
    root = Path(results)
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder {os.fspath(results)!r}: run the workflow first")
    target = Path(output) if output else root / "report.html"
    sections, shown = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for experiment in sorted(p for p in root.iterdir() if p.is_dir()):
            for category, pages in _pages(experiment, Path(scratch)):
                for name, document in pages:
                    anchor = f"{experiment.name}-{category}-{name}"
                    shown.append(f"{experiment.name}/{category}/{name}")
                    sections.append((anchor, f"{experiment.name} · {category} · {name}", document))
    nav = "".join(f'<li><a href="#{html.escape(a)}">{html.escape(t)}</a></li>' for a, t, _ in sections)
    body = "".join(
        f'<h2 id="{html.escape(a)}">{html.escape(t)}</h2>'
        f'<iframe srcdoc="{html.escape(doc)}" style="width:100%;height:85vh;border:1px solid #ccc"></iframe>'
        for a, t, doc in sections
    )
    built = time.strftime("%Y-%m-%d %H:%M:%S")
    empty = "" if sections else "<p>No report pages yet: run a step of the workflow first.</p>"
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>rvc-pipeline report</title>'
        f"<style>{STYLE}</style></head><body><h1>rvc-pipeline report</h1>"
        f"<p>The pages of {html.escape(os.path.abspath(root))} as they were at {built}.</p>"
        f"{empty}<ul>{nav}</ul>{body}</body></html>\n"
    )
    with atomic_path(target, durable=False) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return shown


def _pages(experiment: Path, scratch: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(category, [(page name, HTML)]) of one experiment, categories without a page left out."""
    folder = experiment / "report"
    found = []
    for category, patterns in CATEGORIES:
        pages = []
        for pattern in patterns:
            if pattern == LIVE_PAGE and _draw_training(experiment, folder / LIVE_PAGE):
                page = live_training_page(experiment, experiment.name, scratch / f"{experiment.name}.png")
                pages.append((Path(pattern).stem, page.document()))
                continue
            pages += [(path.stem, path.read_text(encoding="utf-8")) for path in sorted(folder.glob(pattern))]
        if pages:
            found.append((category, pages))
    return found


def _draw_training(experiment: Path, page: Path) -> bool:
    """Whether the Training page is drawn now: a training ran and its final page is missing or
    belongs to an earlier state (the training runs, failed or was stopped since)."""
    status = read_status(experiment)
    return status is not None and (status.state != "done" or not page.is_file())
