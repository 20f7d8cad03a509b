"""Training sets from real backgrounds: windows cut from cadences of files, needles injected.

How the Kaggle data and Breakthrough Listen's own deep-learning sets were made: every snippet
is a window of real observations (``data.scans`` x ``data.height`` time steps x ``data.width``
channels, windows side by side, none overlapping, so no pixel is in two snippets), and the
positives get one needle of our path kinds (:func:`setibl.data.synth.draw_needle`: constant,
sine, squiggle, steep; in some or all ON scans, its path continuous through the cadence with
the files' real scan spacing). RFI is left as the sky gave it. The needle's S/N follows setigen:
intensity = snr x noise std / sqrt(time steps), with the noise std measured in each scan of
the window (1.4826 MAD, so RFI in it does not inflate it). Each scan is then normalised to mean
0 / std 1 and stored as float16, in the Kaggle layout, with ``needles.csv`` (one row per
needle) and ``windows.csv`` (id -> cadence, coarse channel, first channel, frequency).
Deterministic by seed: which windows, which split, which needle.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.config import Config
from setibl.data.kaggle import snippet_path
from setibl.data.synth import (
    NEEDLE_COLUMNS,
    CadenceGeometry,
    draw_needle,
    noise_std,
    normalise_scans,
    render_signal,
    signal_row,
)
from setibl.data.synth_dataset import (
    NEEDLES_FILE,
    _prepare_output,
    positive_indices,
    snippet_id,
    write_label_files,
)
from setibl.errors import DataError
from setibl.io import atomic_save_npy, atomic_write_csv
from setibl.observations.cadences import check_cadence
from setibl.observations.filterbank import Header, coarse_blocks
from setibl.observations.windows import WindowGeometry, check_fits

WINDOWS_FILE = "windows.csv"
WINDOW_COLUMNS = ["id", "split", "cadence", "coarse_channel", "channel", "frequency_mhz"]


def _cadence_geometry(headers: Sequence[Header], config: Config) -> CadenceGeometry:
    """The cadence's time layout in steps: scans as long as a window, gaps from ``tstart``."""
    first = headers[0]
    starts = [(h.tstart_mjd - first.tstart_mjd) * 86400.0 / first.tsamp_s for h in headers]
    spacing = float(np.mean(np.diff(starts))) if len(starts) > 1 else config.data.height
    gap = max(0, int(round(spacing)) - config.data.height)
    return CadenceGeometry(config.data.scans, config.data.height, config.data.width, gap)


def _robust_std(scan: np.ndarray) -> float:
    median = np.median(scan)
    return float(np.median(np.abs(scan - median)) * 1.4826) or float(scan.std()) or 1.0


def inject(
    window: np.ndarray,
    rng: np.random.Generator,
    geometry: CadenceGeometry,
    config: Config,
) -> tuple[np.ndarray, dict]:
    """(scans, height, width) raw background + one needle at setigen's S/N per scan's measured
    noise -> (the sum, float32; the needle)."""
    synth = config.synth
    needle = draw_needle(rng, geometry, synth)
    unit = render_signal(needle, geometry, synth, geometry.height) / noise_std(synth)
    scale = np.array([_robust_std(scan) for scan in window], np.float32)[:, None, None]
    return window + unit * scale, needle


def _windows_of(paths, headers, count: int, fine: int, geometry: WindowGeometry):
    """(coarse, first channel, raw window (scans, height, width)) for every window, side by
    side, read one coarse channel at a time."""
    streams = [coarse_blocks(p, h, count) for p, h in zip(paths, headers, strict=True)]
    for blocks in zip(*streams, strict=True):
        coarse = blocks[0][0]
        stacked = np.stack([block[: geometry.height] for _, _, block in blocks])
        for start in geometry.starts(fine):
            yield coarse, int(start), stacked[:, :, start : start + geometry.width]


def write_background_dataset(
    out: str | os.PathLike,
    cadences: dict[str, Sequence[str | os.PathLike]],
    config: Config,
    n_train: int,
    n_test: int,
    seed: int = 42,
    overwrite: bool = False,
    coarse_channels: int | None = None,
) -> dict[str, int]:
    """``n_train`` + ``n_test`` snippets cut from ``cadences`` (name -> files in time order)
    into ``out`` (Kaggle layout); ``synth.needle_fraction`` of each split holds a needle."""
    out = Path(out)
    window = WindowGeometry(config.data.scans, config.data.height, config.data.width)
    plans = []
    for name, paths in cadences.items():
        headers = check_cadence(paths, config.data.on_scans, config.data.scans)
        count = coarse_channels or headers[0].coarse_channel_count()
        fine = headers[0].channels // count
        check_fits([str(p) for p in paths], headers, fine, window)
        plans.append((name, paths, headers, count, fine, len(window.starts(fine)) * count))
    available = sum(plan[-1] for plan in plans)
    if n_train + n_test > available:
        raise DataError(
            f"{next(iter(cadences.values()))[0]}..: {available} windows of "
            f"{window.height} x {window.width} in the cadences, {n_train + n_test} asked for"
        )
    rng = np.random.default_rng([seed, 4099])
    chosen = rng.permutation(available)[: n_train + n_test]
    split_of = {int(w): ("train", i) for i, w in enumerate(chosen[:n_train])}
    split_of.update({int(w): ("test", i) for i, w in enumerate(chosen[n_train:])})
    positives = {
        split: positive_indices(seed, split, n, config.synth.needle_fraction)
        for split, n in (("train", n_train), ("test", n_test))
    }
    _prepare_output(out, overwrite)
    labels: dict[str, list] = {"train": [], "test": []}
    needles, sources, number = [], [], 0
    for name, paths, headers, count, fine, _ in plans:
        geometry = _cadence_geometry(headers, config)
        first = headers[0]
        for coarse, start, raw in _windows_of(paths, headers, count, fine, window):
            place, number = split_of.get(number), number + 1
            if place is None:
                continue
            split, index = place
            ident = snippet_id(seed, f"{split}", index)
            data = raw.astype(np.float32)
            if index in positives[split]:
                snippet_rng = np.random.default_rng([seed, 1 if split == "test" else 0, index])
                data, needle = inject(data, snippet_rng, geometry, config)
                needles.append(signal_row(ident, split, needle, _synth_units(config, first)))
            atomic_save_npy(
                snippet_path(out, split, ident), normalise_scans(data, np.float16), fsync=False
            )
            labels[split].append((ident, int(index in positives[split])))
            channel = coarse * fine + start
            sources.append(
                (ident, split, name, coarse, channel, first.fch1_mhz + channel * first.foff_mhz)
            )
    atomic_write_csv(out / NEEDLES_FILE, pd.DataFrame(needles, columns=NEEDLE_COLUMNS))
    atomic_write_csv(out / WINDOWS_FILE, pd.DataFrame(sources, columns=WINDOW_COLUMNS))
    counts = write_label_files(out, {split: sorted(rows) for split, rows in labels.items()})
    return {**counts, "windows_available": available}


def _synth_units(config: Config, header: Header):
    """The synth config in the files' units, so needles.csv gives Hz and Hz/s of the files."""
    return dataclasses.replace(
        config.synth,
        df_hz=abs(header.foff_mhz) * 1e6,
        dt_s=header.tsamp_s,
        fch1_mhz=header.fch1_mhz + (header.channels - 1) * header.foff_mhz,
    )
