"""De-Doppler search of real observation files (Breakthrough Listen .h5 / .fil filterbanks).

A filterbank holds one scan: ``(time, feed, channel)`` power with header keys ``fch1`` (MHz of
channel 0), ``foff`` (signed channel width, MHz; negative for BL data) and ``tsamp`` (s). The
search runs per coarse channel (turboSETI's unit: its own noise statistics and bandpass) with
the same compiled Taylor tree as the cadence search, and reports hits in physical units:
frequency (MHz) and drift rate (Hz/s, sign as the frequency moves). A cadence of files (ON
and OFF scans, e.g. ABACAD) goes through turboSETI's find_event logic with each scan's real
start time (header ``tstart``): an ON hit is vetoed by an OFF hit where its drift predicts it.

As in turboSETI: the same tree sums (drift index ``d`` = ``d`` channels over ``T - 1`` steps,
drift blocks sheared by whole channels per step beyond one channel per step), the same hit
selection, so the same hits at the same frequencies and drift rates (tested). Differences, on
purpose: S/N divides by 1.4826 MAD of the zero-drift sums (turboSETI: the standard deviation
after dropping the 5% tails, ~0.8 sigma for Gaussian noise, so its S/N reads ~1.3x higher;
``noise="turboseti"`` gives its values); zero drift is searched too (turboSETI skips it).

Reading needs the ``field`` extra (blimpy; h5py and hdf5plugin come with it): files are read
one coarse channel at a time, so a 4 GB file never sits in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.classical.dedoppler import (
    EventRules,
    Hit,
    ScanSearch,
    find_hits,
    score_cadence,
    search_scans,
)
from setibl.classical.spectra import check_noise_statistic
from setibl.config import ON_SCANS, ObservationsConfig
from setibl.errors import DataError
from setibl.observations.filterbank import Header, cadence_headers, coarse_blocks, read_header

HIT_COLUMNS = [
    "coarse_channel",
    "channel",
    "frequency_mhz",
    "drift_hz_per_s",
    "drift_ch_per_step",
    "snr",
]
CADENCE_COLUMNS = ["scan", "file", *HIT_COLUMNS, "vetoed", "level"]


def padded_rows(time_steps: int) -> int:
    """Rows the search runs over: ``time_steps`` zero-padded up to a power of two (turboSETI);
    the drift step is one channel over ``padded_rows - 1`` steps."""
    return 1 << (time_steps - 1).bit_length()


def check_drift_range(
    path: str | os.PathLike, header: Header, max_drift_hz_per_s: float, min_drift_hz_per_s: float
) -> None:
    """DataError naming the file when the search could find nothing: the largest drift is below
    one drift step (only zero drift is searched) while the minimum drift drops zero drift."""
    steps = padded_rows(header.time_steps) - 1
    step_hz = abs(header.foff_mhz * 1e6 / header.tsamp_s) / steps
    only_zero = abs(max_drift_hz_per_s) < step_hz - 1e-12
    if only_zero and abs(header.drift_ch_per_step(min_drift_hz_per_s)) > 0:
        raise DataError(
            f"{path}: max drift {max_drift_hz_per_s:g} Hz/s is below one drift step "
            f"({step_hz:.3g} Hz/s at this resolution), so only zero drift is searched, and the "
            f"minimum drift {min_drift_hz_per_s:g} Hz/s drops it: raise "
            "observations.max_drift_hz (--max-drift) or set observations.min_drift_hz=0"
        )


def prepare_block(block: np.ndarray, path: str | os.PathLike, blank_dc: bool = True) -> np.ndarray:
    """A (T, F) coarse-channel block as turboSETI searches it: the DC spike (centre channel)
    replaced by the mean of its neighbours (``blank_dc``), then zero rows appended up to the
    next power of two (turboSETI pads; nothing is cut). DataError naming the file when it has
    fewer than 2 time steps."""
    rows, channels = block.shape
    if rows < 2:
        raise DataError(f"{path}: {rows} time step(s); a de-Doppler search needs at least 2")
    block = np.array(block, np.float32)
    if blank_dc and channels >= 3:
        middle = channels // 2
        block[:, middle] = (block[:, middle - 1] + block[:, middle + 1]) / 2
    padded = padded_rows(rows)
    if padded > rows:
        block = np.concatenate([block, np.zeros((padded - rows, channels), np.float32)])
    return block


def scan_search(
    block: np.ndarray, max_drift_ch: float, bandpass_window: int = 0, noise: str = "mad"
) -> tuple[ScanSearch, int]:
    """Best-drift S/N map of one prepared (T, F) block (T a power of two) as a one-scan
    :class:`ScanSearch`, and the largest drift index searched."""
    return search_scans(block[None], abs(max_drift_ch), 1, bandpass_window, noise)


def _keep_drift(hits: list[Hit], min_drift_ch: float) -> list[Hit]:
    # turboSETI reports no hit with |drift| below its min_drift (1e-5 Hz/s: zero drift)
    return [h for h in hits if abs(h.drift_ch_per_step) >= min_drift_ch]


def _default_window(hit_window: int | None, max_index: int) -> int:
    # turboSETI keeps a hit only if it is the best within twice the largest drift index
    return hit_window if hit_window is not None else 2 * max(max_index, 1)


def _physical(hit: Hit, coarse: int, first: int, header: Header) -> dict:
    channel = first + hit.channel
    drift = hit.drift_ch_per_step
    return {
        "coarse_channel": coarse,
        "channel": channel,
        "frequency_mhz": header.fch1_mhz + channel * header.foff_mhz,
        "drift_hz_per_s": drift * header.foff_mhz * 1e6 / header.tsamp_s + 0.0,
        "drift_ch_per_step": drift,
        "snr": hit.snr,
    }


def search_file(
    path: str | os.PathLike,
    max_drift_hz_per_s: float = 4.0,
    snr_threshold: float = 10.0,
    coarse_channels: int | None = None,
    hit_window: int | None = None,
    bandpass_window: int = 0,
    noise: str = "mad",
    min_drift_hz_per_s: float = 1e-5,
    blank_dc: bool = True,
    chunk_channels: int = 2**20,
) -> pd.DataFrame:
    """Every hit of a filterbank file, one row each (:data:`HIT_COLUMNS`), strongest first.

    ``hit_window`` (channels) defaults to turboSETI's: twice the largest drift index.
    ``bandpass_window`` 0 leaves the bandpass as it is (turboSETI); ``noise="turboseti"``
    gives turboSETI's S/N values.
    """
    check_noise_statistic(noise)
    header = read_header(path)
    max_drift_ch = abs(header.drift_ch_per_step(max_drift_hz_per_s))
    min_drift_ch = abs(header.drift_ch_per_step(min_drift_hz_per_s))
    check_drift_range(path, header, max_drift_hz_per_s, min_drift_hz_per_s)
    rows = []
    for coarse, first, block in coarse_blocks(path, header, coarse_channels, chunk_channels):
        block = prepare_block(block, path, blank_dc)
        search, max_index = scan_search(block, max_drift_ch, bandpass_window, noise)
        window = _default_window(hit_window, max_index)
        hits = _keep_drift(
            find_hits(search, snr_threshold, window, top=block.shape[1]), min_drift_ch
        )
        rows += [_physical(hit, coarse, first, header) for hit in hits]
    table = pd.DataFrame(rows, columns=HIT_COLUMNS)
    return table.sort_values("snr", ascending=False, kind="stable").reset_index(drop=True)


def _search_next_blocks(
    streams: Sequence[Iterator[tuple[int, int, np.ndarray]]],
    paths: Sequence[str | os.PathLike],
    blank_dc: bool,
    max_drift_ch: float,
    bandpass_window: int,
    noise: str,
) -> tuple[int, int, int, int, list[tuple[ScanSearch, int]]] | None:
    """The next coarse channel of every file searched, one file's block in memory at a time
    (read, prepared, searched, dropped: only the S/N maps stay): (coarse index, first channel,
    channels and padded rows of the first file, [(ScanSearch, largest drift index)] a file);
    None when every file has ended. A file whose block is another coarse channel or width than
    the first file's, or whose blocks end before or after the first file's, is a DataError
    naming it (its header splits the channels otherwise, e.g. another ``nfpc``)."""
    searches = []
    coarse = first_channel = fine = padded = 0  # the first file's, set by its block
    for index, (stream, path) in enumerate(zip(streams, paths, strict=True)):
        item = next(stream, None)
        if item is None:
            if index:
                raise DataError(
                    f"{path}: its coarse channels end before those of {paths[0]}; the files "
                    "of a cadence must split into the same coarse channels"
                )
            _check_all_ended(streams[1:], paths[1:], paths[0])
            return None
        index_here, first_here, block = item
        del item
        if not index:
            coarse, first_channel, fine = index_here, first_here, block.shape[1]
        elif (index_here, block.shape[1]) != (coarse, fine):
            raise DataError(
                f"{path}: coarse channel {index_here} of {block.shape[1]} channels where "
                f"{paths[0]} has coarse channel {coarse} of {fine}; the files of a cadence "
                "must split into the same coarse channels"
            )
        block = prepare_block(block, path, blank_dc)
        if not index:  # the first file's rows are the cadence's (turboSETI's scan length)
            padded = block.shape[0]
        searches.append(scan_search(block, max_drift_ch, bandpass_window, noise))
        del block
    return coarse, first_channel, fine, padded, searches


def _check_all_ended(
    streams: Sequence[Iterator], paths: Sequence[str | os.PathLike], first: str | os.PathLike
) -> None:
    """DataError naming the first of ``paths`` whose stream still has a block after ``first``'s
    ended."""
    for stream, path in zip(streams, paths, strict=True):
        if next(stream, None) is not None:
            raise DataError(
                f"{path}: has coarse channels beyond the last of {first}; the files of a "
                "cadence must split into the same coarse channels"
            )


def search_cadence_files(
    paths: Sequence[str | os.PathLike],
    on_scans: Sequence[int] = ON_SCANS,
    max_drift_hz_per_s: float = 4.0,
    snr_threshold: float = 10.0,
    off_snr_threshold: float = 6.0,
    off_tolerance: int = 4,
    coarse_channels: int | None = None,
    hit_window: int | None = None,
    bandpass_window: int = 0,
    noise: str = "mad",
    min_drift_hz_per_s: float = 1e-5,
    blank_dc: bool = True,
    chunk_channels: int = 2**20,
    veto_window: str = "turboseti",
    only_coarse: Sequence[int] | None = None,
) -> pd.DataFrame:
    """turboSETI's find_event over a cadence of files (ON and OFF scans in time order);
    ``only_coarse``: just these coarse channels (a unit of a larger scan).

    Every hit of every scan, one row each (:data:`CADENCE_COLUMNS`): ``vetoed`` when an OFF
    scan holds a hit where its drift predicts, ``level`` the filter level the ON hit reaches
    (1: S/N cut; 2: not vetoed; 3: found again in every ON scan), 0 for OFF hits.
    """
    check_noise_statistic(noise)
    if len(paths) < 2:
        raise DataError(f"{paths[0] if paths else 'cadence'}: a cadence needs at least two files")
    if not on_scans or any(not 0 <= s < len(paths) for s in on_scans):
        raise DataError(
            f"{paths[-1]}: ON scans {tuple(on_scans)} do not index the {len(paths)} files given"
        )
    headers = cadence_headers(paths)
    first = headers[0]
    starts = tuple((h.tstart_mjd - first.tstart_mjd) * 86400.0 / first.tsamp_s for h in headers)
    max_drift_ch = abs(first.drift_ch_per_step(max_drift_hz_per_s))
    min_drift_ch = abs(first.drift_ch_per_step(min_drift_hz_per_s))
    check_drift_range(paths[0], first, max_drift_hz_per_s, min_drift_hz_per_s)
    streams = [
        coarse_blocks(p, h, coarse_channels, chunk_channels, only_coarse)
        for p, h in zip(paths, headers, strict=True)
    ]
    rows = []
    while searched := _search_next_blocks(
        streams, paths, blank_dc, max_drift_ch, bandpass_window, noise
    ):
        coarse, first_channel, fine, padded, searches = searched
        cadence = ScanSearch(
            np.stack([s.snr[0] for s, _ in searches]),
            np.stack([s.drift[0] for s, _ in searches]),
            max(s.drift_step for s, _ in searches),
        )
        rules = EventRules(
            snr_threshold=snr_threshold,
            off_snr_threshold=off_snr_threshold,
            hit_window=_default_window(hit_window, max(m for _, m in searches)),
            top_hits=fine,
            off_tolerance=off_tolerance,
            on_scans=tuple(on_scans),
            scan_starts=starts,
            veto_window=veto_window,
            max_drift=max_drift_ch,
            scan_length=float(padded),  # turboSETI: padded steps x tsamp
            min_drift=min_drift_ch,
        )
        for hit in score_cadence(cadence, rules).hits:
            rows.append(
                {
                    "scan": hit.scan,
                    "file": str(paths[hit.scan]),
                    **_physical(hit, coarse, first_channel, first),
                    "vetoed": hit.vetoed,
                    "level": hit.level,
                }
            )
    table = pd.DataFrame(rows, columns=CADENCE_COLUMNS)
    order = ["level", "snr"]
    return table.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)


def turboseti_hits(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    max_drift_hz_per_s: float = 4.0,
    snr_threshold: float = 10.0,
    coarse_channels: int | None = None,
) -> pd.DataFrame:
    """turboSETI's hits for the same file (needs ``turbo-seti``), for side-by-side checks:
    channel, frequency_mhz, drift_hz_per_s, snr; its .dat and .log land in ``out_dir``."""
    import logging

    try:
        from turbo_seti.find_doppler import find_doppler
    except ImportError:
        raise DataError("comparing with turboSETI needs it: pip install turbo-seti") from None

    class HitCount(np.ndarray):  # turboSETI 2.3 formats a 1-element array with %i (NumPy 2)
        def __int__(self) -> int:
            return int(self[0])

    class MaxVals(find_doppler.max_vals):
        def __init__(self) -> None:
            super().__init__()
            self.total_n_hits = np.zeros(1, np.uint32).view(HitCount)

    original, find_doppler.max_vals = find_doppler.max_vals, MaxVals
    try:
        find_doppler.FindDoppler(
            str(path),
            max_drift=max_drift_hz_per_s,
            snr=snr_threshold,
            out_dir=str(out_dir),
            n_coarse_chan=coarse_channels or read_header(path).coarse_channel_count(),
            blank_dc=False,
            log_level_int=logging.WARNING,
        ).search()
    finally:
        find_doppler.max_vals = original
    dat = Path(out_dir) / f"{Path(path).stem}.dat"
    table = pd.read_csv(dat, sep=r"\s+", comment="#", header=None, usecols=[1, 2, 3])
    table.columns = ["drift_hz_per_s", "snr", "frequency_mhz"]
    header = read_header(path)  # the .dat's Index counts within a coarse channel
    offset = (table["frequency_mhz"] - header.fch1_mhz) / header.foff_mhz
    table["channel"] = offset.round().astype(int)
    return table[["channel", "frequency_mhz", "drift_hz_per_s", "snr"]]


def search_file_with(path: str | os.PathLike, settings: ObservationsConfig) -> pd.DataFrame:
    """:func:`search_file` with the config's ``[observations]`` settings."""
    return search_file(
        path,
        settings.max_drift_hz,
        settings.snr_threshold,
        coarse_channels=settings.coarse_channels or None,
        bandpass_window=settings.bandpass_window,
        noise=settings.noise,
        min_drift_hz_per_s=settings.min_drift_hz,
        blank_dc=settings.blank_dc,
        chunk_channels=settings.chunk_channels,
    )


def search_cadence_with(
    paths: Sequence[str | os.PathLike],
    on_scans: Sequence[int],
    settings: ObservationsConfig,
    only_coarse: Sequence[int] | None = None,
    coarse_channels: int | None = None,
) -> pd.DataFrame:
    """:func:`search_cadence_files` with the config's ``[observations]`` settings;
    ``coarse_channels`` (the count per file) overrides ``settings.coarse_channels``."""
    return search_cadence_files(
        paths,
        on_scans,
        settings.max_drift_hz,
        settings.snr_threshold,
        settings.off_snr_threshold,
        coarse_channels=coarse_channels or settings.coarse_channels or None,
        bandpass_window=settings.bandpass_window,
        noise=settings.noise,
        min_drift_hz_per_s=settings.min_drift_hz,
        blank_dc=settings.blank_dc,
        chunk_channels=settings.chunk_channels,
        veto_window=settings.veto_window,
        only_coarse=only_coarse,
    )
