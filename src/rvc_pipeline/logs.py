"""Logging set-up shared by the rule scripts and the CLI."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def to_rule_log(path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    """Send the package's log records (and warnings) to a rule's log file, or stderr if None."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rvc_pipeline", False):
            root.removeHandler(handler)
            handler.close()
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._rvc_pipeline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
