"""Atomic file writes: write beside the target, then rename, so no reader sees half a file."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

TEMPORARY_PATTERN = ".*.tmp*"  # what atomic_path names its temporaries


def _create_temporary(path: Path) -> str:
    """A new empty file beside ``path``, created with mode 0666 less the umask, like any file
    the process creates (``mkstemp`` would force 0600 on every output)."""
    suffix = "".join(path.suffixes) or ".tmp"
    while True:
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}.tmp{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
        os.close(fd)
        return str(tmp)


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete temporaries that a killed writer left in ``folder``; returns what was deleted.

    Only for folders one process writes at a time (a live writer's temporary would go too).
    """
    stale = [p for p in Path(folder).glob(TEMPORARY_PATTERN) if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffixes, for writers that look at them);
    rename it to ``path`` when the block succeeds, delete it when it fails.

    The rename makes a write all-or-nothing for readers and killed processes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], fsync: bool = True
) -> Path:
    """Call ``write(handle)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    ``fsync`` additionally survives power loss, at some cost per file.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    return atomic_write_bytes(path, frame.to_csv(index=False).encode("utf-8"))


@functools.lru_cache(maxsize=16)
def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray, fsync: bool = True) -> Path:
    """Write ``array`` as a .npy file atomically (the same bytes as ``np.save``).

    The header of a given shape and dtype is built once, and header and data go out in one
    system call: this is the hot loop of data set synthesis.
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    header = _npy_header(array.shape, np.lib.format.dtype_to_descr(array.dtype))
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(array).cast("B")
            written = os.writev(fd, [header, view])
            if written != len(header) + view.nbytes:  # rare short write: finish the rest
                rest = (header + view.tobytes())[written:]
                while rest:
                    rest = rest[os.write(fd, rest) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    return path


def read_csv_text(path: str | os.PathLike, text: Iterable[str]) -> pd.DataFrame:
    """A CSV whose ``text`` columns are strings, exactly as written (``""`` when empty); only
    the other columns' empty fields are missing values."""
    text = set(text)
    names = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(
        path,
        dtype={c: str for c in names if c in text},
        keep_default_na=False,
        na_values={c: [""] for c in names if c not in text},
    )
