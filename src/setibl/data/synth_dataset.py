"""Write a synthetic data set in the Kaggle layout, in parallel, deterministically, atomically.

Output (besides the Kaggle files): ``test_labels.csv`` (so test AUC can be measured) and
``needles.csv`` (one row per injected needle and per RFI source). Every snippet's random stream
is derived from (seed, split, index) alone, so the bytes do not depend on the worker count.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.config import SynthConfig
from setibl.data.kaggle import LABELS_FILE, SUBMISSION_FILE, snippet_path
from setibl.data.rendering import CadenceGeometry
from setibl.data.signal_table import NEEDLE_COLUMNS, signal_row
from setibl.data.synth import make_cadence
from setibl.errors import OutputExistsError
from setibl.io import atomic_save_npy, atomic_write_csv

TEST_LABELS_FILE = "test_labels.csv"
NEEDLES_FILE = "needles.csv"
SPLIT_CODES = {"train": 0, "test": 1}
OUTPUTS = ("train", "test", LABELS_FILE, SUBMISSION_FILE, TEST_LABELS_FILE, NEEDLES_FILE)


@dataclass(frozen=True)
class _Job:
    split: str
    start: int
    stop: int
    positives: frozenset[int]
    out: str
    seed: int
    config: SynthConfig
    geometry: CadenceGeometry


def snippet_id(seed: int, split: str, index: int) -> str:
    """A Kaggle-style 15-hex-digit id, fixed by (seed, split, index)."""
    return hashlib.blake2b(f"{seed}:{split}:{index}".encode(), digest_size=8).hexdigest()[:15]


def positive_indices(seed: int, split: str, count: int, fraction: float) -> frozenset[int]:
    """Exactly round(count * fraction) positives, placed by the seed."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], 7919])
    n_pos = int(round(count * fraction))
    return frozenset(int(i) for i in rng.permutation(count)[:n_pos])


def _snippet_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def generate_one(
    seed: int,
    split: str,
    index: int,
    needle: bool,
    config: SynthConfig,
    geometry: CadenceGeometry,
) -> tuple[str, np.ndarray, list[dict]]:
    """(id, float16 cadence, signal rows) of snippet ``index`` of ``split``."""
    rng = _snippet_rng(seed, split, index)
    rfi = bool(rng.uniform() < config.rfi_fraction)
    ident = snippet_id(seed, split, index)
    data, signals = make_cadence(rng, geometry, config, needle=needle, rfi=rfi)
    return ident, data, [signal_row(ident, split, s, config) for s in signals]


def _run_job(job: _Job) -> list[tuple[str, int, list[dict]]]:
    results = []
    for index in range(job.start, job.stop):
        needle = index in job.positives
        ident, data, rows = generate_one(
            job.seed, job.split, index, needle, job.config, job.geometry
        )
        atomic_save_npy(snippet_path(job.out, job.split, ident), data, fsync=False)
        results.append((ident, int(needle), rows))
    return results


def _prepare_output(out: Path, overwrite: bool) -> None:
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not overwrite:
        raise OutputExistsError(
            f"{out} already holds {', '.join(present)}; pass --overwrite to replace them"
        )
    for name in present:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_dataset(
    out: str | os.PathLike,
    n_train: int,
    n_test: int,
    config: SynthConfig,
    geometry: CadenceGeometry,
    seed: int = 42,
    mapper: Callable[[Callable, Iterable], Iterator] = map,
    overwrite: bool = False,
    chunk: int = 16,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write ``n_train`` + ``n_test`` cadences under ``out``; returns counts.

    ``mapper`` runs the chunks (``map``, or an executor's ordered map across processes).
    CSVs are written last, so a folder without ``train_labels.csv`` is an unfinished run.
    """
    out = Path(out)
    _prepare_output(out, overwrite)
    jobs: list[_Job] = []
    for split, count in (("train", n_train), ("test", n_test)):
        positives = positive_indices(seed, split, count, config.needle_fraction)
        for start in range(0, count, chunk):
            jobs.append(
                _Job(
                    split,
                    start,
                    min(count, start + chunk),
                    positives,
                    str(out),
                    seed,
                    config,
                    geometry,
                )
            )
    labels: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    signal_rows: list[dict] = []

    def collect(job: _Job, results: list[tuple[str, int, list[dict]]]) -> None:
        for ident, target, rows in results:
            labels[job.split].append((ident, target))
            signal_rows.extend(rows)
        if progress is not None:
            progress(len(results))

    for job, results in zip(jobs, mapper(_run_job, jobs), strict=True):
        collect(job, results)
    _check_unique(labels)
    needles = pd.DataFrame(signal_rows, columns=NEEDLE_COLUMNS)
    atomic_write_csv(out / NEEDLES_FILE, needles)
    return {**write_label_files(out, labels), "signals": len(needles)}


def write_label_files(out: Path, labels: dict[str, list[tuple[str, int]]]) -> dict[str, int]:
    """``test_labels.csv``, ``sample_submission.csv`` and, last (its presence marks a finished
    set), ``train_labels.csv`` from (id, target) rows per split; returns the counts."""
    test = pd.DataFrame(labels["test"], columns=["id", "target"])
    atomic_write_csv(out / TEST_LABELS_FILE, test)
    atomic_write_csv(out / SUBMISSION_FILE, test.assign(target=0.5))
    train = pd.DataFrame(labels["train"], columns=["id", "target"])
    atomic_write_csv(out / LABELS_FILE, train)
    return {
        "train": len(train),
        "test": len(test),
        "train_positives": int(train["target"].sum()),
        "test_positives": int(test["target"].sum()),
    }


def _check_unique(labels: dict[str, list[tuple[str, int]]]) -> None:
    ids = [i for rows in labels.values() for i, _ in rows]
    if len(ids) != len(set(ids)):
        raise RuntimeError("snippet id collision; choose another seed")
