"""The dataset report: one row per input entry, saying what became of it and why."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rvc_pipeline.preprocess.sources import Excluded
from rvc_pipeline.tables import read_tsv, write_tsv


@dataclass
class SourceReport:
    """What step 2a made of one entry of ``input_dir``."""

    source: str
    name: str = ""
    status: str = "ok"  # ok | partial | empty | dropped | skipped | duplicate | ignored | warning
    reason: str = ""
    duration_s: float = 0.0
    segments: int = 0
    peak: float = 0.0
    clipped_fraction: float = 0.0
    dropped: str = ""
    repaired: int = 0  # non-finite samples interpolated


COLUMNS = [f.name for f in fields(SourceReport)]


def _cells(row: SourceReport) -> dict:
    return {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in asdict(row).items()}


def _write(rows: list[SourceReport], path: str | os.PathLike) -> None:
    write_tsv(path, COLUMNS, map(_cells, rows))


def read_reports(path: str | os.PathLike) -> list[SourceReport]:
    """Read a report TSV back into rows."""
    types = {f.name: f.type for f in fields(SourceReport)}
    cast = {"float": float, "int": int}
    return [SourceReport(**{k: cast.get(types[k], str)(v) for k, v in row.items()}) for row in read_tsv(path)]


def write_source_report(report: SourceReport, path: str | os.PathLike) -> None:
    """Write the one-row report of a single source (merged later by ``merge_reports``)."""
    _write([report], path)


def entry_rows(source_reports: list[str | os.PathLike], excluded: Excluded) -> list[SourceReport]:
    """One row per entry of the input: the per-source reports and the entries never sliced
    (entry -> (status, reason)), by entry name."""
    rows = [row for path in source_reports for row in read_reports(path)]
    rows += [SourceReport(source=entry, status=status, reason=reason) for entry, (status, reason) in excluded.items()]
    return sorted(rows, key=lambda r: r.source)


def merge_reports(
    source_reports: list[str | os.PathLike],
    excluded: Excluded,
    warnings: list[str],
    out_path: str | os.PathLike,
) -> list[SourceReport]:
    """Write the rows of ``entry_rows`` and then the warnings."""
    rows = entry_rows(source_reports, excluded)
    rows += [SourceReport(source="*", status="warning", reason=text) for text in warnings]
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    _write(rows, out_path)
    return rows
