"""Cadences of files as a scan takes them: checked whole before any work starts.

``--cadences LIST.csv`` lists one file a row, ``cadence,path`` (paths relative to the list's
folder), the files of each cadence in time order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from setibl.errors import DataError
from setibl.observations.filterbank import Header, cadence_headers, read_header


def read_cadence_list(path: str | os.PathLike) -> dict[str, list[Path]]:
    """``cadence -> [paths in time order]`` from a ``cadence,path`` CSV."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: cadence list not found")
    try:
        table = pd.read_csv(path, dtype=str)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: no cadence listed (empty file; expected cadence,path rows)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a CSV cadence list ({err})") from None
    missing = {"cadence", "path"} - set(table.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}; expected cadence,path")
    if table[["cadence", "path"]].isna().any().any():
        raise DataError(
            f"{path}: empty cadence or path in row(s) {list(table.index[table.isna().any(axis=1)])}"
        )
    if table.empty:
        raise DataError(f"{path}: no cadence listed (no cadence,path rows)")
    cadences: dict[str, list[Path]] = {}
    for row in table.itertuples():
        file = Path(row.path)
        cadences.setdefault(row.cadence, []).append(
            file if file.is_absolute() else path.parent / file
        )
    return cadences


def _check_complete(path: Path, header: Header) -> None:
    """A .fil file whose samples stop inside a spectrum was cut short (an .h5 file cut short
    does not open at all)."""
    if path.suffix != ".fil":
        return
    from blimpy.io import sigproc

    fields = sigproc.read_header(str(path))
    row = int(fields.get("nifs", 1)) * header.channels * int(fields.get("nbits", 32)) // 8
    data = path.stat().st_size - sigproc.len_header(str(path))
    if data <= 0 or data % row:
        raise DataError(
            f"{path}: truncated ({data} bytes of samples, not a whole number of {row}-byte spectra)"
        )


def check_cadence(
    paths: Sequence[str | os.PathLike], on_scans: Sequence[int], scans: int | None = None
) -> list[Header]:
    """Headers of a cadence's files, or DataError naming the file that breaks a rule: the file
    count (``scans`` when given, else at least two), ON scans that index no file, repeat or
    leave no OFF scan, a file that does not read or was cut short, a grid unlike the first
    file's, scans out of time order."""
    paths = [Path(p) for p in paths]
    name = paths[0] if paths else "cadence"
    if scans is not None and len(paths) != scans:
        raise DataError(f"{name}: {len(paths)} files in the cadence, expected {scans}")
    if len(paths) < 2:
        raise DataError(f"{name}: a cadence needs at least two files, got {len(paths)}")
    if not on_scans or any(not 0 <= s < len(paths) for s in on_scans):
        raise DataError(f"{name}: ON scans {tuple(on_scans)} do not index {len(paths)} files")
    if len(set(on_scans)) != len(on_scans):
        raise DataError(f"{name}: ON scans {tuple(on_scans)} name a scan twice")
    if len(set(on_scans)) == len(paths):
        raise DataError(
            f"{name}: ON scans {tuple(on_scans)} leave no OFF scan among the {len(paths)} files "
            "(the OFF scans veto RFI)"
        )
    headers = [read_header(path) for path in paths]
    for earlier, later, header, previous in zip(
        paths, paths[1:], headers[1:], headers, strict=False
    ):
        if header.tstart_mjd <= previous.tstart_mjd:
            raise DataError(
                f"{later}: starts at MJD {header.tstart_mjd}, not after the file before it "
                f"({earlier}, MJD {previous.tstart_mjd}); give the files in time order"
            )
    headers = cadence_headers(paths)
    for path, header in zip(paths, headers, strict=True):
        _check_complete(path, header)
    return headers
