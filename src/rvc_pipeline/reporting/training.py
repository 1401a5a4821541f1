"""The Training page: loss curves per epoch, the validation loss, the epoch lines and the stopping advice."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from rvc_pipeline.history import (
    VAL_COLUMN,
    Row,
    best_epoch,
    eta_seconds,
    first_overtraining,
    format_duration,
    read_history,
    steps_per_second,
    value,
)
from rvc_pipeline.reporting.figures import Figure, new_figure, note_figure, save_png
from rvc_pipeline.reporting.page import Page

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


def _curves(history: Sequence[Row], marks: dict[str, int], figure_path: str | os.PathLike) -> Figure:
    if not history:
        return save_png(note_figure("no epoch trained"), figure_path)
    epochs = [int(row["epoch"]) for row in history]
    figure = new_figure(14, 8)
    grid = figure.add_gridspec(3, 4)
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
    overtraining = first_overtraining(history, patience)
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
            "training time": f"{sum(value(row, 'seconds') for row in history) / 60:.1f} min",
        }
    )
    if overtraining:
        page.warning(f"from epoch {overtraining[0]} on: {overtraining[1]}")
    elif best:
        page.ok(f"No sign of overtraining (patience {patience} epochs).")
    marks = {f"lowest validation loss (epoch {best[0]})": best[0]} if best else {}
    if overtraining:
        marks[f"overtraining warning (epoch {overtraining[0]})"] = overtraining[0]
    page.image(_curves(history, marks, figure), "loss curves")
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
    page.write(summary)
    return overtraining[1] if overtraining else None
