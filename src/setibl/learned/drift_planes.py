"""Drift-rate planes: each scan summed along straight tracks, one row per drift rate.

A needle of S/N 8 spreads its power over 273 time steps: about 0.5 noise sigma per pixel, too
faint for the local filters of a CNN to follow, while the sum along its track stands at S/N 8.
A drift plane does that sum for every start channel and every drift in a grid (the brute-force
form of the de-Doppler search, without thresholds): a straight line becomes a peak at (drift,
start channel), a slowly curving one a short ridge. A CNN then compares the six scans' planes
and learns what the classical search hard-codes (a peak in ON planes, none in OFF planes where
the drift predicts it), and what it cannot (curved paths, RFI that is faint in OFF scans).

Values are z-scores: the sum over the in-band pixels of a track divided by the square root of
their count (scans are z-scored on their own before), 0 where a track never enters the band.

Resolution: a track whose drift is off by e channels per step misses its line by e x 273 channels
at the scan's end, so the grid needs steps of about 1/136 (273 rows for +-1 channel per step,
at most one channel off at the ends). Pairs of time steps are summed first (137 rows): half the
work, and a line drifting 1 channel per step smears over 2 channels within a pair.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

DRIFTS = 273  # drift rows, from -MAX_DRIFT to +MAX_DRIFT channels per time step
MAX_DRIFT = 1.0
TIME_BIN = 2  # time steps summed before the tracks


def drift_grid(drifts: int = DRIFTS, max_drift: float = MAX_DRIFT) -> np.ndarray:
    """The drift rates of the rows, channels per time step, ascending; an odd count, exactly
    symmetric about 0 (so a mirrored scan's plane is the plane turned by 180 degrees)."""
    half = drifts // 2
    return np.arange(-half, half + 1) * (max_drift / half)


def _steps(height: int, drifts: int, max_drift: float) -> np.ndarray:
    """(drifts, height) channel offset of every track at each binned row's centre."""
    middle = (np.arange(height) + 0.5) * TIME_BIN - 0.5  # time step at the centre of each row
    steps = np.rint(drift_grid(drifts, max_drift)[:, None] * middle[None, :])
    return steps.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _tracks(height: int, width: int, drifts: int, max_drift: float):
    """Flat gather indices into a padded (binned) scan of ``height`` rows of TIME_BIN steps,
    and the scale of every track (1 / sqrt of its in-band pixel count)."""
    steps = _steps(height, drifts, max_drift)  # [drifts, time]
    pad = int(np.abs(steps).max())
    column = pad + np.arange(width)[None, None, :] + steps[:, :, None]  # [drifts, time, width]
    index = np.arange(height)[None, :, None] * (width + 2 * pad) + column
    return index.astype(np.int32), pad, _track_scale(steps, width)


def _track_scale(steps: np.ndarray, width: int) -> np.ndarray:
    """(drifts, width) 1 / sqrt of every track's in-band pixel count (0: never in the band),
    from its (drifts, height) channel offsets."""
    column = steps[:, :, None] + np.arange(width)[None, None, :]  # [drifts, time, width]
    counts = ((column >= 0) & (column < width)).sum(axis=1).astype(np.float32) * TIME_BIN
    return np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0).astype(np.float32)


def _binned(scan: np.ndarray, height: int, pad: int) -> np.ndarray:
    """(time, channels) -> (height, channels + 2 pad): TIME_BIN steps summed, zeros around."""
    steps, width = scan.shape
    padded = np.zeros((height * TIME_BIN, width + 2 * pad), np.float32)
    padded[:steps, pad : pad + width] = scan
    return padded.reshape(height, TIME_BIN, -1).sum(axis=1)


def drift_plane(scan: np.ndarray, drifts: int = DRIFTS, max_drift: float = MAX_DRIFT):
    """(time, channels) scan -> (drifts, channels) float32 track sums as z-scores (NumPy
    gather; the reference for :func:`drift_planes`)."""
    steps, width = scan.shape
    height = -(-steps // TIME_BIN)
    index, pad, scale = _tracks(height, width, drifts, max_drift)
    return _binned(scan, height, pad).ravel()[index].sum(axis=1) * scale


@functools.lru_cache(maxsize=4)
def _track_offsets(height: int, width: int, drifts: int, max_drift: float):
    """(drifts, height) first padded column of every track's row, the padding, and the
    tracks' scale (1 / sqrt of their in-band pixel count), without the gather indices."""
    steps = _steps(height, drifts, max_drift)
    pad = int(np.abs(steps).max())
    return np.ascontiguousarray(pad + steps), pad, _track_scale(steps, width)


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _track_sums(binned, first, out):  # pragma: no cover - compiled
    # out[d, c] = sum over rows r of binned[r, first[d, r] + c], rows in order (as the gather)
    drifts, height = first.shape
    width = out.shape[1]
    for d in range(drifts):
        row = out[d]
        row[:] = 0.0
        for r in range(height):
            source = binned[r, first[d, r] : first[d, r] + width]
            for c in range(width):
                row[c] += source[c]


def drift_planes(batch: np.ndarray, drifts: int = DRIFTS, max_drift: float = MAX_DRIFT):
    """(n, scans, time, channels) -> (n, scans, drifts, channels) float32: the planes of
    :func:`drift_plane` from a compiled kernel (the same sums, about 20x faster)."""
    n, scans, steps, width = batch.shape
    height = -(-steps // TIME_BIN)
    first, pad, scale = _track_offsets(height, width, drifts, max_drift)
    out = np.empty((n, scans, drifts, width), np.float32)
    for i in range(n):
        for s in range(scans):
            binned = _binned(batch[i, s].astype(np.float32), height, pad)
            _track_sums(binned, first, out[i, s])
            out[i, s] *= scale
    return out
