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

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.cadence import DataError
from setibl.dedoppler import (
    EventRules,
    ScanSearch,
    check_noise_statistic,
    find_hits,
    score_cadence,
    search_scans,
)

HIT_COLUMNS = [
    "coarse_channel",
    "channel",
    "frequency_mhz",
    "drift_hz_per_s",
    "drift_ch_per_step",
    "snr",
]
CADENCE_COLUMNS = ["scan", "file", *HIT_COLUMNS, "vetoed", "level"]
HIGH_RESOLUTION_FINE_CHANNELS = 2**20  # fine channels per coarse channel, BL high resolution


@dataclass(frozen=True)
class Header:
    """What the search needs from a filterbank header."""

    fch1_mhz: float
    foff_mhz: float
    tsamp_s: float
    time_steps: int
    channels: int
    tstart_mjd: float = 0.0
    fine_per_coarse: int = 0  # header key nfpc where the file has it

    def coarse_channel_count(self) -> int:
        """Coarse channels in the file: from ``nfpc``; else 2^20 fine channels each when the
        channel count is a multiple of that (BL high-resolution products); else one."""
        if self.fine_per_coarse and self.channels % self.fine_per_coarse == 0:
            return self.channels // self.fine_per_coarse
        if self.channels % HIGH_RESOLUTION_FINE_CHANNELS == 0:
            return self.channels // HIGH_RESOLUTION_FINE_CHANNELS
        return 1

    def drift_ch_per_step(self, drift_hz_per_s: float) -> float:
        """Hz/s -> channels per time step (sign: along increasing channel index)."""
        return drift_hz_per_s * self.tsamp_s / (self.foff_mhz * 1e6)


def _require_field_extra() -> None:
    try:
        import blimpy  # noqa: F401
    except ImportError:
        raise DataError(
            "reading .h5/.fil files needs blimpy: pip install 'setibl[field]'"
        ) from None


def read_header(path: str | os.PathLike) -> Header:
    """Header of a .h5 or .fil filterbank; DataError naming the file if it is not one."""
    _require_field_extra()
    from blimpy.io import file_wrapper

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        reader = file_wrapper.open_file(str(path), load_data=False)
        header = reader.header
        shape = reader.selection_shape
    except Exception as err:  # blimpy raises many kinds for a file it cannot parse
        raise DataError(f"{path}: not a readable filterbank ({err})") from None
    return Header(
        fch1_mhz=float(header["fch1"]),
        foff_mhz=float(header["foff"]),
        tsamp_s=float(header["tsamp"]),
        time_steps=int(shape[0]),
        channels=int(shape[-1]),
        tstart_mjd=float(header.get("tstart", 0.0)),
        fine_per_coarse=int(header.get("nfpc", 0) or 0),
    )


_SIGPROC_DTYPES = {8: np.uint8, 16: np.uint16, 32: np.float32}  # sigproc's sample types


def _fil_samples(path: str | os.PathLike, header: Header) -> np.ndarray:
    """(time, feeds, channels) view of a .fil file's samples, memory-mapped (nothing read)."""
    from blimpy.io import sigproc

    fields = sigproc.read_header(str(path))
    bits = int(fields.get("nbits", 32))
    if bits not in _SIGPROC_DTYPES:
        raise DataError(f"{path}: {bits}-bit samples are not supported (8, 16 or 32)")
    feeds = int(fields.get("nifs", 1))
    offset = sigproc.len_header(str(path))
    steps = (os.path.getsize(path) - offset) // (feeds * header.channels * bits // 8)
    shape = (steps, feeds, header.channels)
    return np.memmap(path, dtype=_SIGPROC_DTYPES[bits], mode="r", offset=offset, shape=shape)


