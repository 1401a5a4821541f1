"""The pretrained files behind a page (from the planning's check): file, SHA-256, status."""

from __future__ import annotations

import os
from collections.abc import Collection

from rvc_pipeline.pretrained.verify import read_experiment_checks, short_sha
from rvc_pipeline.reporting.page import Page


def pretrained_section(page: Page, experiment_folder: str | os.PathLike, roles: Collection[str]) -> None:
    """A "Pretrained files" table of the experiment's files with these roles (nothing if none)."""
    checks = [c for c in read_experiment_checks(experiment_folder) if c.role in roles]
    if not checks:
        return
    page.heading("Pretrained files")
    page.table(
        ["file", "role", "status", "SHA-256", "reason"],
        [[c.path, c.role, c.status, short_sha(c.sha256), c.reason] for c in checks],
    )
    for c in checks:
        if c.status in ("missing", "unusable"):
            page.warning(f"{c.path}: {c.reason}", "rvc-pipeline pretrained fetch (see pretrained/README.md)")
