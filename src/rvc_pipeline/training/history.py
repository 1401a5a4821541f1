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

from rvc_pipeline.progress import format_duration
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
# Means over the held-out renderings of a saved epoch (rvc_pipeline.training.quality), by the
# key of quality.segment.measure_rendering; empty on other epochs and in files written before them.
QUALITY_COLUMNS = {
    "similarity_voice": "val_similarity_voice",
    "similarity_recording": "val_similarity_recording",
    "f0_error_cents": "val_f0_error_cents",
    "voicing_error": "val_voicing_error",
    "mcd_db": "val_mcd_db",
}
# The batch size per device of the epoch (``batch_size_cell``: "4", or "4>2" where it was halved).
BATCH_COLUMN = "batch_size"
TSV_COLUMNS = ("epoch", "step", "lr", "seconds", *LOSS_COLUMNS, VAL_COLUMN, BATCH_COLUMN, *QUALITY_COLUMNS.values())

Row = Mapping[str, Any]


def read_history(path: str | os.PathLike, last_epoch: int | None = None) -> list[dict[str, str]]:
    """The rows of ``losses.tsv`` up to ``last_epoch`` (later rows belong to a run cut short).

    Files written before the validation, batch size or quality columns existed read with them empty.
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


# Criteria of ``train: {best_by}``: the column and whether higher is better. speaker_similarity is
# the mean similarity of the held-out renderings to the training voice.
BEST_BY = {
    "val_loss_mel": (VAL_COLUMN, False),
    "speaker_similarity": (QUALITY_COLUMNS["similarity_voice"], True),
}
# The quality columns' direction, for marking each one's best epoch.
HIGHER_IS_BETTER = {column: column.startswith("val_similarity") for column in QUALITY_COLUMNS.values()}


def best_epoch(
    history: Sequence[Row], epochs: set[int] | None = None, column: str = VAL_COLUMN, highest: bool = False
) -> tuple[int, float] | None:
    """(epoch, value) of the lowest ``column`` (the highest with ``highest``), among ``epochs`` if
    given; the earliest such epoch on a tie. None when no epoch has a value."""
    scored = [
        (-value(row, column) if highest else value(row, column), int(row["epoch"]))
        for row in history
        if not math.isnan(value(row, column)) and (epochs is None or int(row["epoch"]) in epochs)
    ]
    if not scored:
        return None
    score, epoch = min(scored)
    return epoch, -score if highest else score


def best_epoch_by(history: Sequence[Row], criterion: str, epochs: set[int] | None = None) -> tuple[int, float] | None:
    """`best_epoch` by a criterion of `BEST_BY`."""
    column, highest = BEST_BY[criterion]
    return best_epoch(history, epochs, column, highest)


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


def batch_size_cell(started: int, ended: int) -> str:
    """The batch size column of an epoch: ``"4"``, or ``"4>2"`` when it was halved during the epoch."""
    return str(ended) if started == ended else f"{started}>{ended}"


def batch_sizes(history: Sequence[Row]) -> str:
    """The batch size per device over the epochs and where it was halved after running out of
    device memory ("-" for a history written before the column)."""
    cells = [(row["epoch"], row[BATCH_COLUMN]) for row in history if row.get(BATCH_COLUMN)]
    if not cells:
        return "-"
    text = cells[0][1].split(">")[0]
    for epoch, cell in cells:
        for size in cell.split(">")[1:]:
            text += f", halved to {size} in epoch {epoch} (out of device memory)"
    return text


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