def coarse_blocks(
    path: str | os.PathLike, header: Header, coarse_channels: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, (T, fine) float32) per coarse channel, feed 0, read one block at a time (an
    .h5 dataset is sliced, a .fil file memory-mapped): a file never sits in memory whole.
    ``coarse_channels`` None: :meth:`Header.coarse_channel_count`."""
    if coarse_channels is None:
        coarse_channels = header.coarse_channel_count()
    if coarse_channels < 1 or header.channels % coarse_channels:
        raise DataError(
            f"{path}: {header.channels} channels do not split into "
            f"{coarse_channels} coarse channels"
        )
    fine = header.channels // coarse_channels
    if str(path).endswith(".h5"):
        import h5py
        import hdf5plugin  # noqa: F401  (registers the bitshuffle filter BL files use)

        with h5py.File(path, "r") as handle:
            data = handle["data"]
            for index in range(coarse_channels):
                yield index, np.asarray(data[:, 0, index * fine : (index + 1) * fine], np.float32)
    else:
        samples = _fil_samples(path, header)
        for index in range(coarse_channels):
            yield index, np.asarray(samples[:, 0, index * fine : (index + 1) * fine], np.float32)


def scan_search(
    block: np.ndarray, max_drift_ch: float, bandpass_window: int = 0, noise: str = "mad"
) -> tuple[ScanSearch, int]:
    """Best-drift S/N map of one (T, F) block as a one-scan :class:`ScanSearch`, and the
    largest drift index searched."""
    return search_scans(block[None], abs(max_drift_ch), 1, bandpass_window, noise)


def _default_window(hit_window: int | None, max_index: int) -> int:
    # turboSETI keeps a hit only if it is the best within twice the largest drift index
    return hit_window if hit_window is not None else 2 * max(max_index, 1)


def _physical(hit: dict, coarse: int, fine: int, header: Header) -> dict:
    channel = coarse * fine + hit["channel"]
    drift = hit["drift_ch_per_step"]
    return {
        "coarse_channel": coarse,
        "channel": channel,
        "frequency_mhz": header.fch1_mhz + channel * header.foff_mhz,
        "drift_hz_per_s": drift * header.foff_mhz * 1e6 / header.tsamp_s + 0.0,
        "drift_ch_per_step": drift,
        "snr": hit["snr"],
    }


def search_file(
    path: str | os.PathLike,
    max_drift_hz_per_s: float = 4.0,
    snr_threshold: float = 10.0,
    coarse_channels: int | None = None,
    hit_window: int | None = None,
    bandpass_window: int = 0,
    noise: str = "mad",
) -> pd.DataFrame:
    """Every hit of a filterbank file, one row each (:data:`HIT_COLUMNS`), strongest first.

    ``hit_window`` (channels) defaults to turboSETI's: twice the largest drift index.
    ``bandpass_window`` 0 leaves the bandpass as it is (turboSETI); ``noise="turboseti"``
    gives turboSETI's S/N values.
    """
    check_noise_statistic(noise)
    header = read_header(path)
    max_drift_ch = abs(header.drift_ch_per_step(max_drift_hz_per_s))
    rows = []
    for coarse, block in coarse_blocks(path, header, coarse_channels):
        search, max_index = scan_search(block, max_drift_ch, bandpass_window, noise)
        window = _default_window(hit_window, max_index)
        hits = find_hits(search, snr_threshold, window, top=block.shape[1])
        rows += [_physical(hit, coarse, block.shape[1], header) for hit in hits]
    table = pd.DataFrame(rows, columns=HIT_COLUMNS)
    return table.sort_values("snr", ascending=False, kind="stable").reset_index(drop=True)


def cadence_headers(paths: Sequence[str | os.PathLike]) -> list[Header]:
    """Headers of a cadence's files; DataError naming the file whose grid differs from the
    first file's (channel count, channel width, first channel, sampling time)."""
    headers = [read_header(path) for path in paths]
    first = headers[0]
    for path, header in zip(paths, headers, strict=True):
        problems = []
        if header.channels != first.channels:
            problems.append(f"{header.channels} channels, first file {first.channels}")
        if not math.isclose(header.foff_mhz, first.foff_mhz, rel_tol=1e-9):
            problems.append(f"foff {header.foff_mhz} MHz, first file {first.foff_mhz}")
        if abs(header.fch1_mhz - first.fch1_mhz) > abs(first.foff_mhz) / 2:
            problems.append(f"fch1 {header.fch1_mhz} MHz, first file {first.fch1_mhz}")
        if not math.isclose(header.tsamp_s, first.tsamp_s, rel_tol=1e-6):
            problems.append(f"tsamp {header.tsamp_s} s, first file {first.tsamp_s}")
        if problems:
            raise DataError(f"{path}: not on the cadence's grid: {'; '.join(problems)}")
    starts = [h.tstart_mjd for h in headers]
    if any(later <= earlier for earlier, later in zip(starts, starts[1:], strict=False)):
        raise DataError(f"{paths[0]}..: scans are not in time order (tstart {starts})")
    return headers


def search_cadence_files(
    paths: Sequence[str | os.PathLike],
    on_scans: Sequence[int] = (0, 2, 4),
    max_drift_hz_per_s: float = 4.0,
    snr_threshold: float = 10.0,
    off_snr_threshold: float = 6.0,
    off_tolerance: int = 4,
    coarse_channels: int | None = None,
    hit_window: int | None = None,
    bandpass_window: int = 0,
    noise: str = "mad",
) -> pd.DataFrame:
    """turboSETI's find_event over a cadence of files (ON and OFF scans in time order).

    Every hit of every scan, one row each (:data:`CADENCE_COLUMNS`): ``vetoed`` when an OFF
    scan holds a hit where its drift predicts, ``level`` the filter level the ON hit reaches
    (1: S/N cut; 2: not vetoed; 3: found again in every ON scan), 0 for OFF hits.
    """
    check_noise_statistic(noise)
    if len(paths) < 2:
        raise ValueError("a cadence needs at least two files")
    if not on_scans or any(not 0 <= s < len(paths) for s in on_scans):
        raise ValueError(f"ON scans {tuple(on_scans)} do not index {len(paths)} files")
    headers = cadence_headers(paths)
    first = headers[0]
    starts = tuple((h.tstart_mjd - first.tstart_mjd) * 86400.0 / first.tsamp_s for h in headers)
    max_drift_ch = abs(first.drift_ch_per_step(max_drift_hz_per_s))
    streams = [coarse_blocks(p, h, coarse_channels) for p, h in zip(paths, headers, strict=True)]
    rows = []
    for blocks in zip(*streams, strict=True):
        coarse, fine = blocks[0][0], blocks[0][1].shape[1]
        searches = [scan_search(block, max_drift_ch, bandpass_window, noise) for _, block in blocks]
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
        )
        for hit in score_cadence(cadence, rules)["hits"]:
            rows.append(
                {
                    "scan": hit["scan"],
                    "file": str(paths[hit["scan"]]),
                    **_physical(hit, coarse, fine, first),
                    "vetoed": hit["vetoed"],
                    "level": hit["level"],
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
