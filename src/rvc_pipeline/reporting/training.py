"""The Training page: loss curves per epoch, the validation loss, the epoch lines and the stopping advice."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from rvc_pipeline.training.history import (
    BEST_BY,
    HIGHER_IS_BETTER,
    QUALITY_COLUMNS,
    VAL_COLUMN,
    Row,
    batch_sizes,
    best_epoch,
    best_epoch_by,
    eta_seconds,
    first_overtraining,
    read_history,
    steps_per_second,
    value,
)
from rvc_pipeline.layout import LOSSES
from rvc_pipeline.progress import format_duration
from rvc_pipeline.reporting.figures import Figure, new_figure, note_figure, save_png
from rvc_pipeline.reporting.page import Page
from rvc_pipeline.reporting.pretrained import pretrained_section
from rvc_pipeline.training.status import describe, read_status

# (panel title, columns drawn in it), in the order of RVC's TensorBoard scalars
PANELS = (
    ("discriminator (loss/d/total)", ("loss_disc",)),
    ("generator adversarial (loss/g/gen)", ("loss_gen",)),
    ("feature matching (loss/g/fm)", ("loss_fm",)),
    ("mel (loss/g/mel)", ("loss_mel",)),
    ("KL (loss/g/kl)", ("loss_kl",)),
    ("generator total (loss/g/total)", ("loss_gen_all",)),
    ("learning rate", ("lr",)),
    ("gradient norms", ("grad_norm_d", "grad_norm_g")),
)
# The held-out renderings of the saved epochs (rvc_pipeline.training.quality), one row below.
QUALITY_PANELS = (
    ("speaker similarity (higher: more like the voice)", ("val_similarity_voice", "val_similarity_recording")),
    ("F0 error in cents (voiced frames)", ("val_f0_error_cents",)),
    ("voicing error (share of frames)", ("val_voicing_error",)),
    ("mel-cepstral distortion (dB)", ("val_mcd_db",)),
)


def _measured(history: Sequence[Row]) -> bool:
    return any(row.get(column) for row in history for column in QUALITY_COLUMNS.values())


def _quality_row(figure: Figure, grid: Any, history: Sequence[Row]) -> None:
    """The quality of the held-out renderings on the saved epochs, each measure's best epoch marked."""
    for number, (title, columns) in enumerate(QUALITY_PANELS):
        axes = figure.add_subplot(grid[3, number])
        for column in columns:
            rows = [row for row in history if row.get(column)]
            axes.plot([int(row["epoch"]) for row in rows], [value(row, column) for row in rows], marker="o",
                      label=column.removeprefix("val_"))
            best = best_epoch(history, column=column, highest=HIGHER_IS_BETTER[column])
            if best is not None:
                axes.axvline(best[0], color="#4a4", linestyle=":", linewidth=1)
                axes.annotate(f"best: epoch {best[0]}", (best[0], best[1]), fontsize=7)
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("epoch (saved)")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(columns) > 1:
            axes.legend(fontsize=7)


def _curves(history: Sequence[Row], marks: dict[str, int], figure_path: str | os.PathLike) -> Figure:
    if not history:
        return save_png(note_figure("no epoch trained"), figure_path)
    epochs = [int(row["epoch"]) for row in history]
    measured = _measured(history)
    figure = new_figure(14, 11 if measured else 8)
    grid = figure.add_gridspec(4 if measured else 3, 4)
    for number, (title, columns) in enumerate(PANELS):
        axes = figure.add_subplot(grid[number // 4, number % 4])
        for column in columns:
            axes.plot(epochs, [value(row, column) for row in history], marker=".", label=column)
        axes.set_title(title, fontsize=9)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 4))
        if len(columns) > 1:
            axes.legend(fontsize=7)
    # The validation loss below, on the scale of the training mel loss it is compared with.
    axes = figure.add_subplot(grid[2, :])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.plot(epochs, [value(row, "loss_mel") for row in history], marker=".", label="training mel loss")
    axes.plot(epochs, [value(row, VAL_COLUMN) for row in history], marker="o", label="validation mel loss")
    for label, epoch in marks.items():
        axes.axvline(epoch, color="#c44" if "overtraining" in label else "#4a4", linestyle="--", label=label)
    axes.set_title(
        "validation mel loss (held-out segments, inference path) and training mel loss", fontsize=9
    )
    axes.set_xlabel("epoch")
    axes.legend(fontsize=8)
    if measured:
        _quality_row(figure, grid, history)
    return save_png(figure, figure_path)


