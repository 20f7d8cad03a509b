"""Kaggle-layout data: discover snippets, validate them, load them as float32 cadences.

Layout (SPEC)::

    DATA/train_labels.csv        id,target
    DATA/sample_submission.csv   id,target
    DATA/train/<id[0]>/<id>.npy  (scans, time, channels) float16
    DATA/test/<id[0]>/<id>.npy
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.errors import DataError

LABELS_FILE = "train_labels.csv"
SUBMISSION_FILE = "sample_submission.csv"
SPLITS = ("train", "test")
ACCEPTED_DTYPES = (np.float16, np.float32, np.float64)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data folder."""

    split: str
    id: str
    path: str
    kind: str  # missing-file, unlabelled-file, duplicate-id, bad-shape, bad-dtype, ...
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.path}: {self.message}"


@dataclass
class ValidationReport:
    """Tables of good snippets per split, plus every problem found."""

    tables: dict[str, pd.DataFrame]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"problems": len(self.problems)}
        for split, table in self.tables.items():
            out[f"{split}_count"] = len(table)
            out[f"{split}_groups"] = int(table["group"].nunique()) if len(table) else 0
            if "target" in table:
                out[f"{split}_positives"] = int(table["target"].sum())
        return out

    def dropped_table(self) -> pd.DataFrame:
        rows = [p.__dict__ for p in self.problems]
        return pd.DataFrame(rows, columns=["split", "id", "path", "kind", "message"])


def snippet_path(data_dir: str | os.PathLike, split: str, snippet_id: str) -> Path:
    return Path(data_dir) / split / snippet_id[0] / f"{snippet_id}.npy"


def _scan_files(split_dir: Path) -> dict[str, list[Path]]:
    """Map id -> every .npy file of that id below ``split_dir`` (more than one is a problem)."""
    found: dict[str, list[Path]] = {}
    if split_dir.is_dir():
        for path in sorted(split_dir.rglob("*.npy")):
            found.setdefault(path.stem, []).append(path)
    return found


