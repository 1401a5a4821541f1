"""The Index page: rows, IVF lists and their fill, build time of the retrieval index."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from rvc_pipeline.index.retrieval import added_index
from rvc_pipeline.reporting.figures import new_figure, save_png
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.tables import read_tsv


def build_seconds(benchmark: str | os.PathLike) -> float | None:
    """Wall-clock seconds of the ``train_index`` job from its Snakemake benchmark file, if there is one."""
    if not Path(benchmark).is_file():
        return None
    rows = read_tsv(benchmark)
    return float(rows[-1]["s"]) if rows else None


def plot_index(
    *,
    index_dir: str | os.PathLike,
    benchmark: str | os.PathLike,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> dict:
    """The Index page of ``experiment``; returns its facts."""
    path = added_index(index_dir)
    index = faiss.read_index(str(path))
    ivf = faiss.extract_index_ivf(index)
    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)])
    seconds = build_seconds(benchmark)
    facts = {
        "index file": path.name,
        "rows": int(index.ntotal),
        "dimensions": int(index.d),
        "n_ivf (lists)": int(ivf.nlist),
        "rows per list (mean, min-max)": f"{sizes.mean():.1f}, {sizes.min()}-{sizes.max()}",
        "build time": f"{seconds:.1f} s" if seconds is not None else "unknown (no benchmark file)",
        "size on disk": f"{path.stat().st_size / 2**20:.1f} MiB",
    }
    plot = new_figure(8, 3)
    axes = plot.subplots()
    axes.hist(sizes, bins=min(40, max(5, len(sizes))), color="#55a868")
    axes.set_xlabel("rows in an IVF list")
    axes.set_ylabel("lists")
    axes.set_title(f"Fill of the {ivf.nlist} IVF lists ({index.ntotal} rows)", fontsize=10)
    page = Page(f"Index: {experiment}")
    page.facts(facts)
    page.image(save_png(plot, figure), "IVF list sizes")
    page.write(summary)
    return facts
