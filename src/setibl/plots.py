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
