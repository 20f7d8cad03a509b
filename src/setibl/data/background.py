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

In ``needles.csv``, ``f_start_channel`` counts from the window's first channel and
``f_start_hz`` is the files' frequency there: ``fch1 + (window's first channel +
f_start_channel) * foff`` (the window's first channel = coarse channel x fine channels + the
window's start in it), and ``drift_rate`` is in Hz/s with the files' signed ``foff``
(``drift_ch_per_step * foff * 1e6 / tsamp``): the convention of ``scan``, ``make-cadences`` and
turboSETI's ``.dat``. ``split_by="cadence"`` (the default) takes the test windows from other
cadences than the train windows (no cadence's sky, RFI or bandpass in both), ``"window"`` from
any. Deterministic by seed: which windows, which split, which needle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.config import Config
from setibl.data.kaggle import snippet_path
from setibl.data.rendering import CadenceGeometry, noise_std, normalise_scans, render_signal
from setibl.data.signal_table import NEEDLE_COLUMNS, signal_row
from setibl.data.synth import draw_needle
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
SPLITS_BY = ("cadence", "window")


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


def _choose(plans, n_train: int, n_test: int, rng, split_by: str) -> dict[int, tuple]:
    """Window number (in reading order) -> (split, index) of the ``n_train`` + ``n_test``
    windows chosen; by cadence, the test windows come from cadences that give no train
    window."""
    first = plans[0][1][0]
    numbers, start = [], 0
    for plan in plans:
        numbers.append(np.arange(start, start + plan[-1]))
        start += plan[-1]
    if split_by == "window":
        chosen = rng.permutation(start)[: n_train + n_test]
        train, test = chosen[:n_train], chosen[n_train:]
    else:
        order = rng.permutation(len(plans))
        held, count = [], 0
        for index in order:
            if count >= n_test:
                break
            held.append(int(index))
            count += plans[index][-1]
        kept = [int(i) for i in order if int(i) not in held]
        pool_train = np.concatenate([numbers[i] for i in kept] or [np.zeros(0, int)])
        if len(pool_train) < n_train:
            raise DataError(
                f"{first}..: split by cadence, the {n_test} test windows take "
                f"{len(held)} of the {len(plans)} cadences, the rest hold {len(pool_train)} "
                f"windows for {n_train} train ones: list more cadences or pass split_by='window'"
            )
        train = rng.permutation(pool_train)[:n_train]
        test = rng.permutation(np.concatenate([numbers[i] for i in held]))[:n_test]
    split_of = {int(w): ("train", i) for i, w in enumerate(train)}
    split_of.update({int(w): ("test", i) for i, w in enumerate(test)})
    return split_of


def write_background_dataset(
    out: str | os.PathLike,
    cadences: dict[str, Sequence[str | os.PathLike]],
    config: Config,
    n_train: int,
    n_test: int,
    seed: int = 42,
    overwrite: bool = False,
    coarse_channels: int | None = None,
    split_by: str = "cadence",
) -> dict[str, int]:
    """``n_train`` + ``n_test`` snippets cut from ``cadences`` (name -> files in time order)
    into ``out`` (Kaggle layout); ``synth.needle_fraction`` of each split holds a needle.
    ``split_by`` "cadence": train and test windows from different cadences; "window": any."""
    if split_by not in SPLITS_BY:
        raise DataError(f"split_by {split_by!r}: expected one of {SPLITS_BY}")
    if not cadences:
        raise DataError("no cadence to cut windows from")
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
    split_of = _choose(plans, n_train, n_test, rng, split_by)
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
            channel = coarse * fine + start
            if index in positives[split]:
                snippet_rng = np.random.default_rng([seed, 1 if split == "test" else 0, index])
                data, needle = inject(data, snippet_rng, geometry, config)
                needles.append(_needle_row(ident, split, needle, config, first, channel))
            atomic_save_npy(
                snippet_path(out, split, ident), normalise_scans(data, np.float16), fsync=False
            )
            labels[split].append((ident, int(index in positives[split])))
            sources.append(
                (ident, split, name, coarse, channel, first.fch1_mhz + channel * first.foff_mhz)
            )
    atomic_write_csv(out / NEEDLES_FILE, pd.DataFrame(needles, columns=NEEDLE_COLUMNS))
    atomic_write_csv(out / WINDOWS_FILE, pd.DataFrame(sources, columns=WINDOW_COLUMNS))
    counts = write_label_files(out, {split: sorted(rows) for split, rows in labels.items()})
    return {**counts, "windows_available": available}


def _needle_row(
    ident: str, split: str, needle: dict, config: Config, header: Header, channel: int
) -> dict:
    """needles.csv's row in the files' units: ``f_start_hz`` where the needle starts in the
    file (window's first ``channel`` + its ``f_start_channel``, channel 0 at ``fch1``, steps
    of the signed ``foff``), ``drift_rate`` in Hz/s with the same sign convention."""
    row = signal_row(ident, split, needle, config.synth)
    foff_hz = header.foff_mhz * 1e6
    row["f_start_hz"] = round(
        header.fch1_mhz * 1e6 + (channel + needle["f_start_channel"]) * foff_hz, 3
    )
    row["drift_rate"] = round(needle["drift_ch_per_step"] * foff_hz / header.tsamp_s, 6) + 0.0
    return row