def plot_training(
    *,
    trained: str | os.PathLike,
    losses: str | os.PathLike,
    epochs: int,
    patience: int,
    export: str,
    experiment: str,
    summary: str | os.PathLike,
    figure: str | os.PathLike,
) -> str | None:
    """The Training page of ``experiment`` from ``losses.tsv``; returns the overtraining warning, if any."""
    done = json.loads(Path(trained).read_text(encoding="utf-8"))
    history = read_history(losses, int(done["epoch"]))
    best = best_epoch(history)
    page = Page(f"Training: {experiment}")
    saved_best = done.get("best")
    exported = saved_best if export == "best" and saved_best else done
    page.facts(
        {
            "epochs trained": f"{done['epoch']} of {epochs}",
            "lowest validation loss": (
                f"{best[1]:.4f} at epoch {best[0]}" if best else "no validation segments"
            ),
            "best saved checkpoint": (
                f"epoch {saved_best['epoch']} ({Path(saved_best['G']).name})" if saved_best else "-"
            ),
            "exported model": f"epoch {exported['epoch']} (export: {export})",
            "batch size (per device)": batch_sizes(history),
            "training time": f"{sum(value(row, 'seconds') for row in history) / 60:.1f} min",
        }
    )
    overtraining = _epochs(page, history, epochs, patience, figure)
    pretrained_section(page, Path(trained).parent, ("generator", "discriminator"))
    page.write(summary)
    return overtraining


def live_training_page(state_dir: str | os.PathLike, experiment: str, figure: str | os.PathLike) -> Page | None:
    """The Training page as things stand, for a report built during a training or after it failed:
    the epochs finished so far and the state of the training (the failure, if any). None when the
    experiment was never trained."""
    status = read_status(state_dir)
    if status is None:
        return None
    history = read_history(Path(state_dir) / LOSSES)
    best = best_epoch(history)
    fine, state = describe(state_dir, status)
    page = Page(f"Training: {experiment}")
    if fine:
        page.ok(state)
    else:
        page.warning(state)
    page.facts(
        {
            "epochs finished": f"{history[-1]['epoch'] if history else 0} of {status.epochs}",
            "lowest validation loss": f"{best[1]:.4f} at epoch {best[0]}" if best else "-",
            "batch size (per device)": batch_sizes(history),
            "training time": f"{sum(value(row, 'seconds') for row in history) / 60:.1f} min",
        }
    )
    _epochs(page, history, status.epochs, status.patience, figure)
    pretrained_section(page, Path(state_dir), ("generator", "discriminator"))
    return page


def _epochs(
    page: Page, history: Sequence[Row], epochs: int, patience: int, figure: str | os.PathLike
) -> str | None:
    """The overtraining verdict, the loss curves and the table of epochs; returns the warning, if any."""
    best = best_epoch(history)
    overtraining = first_overtraining(history, patience)
    if overtraining:
        page.warning(f"from epoch {overtraining[0]} on: {overtraining[1]}")
    elif best:
        page.ok(f"No sign of overtraining (patience {patience} epochs).")
    marks = {f"lowest validation loss (epoch {best[0]})": best[0]} if best else {}
    if overtraining:
        marks[f"overtraining warning (epoch {overtraining[0]})"] = overtraining[0]
    page.image(_curves(history, marks, figure), "loss curves")
    if _measured(history):
        page.text(
            "Quality of the held-out renderings at the saved epochs (bottom row; README: Reading the quality "
            "numbers). The epoch each export criterion (train: best_by) picks: "
            + "; ".join(
                f"{criterion}: " + (f"epoch {best[0]} ({best[1]:.4f})" if best else "not measured")
                for criterion, best in ((c, best_epoch_by(history, c)) for c in BEST_BY)
            )
            + "."
        )
    page.heading("Epochs")
    page.text("As the training printed them at the end of each epoch (ETA: the time left at that epoch).")
    page.table(
        [
            "epoch",
            "step",
            "seconds",
            "steps/s",
            "ETA",
            "loss_mel",
            "val_loss_mel",
            "loss_gen_all",
            "loss_disc",
            "lr",
        ],
        [
            [
                int(row["epoch"]),
                int(row["step"]),
                round(value(row, "seconds"), 1),
                round(steps_per_second(history, index), 2),
                format_duration(eta_seconds(history, index, epochs)),
                *(
                    value(row, column)
                    for column in ("loss_mel", VAL_COLUMN, "loss_gen_all", "loss_disc", "lr")
                ),
            ]
            for index, row in enumerate(history)
        ],
    )
    return overtraining[1] if overtraining else None
