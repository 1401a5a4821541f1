"""What the training of an experiment is doing, for a report built while it runs or after it failed.

The train_model job writes ``training_status.json`` in the state folder when it starts (the
epochs it trains to, the patience of the overtraining warning), when it fails or is stopped (the
error) and when it is done. A process killed outright leaves "running" without the training lock
held: ``describe`` says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.locks import lock_holder

STATUS_FILE = "training_status.json"


@dataclass(frozen=True)
class TrainingStatus:
    state: str  # running | done | failed | stopped
    epochs: int
    patience: int
    error: str = ""


def write_status(state_dir: str | os.PathLike, status: TrainingStatus) -> None:
    with atomic_path(Path(state_dir) / STATUS_FILE, durable=False) as tmp:
        tmp.write_text(json.dumps(asdict(status), indent=1) + "\n", encoding="utf-8")


def read_status(state_dir: str | os.PathLike) -> TrainingStatus | None:
    try:
        return TrainingStatus(**json.loads((Path(state_dir) / STATUS_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def describe(state_dir: str | os.PathLike, status: TrainingStatus) -> tuple[bool, str]:
    """(whether all is well, one line for the report): running (and by whom), done, or why it ended."""
    if status.state == "running":
        holder = lock_holder(state_dir)
        if holder:
            return True, f"training in progress ({holder}); the epochs below are those finished so far"
        return False, "the training process ended without a word (killed?); a rerun resumes from the last saved epoch"
    if status.state == "done":
        return True, "training finished"
    return False, f"training {status.state}: {status.error}"
