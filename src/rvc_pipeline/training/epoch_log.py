"""What a run says after each epoch: the epoch line and the overtraining warning (log and console),
and TensorBoard's event file in the state folder (as RVC's ``logs/{experiment}``), when asked for."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rvc_pipeline.options import TrainOptions
from rvc_pipeline.progress import log_progress
from rvc_pipeline.training.history import QUALITY_COLUMNS, VAL_COLUMN, epoch_line, overtraining_warning

log = logging.getLogger(__name__)


def event_writer(state_dir: Path, options: TrainOptions) -> Any:
    """A TensorBoard SummaryWriter into the state folder (as RVC's logs/{experiment}), if asked and installed."""
    if not options.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning(
            "train: tensorboard is on but the tensorboard package is not installed "
            "(pip install tensorboard): no event files are written"
        )
        return None
    return SummaryWriter(log_dir=str(state_dir))


def log_epoch(name: str, history: list[dict[str, Any]], options: TrainOptions, events: Any) -> None:
    """The epoch line (log and console), the overtraining warning when it first fires, the event file."""
    log_progress(f"train {name}: " + epoch_line(history, len(history) - 1, options.epochs))
    warning = overtraining_warning(history, options.patience)
    if warning and not overtraining_warning(history[:-1], options.patience):
        log_progress(f"train {name}: WARNING {warning}", level=logging.WARNING)
    last = history[-1]
    if events is not None and last[VAL_COLUMN]:
        events.add_scalar("loss/val/mel", float(last[VAL_COLUMN]), int(last["step"]))
    if events is not None:
        for column in QUALITY_COLUMNS.values():
            if last.get(column):
                events.add_scalar(f"quality/{column}", float(last[column]), int(last["step"]))
