"""The training history (``losses.tsv``, one row per epoch) and what is read from it.

Light on purpose (no torch): the training loop writes it, the report and the export read it, and
both say the same things from it: the epoch line with its speed and ETA, the overtraining
warning, the best epoch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rvc_pipeline.tables import read_tsv, write_tsv

LOSS_COLUMNS = (
    "loss_disc",
    "loss_gen",
    "loss_fm",
    "loss_mel",
    "loss_kl",
    "loss_gen_all",
    "grad_norm_d",
    "grad_norm_g",
)
# Mel L1 (times c_mel, the scale of loss_mel) of the held-out segments through the inference path.
VAL_COLUMN = "val_loss_mel"
TSV_COLUMNS = ("epoch", "step", "lr", "seconds", *LOSS_COLUMNS, VAL_COLUMN)

Row = Mapping[str, Any]


def read_history(path: str | os.PathLike, last_epoch: int | None = None) -> list[dict[str, str]]:
    """The rows of ``losses.tsv`` up to ``last_epoch`` (later rows belong to a run cut short).

    Files written before the validation column existed read with an empty ``val_loss_mel``.
    """
    if not Path(path).is_file():
        return []
    rows = [{**dict.fromkeys(TSV_COLUMNS, ""), **row} for row in read_tsv(path)]
    return [row for row in rows if last_epoch is None or int(row["epoch"]) <= last_epoch]


def write_history(path: str | os.PathLike, rows: Sequence[Row]) -> None:
    write_tsv(path, TSV_COLUMNS, rows)


def value(row: Row, column: str) -> float:
    """A column as a float; NaN where empty (no validation that epoch)."""
    text = row.get(column, "")
    return float(text) if text not in ("", None) else math.nan


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` of a duration (``-:--:--`` when unknown)."""
    if not math.isfinite(seconds):
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def steps_per_second(history: Sequence[Row], index: int) -> float:
    """Training steps per second of epoch ``history[index]`` (the history starts at epoch 1)."""
    row = history[index]
    previous = int(history[index - 1]["step"]) if index > 0 else 0
    seconds = value(row, "seconds")
    return (int(row["step"]) - previous) / seconds if seconds > 0 else math.nan


def eta_seconds(history: Sequence[Row], index: int, total_epochs: int) -> float:
    """Seconds left after epoch ``history[index]``: the remaining epochs at the mean epoch time so far."""
    times = [value(row, "seconds") for row in history[: index + 1]]
    remaining = total_epochs - int(history[index]["epoch"])
    return remaining * sum(times) / len(times)


def best_epoch(history: Sequence[Row], epochs: set[int] | None = None) -> tuple[int, float] | None:
    """(epoch, validation loss) of the lowest validation loss, among ``epochs`` if given."""
    scored = [
        (value(row, VAL_COLUMN), int(row["epoch"]))
        for row in history
        if not math.isnan(value(row, VAL_COLUMN)) and (epochs is None or int(row["epoch"]) in epochs)
    ]
    if not scored:
        return None
    loss, epoch = min(scored)
    return epoch, loss


def overtraining_warning(history: Sequence[Row], patience: int) -> str | None:
    """The warning for the last epoch of ``history``, or None.

    It fires when the validation loss has not improved on its best for ``patience`` epochs while
    the training mel loss is still below what it was at that best epoch: the model keeps fitting
    its training segments and no longer gets better on segments it never saw.
    """
    best = best_epoch(history)
    if best is None or patience < 1:
        return None
    epoch, loss = best
    last = history[-1]
    stale = int(last["epoch"]) - epoch
    at_best = next(row for row in history if int(row["epoch"]) == epoch)
    train_then, train_now = value(at_best, "loss_mel"), value(last, "loss_mel")
    if stale < patience or not train_now < train_then:
        return None
    return (
        f"possible overtraining: the validation mel loss was lowest at epoch {epoch} ({loss:.4f}) and "
        f"has not improved for {stale} epochs, while the training mel loss fell from {train_then:.4f} "
        f"to {train_now:.4f}; export that epoch (train: {{export: best}}) or train fewer epochs"
    )


def first_overtraining(history: Sequence[Row], patience: int) -> tuple[int, str] | None:
    """(epoch, warning) of the first epoch at which ``overtraining_warning`` fired, or None."""
    for end in range(1, len(history) + 1):
        warning = overtraining_warning(history[:end], patience)
        if warning:
            return int(history[end - 1]["epoch"]), warning
    return None


def epoch_line(history: Sequence[Row], index: int, total_epochs: int) -> str:
    """The progress line of epoch ``history[index]``: speed, ETA, the losses and the validation loss."""
    row = history[index]
    val = value(row, VAL_COLUMN)
    best = best_epoch(history[: index + 1])
    val_text = "val_loss_mel=-" if math.isnan(val) else f"val_loss_mel={val:.4f}"
    if best is not None:
        val_text += f" (best {best[1]:.4f} at epoch {best[0]})"
    losses = " ".join(f"{k}={value(row, k):.4f}" for k in LOSS_COLUMNS)
    return (
        f"epoch {row['epoch']}/{total_epochs} step {row['step']} {value(row, 'seconds'):.1f}s "
        f"{steps_per_second(history, index):.2f} steps/s ETA {format_duration(eta_seconds(history, index, total_epochs))} "
        f"{val_text} {losses} lr={value(row, 'lr'):.6g}"
    )