def _read_id_csv(path: Path, with_target: bool) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"id": str})
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({err})") from None
    needed = ["id", "target"] if with_target else ["id"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


_HALF_TO_SINGLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
_HALF_EXPONENT = np.uint16(0x7C00)  # all exponent bits set: Inf or NaN


class _SnippetProblem(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _read_npy(path: Path, shape: Sequence[int], values: bool = True) -> np.ndarray | None:
    """One pass over a .npy file: header, size and values checked; stored dtype kept.

    ``values=False`` checks header and file size only (no data read) and returns None.
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                file_shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                file_shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            if dtype.type not in ACCEPTED_DTYPES:
                raise _SnippetProblem(
                    "bad-dtype", f"dtype {dtype} is not a float type (float16/float32/float64)"
                )
            if tuple(file_shape) != tuple(shape):
                raise _SnippetProblem(
                    "bad-shape", f"shape {tuple(file_shape)}, expected {tuple(shape)}"
                )
            data_offset = handle.tell()
            count = int(np.prod(file_shape))
            if values:
                data = np.fromfile(handle, dtype=dtype, count=count)
                stored = data.size
            else:
                stored = (os.fstat(handle.fileno()).st_size - data_offset) // dtype.itemsize
    except FileNotFoundError:
        raise _SnippetProblem("missing-file", "file not found") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise _SnippetProblem("unreadable", f"unreadable .npy ({err})") from None
    if stored < count:
        expected = data_offset + count * dtype.itemsize
        actual = data_offset + stored * dtype.itemsize
        raise _SnippetProblem(
            "unreadable", f"truncated: {actual} bytes, header promises {expected}"
        )
    if not values:
        return None
    if dtype.type is np.float16:
        bad = int(np.count_nonzero((data.view(np.uint16) & _HALF_EXPONENT) == _HALF_EXPONENT))
    else:
        bad = 0 if np.isfinite(data).all() else int((~np.isfinite(data)).sum())
    if bad:
        raise _SnippetProblem("non-finite", f"{bad} NaN/Inf value(s)")
    return data.reshape(shape, order="F" if fortran else "C")


def to_float32(array: np.ndarray) -> np.ndarray:
    """float16/32/64 -> float32; float16 through a lookup table (twice NumPy's cast)."""
    if array.dtype == np.float16:
        return _HALF_TO_SINGLE.take(np.ascontiguousarray(array).view(np.uint16))
    return array.astype(np.float32, copy=False)


def load_snippet(path: str | os.PathLike, shape: Sequence[int] = (6, 273, 256)) -> np.ndarray:
    """Load one cadence as float32 of ``shape``; raise DataError naming the file if it is bad."""
    path = Path(path)
    try:
        return to_float32(_read_npy(path, shape))
    except _SnippetProblem as problem:
        raise DataError(f"{path}: {problem.message}") from None


def load_many(
    paths: Sequence[str | os.PathLike],
    shape: Sequence[int] = (6, 273, 256),
    workers: int = 2,
) -> np.ndarray:
    """Load cadences in parallel threads (I/O and NumPy release the GIL): (N, *shape) float32."""
    out = np.empty((len(paths), *shape), dtype=np.float32)

    def load_into(index: int) -> None:
        out[index] = load_snippet(paths[index], shape)

    if workers <= 1:
        for i in range(len(paths)):
            load_into(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(load_into, range(len(paths))))
    return out


def discover(data_dir: str | os.PathLike, split: str = "train") -> pd.DataFrame:
    """Table of a split: id, path, group and (train) target, in the order of the id CSV.

    Train ids come from train_labels.csv, test ids from sample_submission.csv, or from the
    files themselves when that CSV is absent. No file is opened; see :func:`validate`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data_dir = Path(data_dir)
    csv = data_dir / (LABELS_FILE if split == "train" else SUBMISSION_FILE)
    if csv.is_file():
        frame = _read_id_csv(csv, with_target=split == "train")
        frame = frame[["id", "target"]] if split == "train" else frame[["id"]].copy()
    elif split == "test":
        ids = sorted(_scan_files(data_dir / split))
        frame = pd.DataFrame({"id": ids})
    else:
        raise DataError(f"{csv}: file not found")
    frame = frame.reset_index(drop=True)
    frame["path"] = [str(snippet_path(data_dir, split, i)) for i in frame["id"]]
    frame["group"] = frame["id"].str[0]
    columns = ["id", "path", "group"] + (["target"] if split == "train" else [])
    return frame[columns]


def _content_problem(path: Path, shape: Sequence[int], values: bool) -> tuple[str, str] | None:
    try:
        _read_npy(path, shape, values)
    except _SnippetProblem as problem:
        return problem.kind, problem.message
    return None


def _split_problems(
    data_dir: Path,
    split: str,
    table: pd.DataFrame,
    shape: Sequence[int],
    workers: int,
    values: bool,
) -> list[Problem]:
    problems: list[Problem] = []
    csv_name = LABELS_FILE if split == "train" else SUBMISSION_FILE
    files = _scan_files(data_dir / split)
    duplicated = table["id"][table["id"].duplicated()].unique()
    for snippet_id in duplicated:
        problems.append(
            Problem(
                split,
                snippet_id,
                str(data_dir / csv_name),
                "duplicate-id",
                f"id {snippet_id} listed more than once",
            )
        )
    listed = set(table["id"])
    for snippet_id, paths in files.items():
        if snippet_id not in listed:
            kind = "unlabelled-file" if split == "train" else "unlisted-file"
            what = "no label in" if split == "train" else "id not in"
            problems.append(Problem(split, snippet_id, str(paths[0]), kind, f"{what} {csv_name}"))
        if len(paths) > 1:
            problems.append(
                Problem(
                    split,
                    snippet_id,
                    str(paths[1]),
                    "duplicate-id",
                    f"id also stored at {paths[0]}",
                )
            )
    if split == "train":
        bad_target = ~table["target"].isin([0, 1])
        for _, row in table[bad_target].iterrows():
            problems.append(
                Problem(
                    split,
                    row["id"],
                    str(data_dir / csv_name),
                    "bad-label",
                    f"target {row['target']!r} is not 0 or 1",
                )
            )
    existing = []
    for _, row in table.drop_duplicates("id").iterrows():
        path = Path(row["path"])
        if not path.is_file():
            kind = "missing-file"
            problems.append(Problem(split, row["id"], str(path), kind, f"listed in {csv_name}"))
        else:
            existing.append((row["id"], path))

    def check(item: tuple[str, Path]) -> Problem | None:
        snippet_id, path = item
        found = _content_problem(path, shape, values)
        return Problem(split, snippet_id, str(path), *found) if found else None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        problems.extend(p for p in pool.map(check, existing) if p is not None)
    return problems


def validate(
    data_dir: str | os.PathLike,
    shape: Sequence[int] = (6, 273, 256),
    splits: Iterable[str] = SPLITS,
    workers: int = 2,
    values: bool = True,
) -> ValidationReport:
    """Check a Kaggle-layout folder file by file; the report's tables hold only good snippets.

    ``values=False`` checks ids, labels, headers and file sizes but reads no data (NaN/Inf
    are then found by whoever loads the file: :func:`load_snippet` names it).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a folder")
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for split in splits:
        if split == "test" and not (data_dir / "test").is_dir():
            continue
        table = discover(data_dir, split)
        split_problems = _split_problems(data_dir, split, table, shape, workers, values)
        problems.extend(split_problems)
        bad_ids = {p.id for p in split_problems}
        tables[split] = table[~table["id"].isin(bad_ids)].reset_index(drop=True)
    return ValidationReport(tables=tables, problems=problems)
