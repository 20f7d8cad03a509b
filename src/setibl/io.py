"""Atomic file writes: write beside the target, then rename, so no reader sees half a file."""

from __future__ import annotations

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


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray, fsync: bool = True) -> Path:
    return atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False), fsync)


def atomic_copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy ``source`` to ``path`` atomically (for files written by other libraries)."""
    return atomic_write_bytes(path, Path(source).read_bytes())
