"""Cadences of filterbank files we can make: setigen scans with known needles and RFI.

A cadence is six scans (ABACAD, ON = 0, 2, 4) written as Breakthrough Listen files (``.h5``,
optionally bitshuffle-compressed as BL ships them, or sigproc ``.fil``), channel 0 the highest
frequency (``foff`` < 0), scan start times (``tstart``, MJD) increasing by the scan length plus
a slew gap. Every coarse channel is one setigen frame (chi-squared noise, setigen's S/N
convention: intensity = snr x noise std / sqrt(time steps)), written as soon as it is made, so
files of any size are made in bounded memory.

- A **needle** shows in the ON scans only, and its drift continues through the whole cadence:
  at a scan starting ``t`` seconds after the first, it starts at ``f + drift * t``.
- **RFI** shows in all six scans at the same place (a local transmitter, not a star).

``needles.csv`` lists both kinds (``kind``), at the first scan's start: file channel, coarse
channel, frequency (MHz), drift (Hz/s), S/N, width (Hz) and the scans holding it. Making files
needs the ``field`` extra (setigen, blimpy, h5py, hdf5plugin).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.config import ON_SCANS
from setibl.errors import DataError
from setibl.io import atomic_path, atomic_write_csv

FORMATS = ("h5", "h5-bitshuffle", "fil")
CADENCE_TARGETS = ("A", "B", "A", "C", "A", "D")
SIGNAL_COLUMNS = [
    "cadence",
    "kind",
    "channel",
    "coarse_channel",
    "frequency_mhz",
    "drift_hz_per_s",
    "snr",
    "width_hz",
    "scans",
]


@dataclass(frozen=True)
class Grid:
    """Channels and sampling of one scan: ``coarse_channels`` x ``fine_channels`` channels of
    ``df_hz`` (frequency falling with channel index from ``fch1_mhz``), ``time_steps`` samples
    of ``dt_s``; ``slew_s`` seconds between one scan's end and the next one's start."""

    coarse_channels: int = 16
    fine_channels: int = 1024
    time_steps: int = 279
    df_hz: float = 2861.02294921875  # BL mid resolution: 2.9296875 MHz / 1024
    dt_s: float = 1.073741824
    fch1_mhz: float = 1926.26953125
    slew_s: float = 20.0
    tstart_mjd: float = 60000.0

    @property
    def channels(self) -> int:
        return self.coarse_channels * self.fine_channels

    @property
    def scan_s(self) -> float:
        return self.time_steps * self.dt_s

    def scan_start_s(self, scan: int) -> float:
        """Seconds from the first scan's start to scan ``scan``'s start."""
        return scan * (self.scan_s + self.slew_s)

    def frequency_mhz(self, channel: float) -> float:
        return self.fch1_mhz - channel * self.df_hz * 1e-6


MID_RESOLUTION = Grid()
HIGH_RESOLUTION = Grid(
    coarse_channels=1,
    fine_channels=2**20,
    time_steps=16,
    df_hz=2.7939677238464355,
    dt_s=18.253611008,
    fch1_mhz=6095.214842353016,
)


@dataclass(frozen=True)
class Signal:
    """A line at file ``channel`` (at the first scan's start), drifting ``drift_hz_per_s``."""

    kind: str  # "needle" (ON scans only) or "rfi" (every scan)
    channel: float
    drift_hz_per_s: float
    snr: float
    width_hz: float

    def scans(self, count: int, on_scans: Sequence[int]) -> tuple[int, ...]:
        return tuple(on_scans) if self.kind == "needle" else tuple(range(count))


def random_signals(
    grid: Grid,
    needles: int,
    rfi: int,
    rng: np.random.Generator,
    snr: tuple[float, float] = (25.0, 60.0),
    drift_max_hz: float = 20.0,
    width_channels: float = 1.0,
) -> list[Signal]:
    """``needles`` + ``rfi`` lines, each alone in its coarse channel (RFI never shares one with
    a needle), far enough from the coarse channel's edges to stay inside it over the whole
    cadence. RFI drifts a tenth as fast as needles (mostly stationary carriers)."""
    count = needles + rfi
    if count > grid.coarse_channels:
        raise DataError(
            f"{count} signals need as many coarse channels, grid has {grid.coarse_channels}"
        )
    cadence_s = grid.scan_start_s(len(CADENCE_TARGETS))
    margin = math.ceil(drift_max_hz * cadence_s / grid.df_hz + 4 * width_channels) + 2
    if 2 * margin >= grid.fine_channels:
        raise DataError(
            f"drifts up to {drift_max_hz} Hz/s leave no room in {grid.fine_channels} channels"
        )
    coarse = rng.choice(grid.coarse_channels, size=count, replace=False)
    signals = []
    for i, block in enumerate(coarse.tolist()):
        kind = "needle" if i < needles else "rfi"
        drift = rng.uniform(-drift_max_hz, drift_max_hz) * (1.0 if kind == "needle" else 0.1)
        local = rng.integers(margin, grid.fine_channels - margin)
        signals.append(
            Signal(
                kind,
                float(block * grid.fine_channels + local),
                float(drift),
                float(rng.uniform(*snr)),
                float(width_channels * grid.df_hz),
            )
        )
    return signals


def _frame_block(
    grid: Grid, coarse: int, scan: int, signals: Sequence[Signal], on_scans, seed: int
) -> np.ndarray:
    """(time, fine) float32 of one coarse channel of one scan, in file channel order."""
    import setigen
    from astropy import units

    fine = grid.fine_channels
    top_hz = (grid.fch1_mhz * 1e6) - coarse * fine * grid.df_hz
    frame = setigen.Frame(
        fchans=fine,
        tchans=grid.time_steps,
        df=grid.df_hz * units.Hz,
        dt=grid.dt_s * units.s,
        fch1=top_hz * units.Hz,
        seed=seed,
    )
    frame.add_noise(x_mean=10, noise_type="chi2")
    elapsed = grid.scan_start_s(scan)
    for signal in signals:
        local = signal.channel - coarse * fine
        if not 0 <= local < fine or scan not in signal.scans(len(CADENCE_TARGETS), on_scans):
            continue
        start_hz = top_hz - local * grid.df_hz + signal.drift_hz_per_s * elapsed
        frame.add_signal(
            setigen.constant_path(
                f_start=start_hz * units.Hz, drift_rate=signal.drift_hz_per_s * units.Hz / units.s
            ),
            setigen.constant_t_profile(level=frame.get_intensity(snr=signal.snr)),
            setigen.gaussian_f_profile(width=signal.width_hz * units.Hz),
            setigen.constant_bp_profile(level=1),
        )
    # setigen keeps frequencies ascending; BL files store them falling (foff < 0)
    return np.ascontiguousarray(frame.data[:, ::-1], dtype=np.float32)


def _header(grid: Grid, scan: int, source: str) -> dict:
    return {
        "telescope_id": 6,  # Green Bank
        "machine_id": 10,
        "data_type": 1,
        "source_name": source,
        "rawdatafile": "setibl-make",
        "fch1": grid.fch1_mhz,
        "foff": -grid.df_hz * 1e-6,
        "nchans": grid.channels,
        "nfpc": grid.fine_channels,
        "nbeams": 1,
        "ibeam": 1,
        "nbits": 32,
        "nifs": 1,
        "tsamp": grid.dt_s,
        "tstart": grid.tstart_mjd + grid.scan_start_s(scan) / 86400.0,
        "src_raj": 5.5,  # hours
        "src_dej": 22.0,  # degrees
        "az_start": 0.0,
        "za_start": 0.0,
    }


def _write_h5(path: Path, header: dict, blocks, grid: Grid, compress: bool) -> None:
    import h5py
    import hdf5plugin

    shape = (grid.time_steps, 1, grid.channels)
    chunks = (grid.time_steps, 1, grid.fine_channels)
    options = dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4")) if compress else {}
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["CLASS"] = "FILTERBANK"
        handle.attrs["VERSION"] = "1.0"
        data = handle.create_dataset("data", shape, np.float32, chunks=chunks, **options)
        for key, value in header.items():
            data.attrs[key] = value
        for coarse, block in blocks:
            start = coarse * grid.fine_channels
            data[:, 0, start : start + grid.fine_channels] = block


def _write_fil(path: Path, header: dict, blocks, grid: Grid) -> None:
    from astropy.coordinates import Angle
    from blimpy.io.sigproc import header_keyword_types, to_sigproc_angle, to_sigproc_keyword

    text = to_sigproc_keyword("HEADER_START")
    for key, value in header.items():
        if key in ("src_raj", "src_dej"):  # sigproc's packed ddmmss.s angles
            angle = Angle(value, unit="hourangle" if key == "src_raj" else "deg")
            text += to_sigproc_keyword(key) + to_sigproc_angle(angle)
        elif key in header_keyword_types:
            text += to_sigproc_keyword(key, value)
    text += to_sigproc_keyword("HEADER_END")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(text)
            handle.truncate(len(text) + grid.time_steps * grid.channels * 4)
        shape = (grid.time_steps, 1, grid.channels)
        for coarse, block in blocks:
            # mapped for one block: a mapping's written pages count as resident memory until
            # it is unmapped, so one mapping for the whole file would grow to the file's size
            samples = np.memmap(tmp, np.float32, "r+", len(text), shape)
            start = coarse * grid.fine_channels
            samples[:, 0, start : start + grid.fine_channels] = block
            samples.flush()  # on disk before the mapping goes and the file is renamed into place
            del samples


def write_scan(
    path: str | os.PathLike,
    grid: Grid,
    scan: int,
    signals: Sequence[Signal],
    seed: int,
    file_format: str = "h5",
    on_scans: Sequence[int] = ON_SCANS,
    source: str = "SETIBL-A",
) -> Path:
    """One scan (``scan`` = its place in the cadence) as a filterbank file, atomically."""
    blocks = (
        (coarse, _frame_block(grid, coarse, scan, signals, on_scans, seed * 1_000_003 + coarse))
        for coarse in range(grid.coarse_channels)
    )
    return write_blocks(path, grid, scan, blocks, file_format, source)


def write_blocks(
    path: str | os.PathLike,
    grid: Grid,
    scan: int,
    blocks: Iterable[tuple[int, np.ndarray]],
    file_format: str = "h5",
    source: str = "SETIBL-A",
) -> Path:
    """One scan's file from ``blocks`` ((coarse channel, (time, fine) float32) pairs, every
    coarse channel once), written atomically one block at a time: a file of any size is
    written in the memory of one block. ``scan`` (its place in the cadence) sets ``tstart``."""
    if file_format not in FORMATS:
        raise DataError(f"file format {file_format!r}: expected one of {FORMATS}")
    path = Path(path)
    header = _header(grid, scan, source)
    blocks = _checked_blocks(path, blocks, grid)
    if file_format == "fil":
        _write_fil(path, header, blocks, grid)
    else:
        _write_h5(path, header, blocks, grid, compress=file_format == "h5-bitshuffle")
    return path


def _checked_blocks(
    path: Path, blocks: Iterable[tuple[int, np.ndarray]], grid: Grid
) -> Iterator[tuple[int, np.ndarray]]:
    """``blocks`` as given, checked on the way: each of shape (time_steps, fine_channels) and
    each coarse channel of the grid written exactly once (a ``DataError`` naming ``path``
    otherwise, raised while the file is still a temporary one, so none is left behind)."""
    expected = (grid.time_steps, grid.fine_channels)
    written: set[int] = set()
    for coarse, block in blocks:
        if not 0 <= coarse < grid.coarse_channels:
            raise DataError(
                f"{path}: coarse channel {coarse} is outside the grid's "
                f"0..{grid.coarse_channels - 1}"
            )
        if coarse in written:
            raise DataError(f"{path}: coarse channel {coarse} is given twice; each goes once")
        if np.shape(block) != expected:
            raise DataError(
                f"{path}: block of coarse channel {coarse} has shape {np.shape(block)}; the grid's "
                f"is (time steps, fine channels) = {expected}"
            )
        written.add(coarse)
        yield coarse, block
    missing = sorted(set(range(grid.coarse_channels)) - written)
    if missing:
        raise DataError(
            f"{path}: coarse channel(s) {_listed(missing)} never given; each of the grid's "
            f"{grid.coarse_channels} goes once"
        )


def _listed(values: Sequence[int], shown: int = 8) -> str:
    """``values`` comma-separated, the first ``shown`` only (a count of the rest after)."""
    text = ", ".join(map(str, values[:shown]))
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


def write_cadence(
    out: str | os.PathLike,
    name: str,
    grid: Grid,
    signals: Sequence[Signal],
    seed: int,
    file_format: str = "h5",
    on_scans: Sequence[int] = ON_SCANS,
) -> list[Path]:
    """Six scans ``out/<name>_<scan>_<target>.<ext>`` (ABACAD, increasing ``tstart``)."""
    suffix = "fil" if file_format == "fil" else "h5"
    paths = []
    for scan, target in enumerate(CADENCE_TARGETS):
        path = Path(out) / f"{name}_{scan}_{target}.{suffix}"
        scan_seed = seed * 7 + scan
        source = f"SETIBL-{name}-{target}"
        paths.append(
            write_scan(path, grid, scan, signals, scan_seed, file_format, on_scans, source)
        )
    return paths


def signal_table(name: str, grid: Grid, signals: Sequence[Signal], on_scans) -> pd.DataFrame:
    rows = [
        {
            "cadence": name,
            "kind": s.kind,
            "channel": s.channel,
            "coarse_channel": int(s.channel // grid.fine_channels),
            "frequency_mhz": grid.frequency_mhz(s.channel),
            "drift_hz_per_s": s.drift_hz_per_s,
            "snr": s.snr,
            "width_hz": s.width_hz,
            "scans": " ".join(map(str, s.scans(len(CADENCE_TARGETS), on_scans))),
        }
        for s in signals
    ]
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS)


def make_cadences(
    out: str | os.PathLike,
    cadences: int,
    grid: Grid = MID_RESOLUTION,
    needles: int = 4,
    rfi: int = 4,
    seed: int = 0,
    file_format: str = "h5",
    snr: tuple[float, float] = (25.0, 60.0),
    drift_max_hz: float = 20.0,
    on_scans: Sequence[int] = ON_SCANS,
) -> Path:
    """``cadences`` cadences in ``out``, with ``out/needles.csv`` (every needle and RFI line)
    and ``out/cadences.csv`` (cadence, path: the files of each cadence in time order).
    Deterministic by ``seed``. Returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables, listing = [], []
    for index in range(cadences):
        name = f"c{index:04d}"
        rng = np.random.default_rng([seed, index])
        signals = random_signals(grid, needles, rfi, rng, snr, drift_max_hz)
        paths = write_cadence(
            out, name, grid, signals, seed * 10_007 + index, file_format, on_scans
        )
        tables.append(signal_table(name, grid, signals, on_scans))
        listing += [{"cadence": name, "path": path.name} for path in paths]
    atomic_write_csv(out / "needles.csv", pd.concat(tables, ignore_index=True))
    atomic_write_csv(out / "cadences.csv", pd.DataFrame(listing))
    return out
