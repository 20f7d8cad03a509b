"""Results that stream to disk as units of work finish, and a done-manifest to resume from.

A folder holds one CSV per table (``<table>.csv``), ``done.jsonl`` (one line per finished
unit: its key and the byte length of every table once its rows were appended) and
``manifest.json`` (what the work is: a resumed job must be the same job). A unit's rows are
appended and flushed to disk first, its ``done`` line after; reopening truncates every table to
the lengths of the last complete ``done`` line. So a job killed anywhere loses at most the
units in flight, which it redoes, and no unit's rows ever appear twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from setibl.errors import OutputExistsError
from setibl.io import atomic_write_json, read_csv_text

DONE_FILE = "done.jsonl"
MANIFEST_FILE = "manifest.json"


def _append(path: Path, data: bytes) -> int:
    """Append ``data`` durably; the file's length afterwards. A new file gets mode 0o666 less
    the umask, as every file :mod:`setibl.io` writes."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


class ResultsLog:
    """Tables ``columns`` (name -> column list) in ``folder``, for the job ``identity``;
    ``text`` columns read back as strings (a cadence named ``007`` stays ``007``, an empty
    one stays ``""``), every other column as pandas infers it (an empty field: NaN).

    An existing folder of the same job is resumed; of another job, OutputExistsError unless
    ``overwrite``.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        columns: Mapping[str, list[str]],
        identity: dict,
        overwrite: bool = False,
        text: Iterable[str] = (),
    ) -> None:
        self.folder = Path(folder)
        self.columns = {name: list(cols) for name, cols in columns.items()}
        self.text = frozenset(text)
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / MANIFEST_FILE
        wanted = json.loads(json.dumps(identity, default=str))
        if manifest.is_file():
            if json.loads(manifest.read_text()) != wanted and not overwrite:
                raise OutputExistsError(
                    f"{self.folder}: holds results of another scan (other files or settings); "
                    "choose a new folder or pass --overwrite"
                )
            if json.loads(manifest.read_text()) != wanted:
                self._clear()
        elif any(self.folder.iterdir()) and not overwrite:
            raise OutputExistsError(f"{self.folder}: not empty and not a scan's results folder")
        else:
            self._clear()
        atomic_write_json(manifest, wanted)
        self.finished = self._recover()

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.csv"

    def _clear(self) -> None:
        for name in [*(f"{t}.csv" for t in self.columns), DONE_FILE, MANIFEST_FILE]:
            (self.folder / name).unlink(missing_ok=True)

    def _header_length(self, table: str) -> int:
        return len((",".join(self.columns[table]) + "\n").encode())

    def _recover(self) -> dict[str, dict]:
        """Finished units (key -> its done record); tables cut back to the last of them."""
        done_path = self.folder / DONE_FILE
        records: dict[str, dict] = {}
        good = 0
        if done_path.is_file():
            raw = done_path.read_bytes()
            for line in raw.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break  # torn by a kill: that unit is not done
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break
                records[record["unit"]] = record
                good += len(line)
            with open(done_path, "r+b") as handle:
                handle.truncate(good)
        last = list(records.values())[-1]["ends"] if records else {}
        for table in self.columns:
            path = self.path(table)
            length = last.get(table, 0)
            if length == 0 or not path.is_file():
                path.unlink(missing_ok=True)
                length = _append(path, (",".join(self.columns[table]) + "\n").encode())
            with open(path, "r+b") as handle:
                handle.truncate(max(length, self._header_length(table)))
        return records

    def append(self, unit: str, rows: Mapping[str, Iterable[dict]], **facts) -> None:
        """Append one finished unit's rows to every table, then mark it done (``facts`` go
        into its done record)."""
        ends = {}
        for table, columns in self.columns.items():
            frame = pd.DataFrame(list(rows.get(table, [])), columns=columns)
            data = frame.to_csv(index=False, header=False).encode() if len(frame) else b""
            ends[table] = _append(self.path(table), data)
        record = {"unit": unit, "ends": ends, **facts}
        _append(self.folder / DONE_FILE, (json.dumps(record, default=str) + "\n").encode())
        self.finished[unit] = record

    def table(self, name: str) -> pd.DataFrame:
        return read_csv_text(self.path(name), self.text)
