"""Taylor tree de-Doppler sums: the NumPy reference, the compiled search kernel, brute force.

The tree (Taylor 1974, as turboSETI runs it) takes a scan of ``T`` (a power of two) time rows
by ``F`` channels and gives, for every start channel ``f`` and drift index ``d in [0, T)``, the
power summed along a piecewise-straight path of total offset ``d`` channels over ``T - 1``
steps: ``log2(T)`` stages of pairwise sums, ``T * F * log2(T)`` additions against the brute
force's ``T * T * F``. Samples beyond the last channel count zero.

:func:`taylor_tree` is the readable NumPy definition; :func:`best_drift_sums` is the search's
kernel (Numba): per scan it runs the tree for both drift signs and keeps, per channel, the best
sum and its drift, without ever materialising the (drifts, channels) plane outside the cache.
The two agree bit for bit (same additions in the same order; tested).
"""

from __future__ import annotations

import numba
import numpy as np

DEPTH_FIRST_ROWS = 64  # early stages run per block of rows that stays in the L2 cache
TILE_CHANNELS = 2048  # wide scans go through the tree this many channels at a time


def tree_rows(height: int) -> int:
    """Largest power of two not above ``height``: the rows the tree uses."""
    if height < 2:
        raise ValueError(f"need at least 2 time steps, got {height}")
    return 1 << (height.bit_length() - 1)


def taylor_tree(data: np.ndarray) -> np.ndarray:
    """(..., T, F) with T a power of two -> (..., T, F) drift sums (drift index, start channel).

    ``out[..., d, f]`` sums ``data[..., t, f + offset_d(t)]`` with :func:`tree_offsets`
    paths; samples beyond the last channel count zero.
    """
    *lead, rows, channels = data.shape
    if rows & (rows - 1):
        raise ValueError(f"Taylor tree needs a power-of-two number of rows, got {rows}")
    current = data.reshape(-1, rows, 1, channels).astype(np.float32)  # (N, blocks, drifts, F)
    size = 1
    while size < rows:
        blocks = current.shape[1] // 2
        pairs = current.reshape(current.shape[0], blocks, 2, size, channels)
        first, second = pairs[:, :, 0], pairs[:, :, 1]
        merged = np.empty((current.shape[0], blocks, 2 * size, channels), np.float32)
        for drift in range(2 * size):
            half, shift = drift // 2, drift - drift // 2
            if shift:
                np.add(
                    first[:, :, half, :-shift],
                    second[:, :, half, shift:],
                    out=merged[:, :, drift, :-shift],
                )
                merged[:, :, drift, -shift:] = first[:, :, half, -shift:]
            else:
                np.add(first[:, :, half], second[:, :, half], out=merged[:, :, drift])
        current, size = merged, 2 * size
    return current.reshape(*lead, rows, channels)


