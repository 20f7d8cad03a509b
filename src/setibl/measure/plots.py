"""Pictures as PNG files, drawn with matplotlib without a display."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from setibl.io import atomic_write_bytes  # noqa: E402

SCAN_NAMES = ("A (ON)", "B (OFF)", "A (ON)", "C (OFF)", "A (ON)", "D (OFF)")


def save_figure(figure: plt.Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``figure`` as PNG atomically and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_cadence(
    cadence: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    notes: Sequence[str] = (),
) -> Path:
    """Six scans (scans, time, channels) as a column of waterfalls; ``notes`` go under the title."""
    scans = cadence.shape[0]
    figure, axes = plt.subplots(scans, 1, figsize=(6, 1.4 * scans + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    low, high = np.percentile(cadence, [1, 99.8])
    for index, axis in enumerate(axes):
        axis.imshow(
            cadence[index].astype(np.float32),
            aspect="auto",
            cmap="viridis",
            vmin=low,
            vmax=high,
            interpolation="nearest",
        )
        name = SCAN_NAMES[index] if scans == len(SCAN_NAMES) else f"scan {index}"
        axis.set_ylabel(name, fontsize=8)
        axis.tick_params(labelsize=7)
    axes[-1].set_xlabel("frequency channel")
    heading = "\n".join([title, *notes]) if notes else title
    if heading:
        figure.suptitle(heading, fontsize=9)
    return save_figure(figure, path)


def plot_augmented_batch(
    images: np.ndarray, path: str | os.PathLike, ids: Sequence[str] = (), columns: int = 3
) -> Path:
    """Rows of samples, columns of their first ``columns`` channels (the ON scans for on3)."""
    rows = images.shape[0]
    columns = min(columns, images.shape[-1])
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.6 * rows), squeeze=False)
    for row in range(rows):
        for column in range(columns):
            axis = axes[row, column]
            axis.imshow(
                images[row, :, :, column], aspect="auto", cmap="viridis", interpolation="nearest"
            )
            axis.set_xticks([])
            axis.set_yticks([])
            label = ids[row] if row < len(ids) else f"sample {row}"
            axis.set_title(f"{label} ch {column}", fontsize=8)
    figure.suptitle("augmented training samples", fontsize=10)
    return save_figure(figure, path)


def plot_class_distribution(targets: Sequence[int], path: str | os.PathLike) -> Path:
    values, counts = np.unique(np.asarray(targets), return_counts=True)
    figure, axis = plt.subplots(figsize=(4, 3))
    axis.bar(
        [f"target {int(v)}" for v in values], counts, color=["#4c72b0", "#dd8452"][: len(values)]
    )
    for index, count in enumerate(counts):
        axis.text(
            index,
            count,
            f"{count} ({count / counts.sum():.1%})",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axis.set_ylabel("cadences")
    axis.set_title("class distribution")
    return save_figure(figure, path)


def plot_schedule(rates: Sequence[float], path: str | os.PathLike) -> Path:
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.plot(range(len(rates)), rates, marker="o")
    axis.set_xlabel("epoch")
    axis.set_ylabel("learning rate")
    axis.set_title("learning-rate schedule")
    axis.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    return save_figure(figure, path)


def plot_training_curves(histories: dict[int, object], path: str | os.PathLike) -> Path:
    """Per fold: train/val AUC and loss by epoch; best (max val AUC) and min val loss marked."""
    folds = sorted(histories)
    figure, axes = plt.subplots(
        len(folds), 2, figsize=(10, 2.8 * len(folds)), squeeze=False, constrained_layout=True
    )
    for row, fold in enumerate(folds):
        history = histories[fold]
        epochs = history["epoch"].to_numpy()
        for column, metric in enumerate(("auc", "loss")):
            axis = axes[row, column]
            axis.plot(epochs, history[metric], label=f"train {metric}")
            if f"val_{metric}" in history:
                axis.plot(epochs, history[f"val_{metric}"], label=f"val {metric}")
                values = history[f"val_{metric}"].to_numpy()
                best = int(np.argmax(values) if metric == "auc" else np.argmin(values))
                label = "best epoch" if metric == "auc" else "min val loss"
                axis.axvline(epochs[best], color="grey", linestyle="--", label=label)
                axis.scatter([epochs[best]], [values[best]], color="red", zorder=3)
            axis.set_title(f"fold {fold}: {metric}", fontsize=9)
            axis.set_xlabel("epoch")
            axis.legend(fontsize=7)
    return save_figure(figure, path)


def plot_histogram(
    values: Sequence[float], path: str | os.PathLike, title: str = "test predictions"
) -> Path:
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.hist(np.asarray(values), bins=50, color="#4c72b0")
    axis.set_xlabel("P(needle)")
    axis.set_ylabel("cadences")
    axis.set_title(title)
    return save_figure(figure, path)


def plot_roc(curves: dict[str, dict], path: str | os.PathLike) -> Path:
    """``curves``: name -> {"fpr": [...], "tpr": [...], "auc": float}."""
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    for name, curve in curves.items():
        axis.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {curve['auc']:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis.set_xlabel("false-positive rate")
    axis.set_ylabel("true-positive rate")
    axis.set_title("ROC")
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def plot_recall(
    tables: dict[str, object], path: str | os.PathLike, xlabel: str, fpr: float
) -> Path:
    """Recall per bin with its interval; ``tables``: detector name -> recall table."""
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for name, table in tables.items():
        centres = (table["low"] + table["high"]) / 2
        low = table["recall"] - table["recall_low"]
        high = table["recall_high"] - table["recall"]
        axis.errorbar(centres, table["recall"], yerr=[low, high], marker="o", capsize=3, label=name)
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(f"recall at FPR {fpr:.0%}")
    axis.set_title(f"injection-recovery: recall vs {xlabel}")
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def plot_gallery(
    cadences: Sequence[np.ndarray], titles: Sequence[str], path: str | os.PathLike, heading: str
) -> Path:
    """Cadences side by side, each a column of its six scans."""
    count = max(1, len(cadences))
    scans = cadences[0].shape[0] if len(cadences) else 6
    figure, axes = plt.subplots(
        scans, count, figsize=(2.4 * count, 1.1 * scans + 0.8), squeeze=False
    )
    for column in range(count):
        for row in range(scans):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column >= len(cadences):
                continue
            cadence = cadences[column]
            low, high = np.percentile(cadence, [1, 99.8])
            axis.imshow(
                cadence[row],
                aspect="auto",
                cmap="viridis",
                vmin=low,
                vmax=high,
                interpolation="nearest",
            )
            if row == 0:
                axis.set_title(titles[column], fontsize=7)
            if column == 0:
                axis.set_ylabel(SCAN_NAMES[row] if scans == 6 else f"scan {row}", fontsize=7)
    figure.suptitle(heading, fontsize=10)
    return save_figure(figure, path)
