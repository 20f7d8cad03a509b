"""Atomic file writes: write beside the target, then rename, so no reader sees half a file."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], fsync: bool = True
) -> Path:
    """Call ``write(handle)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    The rename makes the write all-or-nothing for readers and killed processes; ``fsync``
    additionally survives power loss at some cost per file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy ``source`` to ``path`` atomically (for files written by other libraries)."""
    return atomic_write_bytes(path, Path(source).read_bytes())