def tree_offsets(rows: int) -> np.ndarray:
    """(rows, rows) channel offset of each row along the tree's path for each drift index."""
    if rows == 1:
        return np.zeros((1, 1), int)
    half = tree_offsets(rows // 2)
    out = np.empty((rows, rows), int)
    for drift in range(rows):
        inner, shift = drift // 2, drift - drift // 2
        out[drift] = np.concatenate([half[inner], shift + half[inner]])
    return out


def brute_force_sums(scan: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Reference: (drifts, F) sums of ``scan`` (T, F) along given per-row offsets (slow)."""
    rows, channels = scan.shape
    padded = np.concatenate([scan, np.zeros((rows, rows), scan.dtype)], axis=1)
    out = np.zeros((offsets.shape[0], channels), np.float64)
    for drift, path in enumerate(offsets):
        for t in range(rows):
            out[drift] += padded[t, path[t] : path[t] + channels]
    return out


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _stage(
    source, target, first_row, last_row, size, origin, direction, low, high
):  # pragma: no cover - compiled
    # Merge pairs of size-row sub-trees in rows [first_row, last_row) of source into target,
    # for the channels [low, high) of the tile (channel j sits in column origin + j).
    # direction -1 runs the drifts downwards (the frequency-reversed scan's tree).
    for block in range(first_row, last_row, 2 * size):
        for half in range(size):
            upper = source[block + half, origin + low : origin + high]
            for parity in range(2):
                out = target[block + 2 * half + parity, origin + low : origin + high]
                start = origin + low + direction * (half + parity)
                lower = source[block + size + half, start : start + high - low]
                for j in range(high - low):
                    out[j] = upper[j] + lower[j]


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _stage_columns(rows, size, count, direction, extend):  # pragma: no cover - compiled
    # Channels a stage merging size-row sub-trees computes: the wanted [0, count) plus, with
    # real data beyond them, the rows - 2 * size channels later stages still shift across.
    extra = rows - 2 * size if extend else 0
    return (0, count + extra) if direction == 1 else (-extra, count)


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _tree_in_place(
    first, second, rows, origin, direction, count, extend, tiled
):  # pragma: no cover - compiled
    # Tree over the tile loaded in `first`; the channels [0, count) are wanted. With `extend`,
    # real data lies beyond them in the drift direction, and each stage also computes the
    # channels later stages read there; without, everything beyond is zero (band edge), in
    # `first` by loading and in `second` by clearing what an earlier tile left (`tiled`).
    if tiled and not extend:
        if direction == 1:
            second[:, origin + count :] = 0.0
        else:
            second[:, :origin] = 0.0
    block = min(DEPTH_FIRST_ROWS, rows)
    stages_in_block = 0
    for start in range(0, rows, block):  # depth-first: the first stages per cached row block
        source, target = first, second
        size = 1
        stages_in_block = 0
        while size < block:
            low, high = _stage_columns(rows, size, count, direction, extend)
            _stage(source, target, start, start + block, size, origin, direction, low, high)
            source, target = target, source
            size *= 2
            stages_in_block += 1
    source, target = (second, first) if stages_in_block % 2 else (first, second)
    size = block
    while size < rows:
        low, high = _stage_columns(rows, size, count, direction, extend)
        _stage(source, target, 0, rows, size, origin, direction, low, high)
        source, target = target, source
        size *= 2
    return source


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _keep_best(sums, origin, first_index, first_d, last_d, sign, best, index):  # pragma: no cover
    # Ascending d with strict comparisons: ties keep the earlier (positive, then smaller) drift.
    channels = best.shape[0]
    for d in range(first_d, last_d + 1):
        row = sums[d, origin : origin + channels]
        label = sign * (first_index + d)
        for j in range(channels):
            value = row[j]
            better = value > best[j]
            best[j] = value if better else best[j]
            index[j] = label if better else index[j]


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _load_tile(scan, band, target, origin, shear, first_channel, margins):  # pragma: no cover
    # Column c holds channel first_channel - origin + c of row t shifted by shear * t channels,
    # minus the bandpass; zero where that falls outside the band. Without `margins` only the
    # tile's own columns are written (the margins then hold zeros from the start).
    rows, channels = scan.shape
    begin = 0 if margins else origin
    columns = target.shape[1] if margins else origin + min(channels, target.shape[1] - 2 * origin)
    for t in range(rows):
        offset = first_channel - origin + shear * t  # channel read by column 0
        low = min(max(begin, -offset), columns)
        high = max(min(columns, channels - offset), low)
        row = target[t]
        for c in range(begin, low):
            row[c] = 0.0
        for c in range(high, columns):
            row[c] = 0.0
        out = row[low:high]
        source = scan[t, low + offset : high + offset]
        level = band[low + offset : high + offset]
        for c in range(high - low):
            out[c] = source[c] - level[c]


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _best_drift_kernel(scans, bandpass, max_index, tile, best, index, zero):  # pragma: no cover
    count, rows, channels = scans.shape
    origin = rows
    width = min(tile, channels)
    tiled = width < channels
    first = np.zeros((rows, width + 2 * origin), np.float32)
    second = np.zeros((rows, width + 2 * origin), np.float32)
    span = max(rows - 1, 1)  # drift index of one channel per time step
    for k in range(count):
        best[k] = -np.inf
        index[k] = 0
        for start in range(0, channels, width):  # channel tiles that stay in the cache
            kept = min(width, channels - start)
            tile_best = best[k, start : start + kept]
            tile_index = index[k, start : start + kept]
            for direction in (1, -1):
                extend = start + kept < channels if direction == 1 else start > 0
                block = 0
                while block == 0 or block * span < max_index:  # block b: |drift| in (b, b + 1]
                    shear = direction * block
                    _load_tile(scans[k], bandpass[k], first, origin, shear, start, tiled)
                    sums = _tree_in_place(
                        first, second, rows, origin, direction, kept, extend, tiled
                    )
                    if direction == 1 and block == 0:
                        zero[k, start : start + kept] = sums[0, origin : origin + kept]
                    first_d = 0 if block == 0 else 1  # d = 0 repeats the last block's d = span
                    last_d = min(rows - 1, max_index - block * span)
                    _keep_best(
                        sums,
                        origin,
                        block * span,
                        first_d,
                        last_d,
                        direction,
                        tile_best,
                        tile_index,
                    )
                    block += 1


def best_drift_sums(
    scans: np.ndarray, bandpass: np.ndarray, max_index: int, tile: int = TILE_CHANNELS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best tree sum over signed drift indices ``|d| <= max_index`` for every start channel.

    scans: (m, T, F) float32 with T a power of two; bandpass: (m, F) subtracted from every row
    first. Index ``d`` is a drift of ``d / (T - 1)`` channels per step. Beyond one channel per
    step the scan is first sheared by ``b`` channels per step (turboSETI's drift blocks): block
    ``b >= 1`` covers ``d in (b (T - 1), (b + 1)(T - 1)]``. Returns best (m, F) float32, its signed
    drift index (m, F) int64 (ties go to the positive sign, then to the smaller |d|) and the
    zero-drift sums (m, F) float32. Wide scans go through the tree ``tile`` channels at a time
    (with the margins their paths reach), so the working set stays in the cache; the sums are
    the same additions either way.
    """
    scans = np.ascontiguousarray(scans, dtype=np.float32)
    bandpass = np.ascontiguousarray(bandpass, dtype=np.float32)
    count, rows, channels = scans.shape
    if rows & (rows - 1):
        raise ValueError(f"Taylor tree needs a power-of-two number of rows, got {rows}")
    if bandpass.shape != (count, channels):
        raise ValueError(f"bandpass shape {bandpass.shape}, expected {(count, channels)}")
    if max_index < 0:
        raise ValueError(f"max_index must be at least 0, got {max_index}")
    if tile < 1:
        raise ValueError(f"tile must be at least 1 channel, got {tile}")
    best = np.empty((count, channels), np.float32)
    index = np.empty((count, channels), np.int32)
    zero = np.empty((count, channels), np.float32)
    _best_drift_kernel(scans, bandpass, max_index, tile, best, index, zero)
    return best, index.astype(np.int64), zero


def best_drift_sums_reference(
    scans: np.ndarray, bandpass: np.ndarray, max_index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`best_drift_sums` computed with :func:`taylor_tree` (NumPy; for tests)."""
    count, rows, channels = scans.shape
    flat = (scans - bandpass[:, None, :]).astype(np.float32)
    span = max(rows - 1, 1)
    candidates, labels = [], []
    for sign, oriented in ((1, flat), (-1, flat[..., ::-1])):
        block = 0
        while block == 0 or block * span < max_index:
            sheared = np.zeros_like(oriented)
            for t in range(rows):
                shift = block * t
                if shift < channels:
                    sheared[:, t, : channels - shift] = oriented[:, t, shift:]
            first = 0 if block == 0 else 1
            last = min(rows - 1, max_index - block * span)
            sums = taylor_tree(sheared)[:, first : last + 1]
            candidates.append(sums if sign == 1 else sums[..., ::-1])
            labels += [sign * (block * span + d) for d in range(first, last + 1)]
            block += 1
    stacked = np.concatenate(candidates, axis=1)  # (m, candidates, F), in the kernel's order
    choice = stacked.argmax(axis=1)
    best = np.take_along_axis(stacked, choice[:, None], axis=1)[:, 0]
    zero = taylor_tree(flat)[:, 0]
    return best, np.asarray(labels, np.int64)[choice], zero


def compile_kernel() -> None:
    """Compile (or load from Numba's cache) the search kernel now, e.g. before forking workers."""
    best_drift_sums(np.zeros((1, 2, 1), np.float32), np.zeros((1, 1), np.float32), 1)
