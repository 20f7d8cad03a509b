"""Breakthrough Listen filterbank files (.h5 / .fil): headers and coarse-channel reading.

A filterbank holds one scan: ``(time, feed, channel)`` power with header keys ``fch1`` (MHz of
channel 0), ``foff`` (signed channel width, MHz; negative for BL data), ``tsamp`` (s), ``tstart``
(MJD) and sometimes ``nfpc`` (fine channels per coarse channel). Files are read one coarse
channel at a time, so a 4 GB file never sits in memory at once. Reading needs the ``field``
extra (blimpy; h5py and hdf5plugin come with it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from setibl.errors import DataError

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
    except (Exception, SystemExit) as err:  # blimpy raises many kinds, and exits on some files
        raise DataError(
            f"{path}: not a readable filterbank ({err or type(err).__name__})"
        ) from None
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


def _fil_layout(path: str | os.PathLike, header: Header) -> dict:
    """Where a .fil file's samples lie: ``np.memmap`` keywords of its (time, feeds, channels)
    array (read from the header only)."""
    from blimpy.io import sigproc

    fields = sigproc.read_header(str(path))
    bits = int(fields.get("nbits", 32))
    if bits not in _SIGPROC_DTYPES:
        raise DataError(f"{path}: {bits}-bit samples are not supported (8, 16 or 32)")
    feeds = int(fields.get("nifs", 1))
    offset = sigproc.len_header(str(path))
    steps = (os.path.getsize(path) - offset) // (feeds * header.channels * bits // 8)
    shape = (steps, feeds, header.channels)
    return {"dtype": _SIGPROC_DTYPES[bits], "mode": "r", "offset": offset, "shape": shape}


def _fil_block(
    path: str | os.PathLike, layout: dict, start: int, width: int, steps: int | None
) -> np.ndarray:
    """(steps, width) float32 copy of feed 0's channels ``start:start + width`` (every time
    step when ``steps`` is None). The file is mapped for this block only: pages a mapping has
    touched count as the process's resident memory until it is unmapped, so one mapping kept for
    a whole file would grow to the file's size."""
    samples = np.memmap(path, **layout)
    block = np.array(samples[:steps, 0, start : start + width], np.float32)
    del samples  # the last reference: unmapped here
    return block


def coarse_blocks(
    path: str | os.PathLike,
    header: Header,
    coarse_channels: int | None = None,
    chunk_channels: int = HIGH_RESOLUTION_FINE_CHANNELS,
    only: Sequence[int] | None = None,
    time_steps: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(index, first channel, (T, width) float32) per coarse channel, feed 0, read one block at
    a time (an .h5 dataset is sliced; a .fil file mapped for one block, copied, unmapped) and
    held by nobody once the caller drops it: a file never sits in memory whole.
    ``coarse_channels`` None: :meth:`Header.coarse_channel_count`, except that a file with
    neither ``nfpc`` nor a multiple of 2^20 channels is read in blocks of ``chunk_channels``
    (the last one narrower) rather than whole. ``only``: just these blocks
    (indices, in the order given). ``time_steps``: only the first ones (None: all)."""
    if coarse_channels is None:
        coarse_channels = header.coarse_channel_count()
        has_nfpc = header.fine_per_coarse and header.channels % header.fine_per_coarse == 0
        if coarse_channels == 1 and not has_nfpc and header.channels > chunk_channels:
            coarse_channels = 0  # chunked below
    if coarse_channels and (coarse_channels < 1 or header.channels % coarse_channels):
        raise DataError(
            f"{path}: {header.channels} channels do not split into "
            f"{coarse_channels} coarse channels"
        )
    width = header.channels // coarse_channels if coarse_channels else chunk_channels
    starts = list(range(0, header.channels, width))
    indices = range(len(starts)) if only is None else list(only)
    if any(not 0 <= index < len(starts) for index in indices):
        raise DataError(f"{path}: coarse channels {list(indices)} outside 0..{len(starts) - 1}")
    import h5py

    if h5py.is_hdf5(path):  # by content: .h5, .hdf5, any name
        import hdf5plugin  # noqa: F401  (registers the bitshuffle filter BL files use)

        with h5py.File(path, "r") as handle:
            data = handle["data"]
            for index in indices:
                start = starts[index]
                # no local name for the block: a suspended generator would keep it alive
                yield index, start, np.asarray(data[:time_steps, 0, start : start + width], "f4")
    else:
        layout = _fil_layout(path, header)
        for index in indices:
            yield index, starts[index], _fil_block(path, layout, starts[index], width, time_steps)


def coarse_block(
    path: str | os.PathLike, header: Header, index: int, coarse_channels: int | None = None
) -> np.ndarray:
    """(T, width) float32 of one coarse channel (see :func:`coarse_blocks`)."""
    return next(coarse_blocks(path, header, coarse_channels, only=[index]))[2]


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
