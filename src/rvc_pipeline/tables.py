"""The tab-separated tables the workflow writes (reports, the training history) and reads back.

One header line, then one line per row; a field holding a tab, quote or line break is quoted
as the csv module does. Written atomically.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rvc_pipeline.atomic import atomic_path


def write_tsv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write ``rows`` under the header ``columns``; a row's other keys are left out, missing ones empty."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_tsv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a table with a header line (Snakemake's benchmark files too), as strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))
