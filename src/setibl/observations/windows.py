"""Model-sized windows cut from a coarse channel of a cadence of files.

A window is ``(scans, height, width)``: every scan's first ``height`` time steps over the same
``width`` channels, each scan normalised on its own to mean 0 and standard deviation 1 (as the
Kaggle snippets were). Windows step by ``width - overlap`` channels and the last one ends at the
coarse channel's edge, so a needle within ``overlap / 2`` channels of one window's edge lies
well inside its neighbour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from setibl.errors import DataError
from setibl.observations.filterbank import Header


@dataclass(frozen=True)
class WindowGeometry:
    """What a model takes: ``scans`` scans of ``height`` time steps x ``width`` channels."""

    scans: int
    height: int
    width: int
    overlap: int = 0  # channels shared by neighbouring windows
    reach: int = 0  # channels beyond each side whose tracks the model sees too (search_maps)

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.width:
            raise DataError(f"window overlap {self.overlap}: must lie in [0, width {self.width})")
        if self.reach < 0:
            raise DataError(f"window reach {self.reach}: must not be negative")

    def starts(self, fine: int) -> np.ndarray:
        """First channel of every window over ``fine`` channels (the last flush with the end)."""
        if fine < self.width:
            return np.zeros(0, int)
        step = self.width - self.overlap
        starts = list(range(0, fine - self.width + 1, step))
        if starts[-1] != fine - self.width:
            starts.append(fine - self.width)
        return np.asarray(starts, int)


def check_fits(
    paths: Sequence[str | os.PathLike], headers: Sequence[Header], fine: int, geometry
) -> None:
    """DataError naming the file that cannot give windows of ``geometry``: too few files, too
    few time steps or a coarse channel narrower than a window."""
    if len(paths) != geometry.scans:
        raise DataError(
            f"{paths[0] if paths else 'cadence'}: {len(paths)} files given, the model takes "
            f"cadences of {geometry.scans} scans"
        )
    if fine < geometry.width:
        raise DataError(
            f"{paths[0]}: coarse channels of {fine} channels are narrower than the model's "
            f"{geometry.width}-channel windows"
        )
    for path, header in zip(paths, headers, strict=True):
        if header.time_steps < geometry.height:
            raise DataError(
                f"{path}: {header.time_steps} time steps, the model needs at least "
                f"{geometry.height}"
            )


def normalise_scans(windows: np.ndarray) -> np.ndarray:
    """(..., height, width) -> each (height, width) scan at mean 0, standard deviation 1."""
    mean = windows.mean(axis=(-2, -1), keepdims=True, dtype=np.float64)
    std = windows.std(axis=(-2, -1), keepdims=True, dtype=np.float64)
    return ((windows - mean) / np.maximum(std, 1e-12)).astype(np.float32)


def cut_windows(blocks: np.ndarray, geometry: WindowGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(scans, T, fine) coarse-channel blocks -> (starts (n,), windows (n, scans, height,
    width) float32, normalised per scan)."""
    starts = geometry.starts(blocks.shape[-1])
    if len(starts) == 0:
        empty = np.zeros((0, blocks.shape[0], geometry.height, geometry.width), np.float32)
        return starts, empty
    head = blocks[:, : geometry.height]
    windows = np.stack([head[:, :, s : s + geometry.width] for s in starts])
    return starts, normalise_scans(windows)
