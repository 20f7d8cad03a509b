"""Data jobs: synthesize a set, draw a cadence, shard a Kaggle-layout folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm import tqdm

from setibl.config import Config
from setibl.data.kaggle import load_snippet, snippet_path
from setibl.errors import DataError
from setibl.jobs.executor import Executor

if TYPE_CHECKING:  # the heavy modules load where they are used: `dedoppler` starts fast
    from setibl.data.rendering import CadenceGeometry


def geometry_from_config(config: Config) -> CadenceGeometry:
    from setibl.data.rendering import CadenceGeometry

    return CadenceGeometry(
        scans=config.data.scans,
        height=config.data.height,
        width=config.data.width,
        gap_steps=config.synth.gap_steps,
    )


def synthesize(
    config: Config,
    out: str | os.PathLike,
    n_train: int,
    n_test: int,
    seed: int,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Write a synthetic Kaggle-layout set with a progress bar; returns the counts."""
    from setibl.data.synth_dataset import write_dataset

    with tqdm(total=n_train + n_test, desc="synth", unit="cadence", disable=not progress) as bar:
        return write_dataset(
            out,
            n_train,
            n_test,
            config.synth,
            geometry_from_config(config),
            seed=seed,
            mapper=Executor(workers=workers).map,
            overwrite=overwrite,
            progress=bar.update,
        )


def synthesize_background(
    config: Config,
    cadences_csv: str | os.PathLike,
    out: str | os.PathLike,
    n_train: int,
    n_test: int,
    seed: int,
    overwrite: bool = False,
    split_by: str = "cadence",
) -> dict[str, int]:
    """A Kaggle-layout set cut from the cadences listed in ``cadences_csv`` (cadence,path),
    needles injected into the ON scans of ``synth.needle_fraction`` of the windows; train and
    test windows from different cadences (``split_by="cadence"``) or mixed (``"window"``)."""
    from setibl.data.background import write_background_dataset
    from setibl.observations.cadences import read_cadence_list

    return write_background_dataset(
        out,
        read_cadence_list(cadences_csv),
        config,
        n_train,
        n_test,
        seed=seed,
        overwrite=overwrite,
        coarse_channels=config.observations.coarse_channels or None,
        split_by=split_by,
    )


def find_split(data: str | os.PathLike, snippet_id: str) -> str:
    for split in ("train", "test"):
        if snippet_path(data, split, snippet_id).is_file():
            return split
    raise DataError(f"{data}: no snippet with id {snippet_id} in train/ or test/")


def show_cadence(
    config: Config,
    data: str | os.PathLike,
    snippet_id: str,
    out: str | os.PathLike,
    split: str | None = None,
) -> Path:
    """PNG of one cadence's six scans, titled with its label and injected signals if known."""
    from setibl.data.synth_dataset import NEEDLES_FILE
    from setibl.measure.plots import plot_cadence

    split = split or find_split(data, snippet_id)
    cadence = load_snippet(snippet_path(data, split, snippet_id), config.cadence_shape)
    notes = []
    needles = Path(data) / NEEDLES_FILE
    if needles.is_file():
        table = pd.read_csv(needles, dtype={"id": str, "scans": str})
        for _, row in table[table["id"] == snippet_id].iterrows():
            notes.append(
                f"{row['role']} {row['kind']}: scans {row['scans']}, snr {row['snr']:.1f}, "
                f"drift {row['drift_rate']:.3f} Hz/s, {row['profile']}"
            )
    return plot_cadence(cadence, out, title=f"{snippet_id} ({split})", notes=notes)


def shard_data(
    config: Config,
    data: str | os.PathLike,
    out: str | os.PathLike,
    skip_bad: bool = False,
    progress: bool = True,
    splits: tuple[str, ...] = ("train", "test"),
) -> dict:
    """Validate a Kaggle-layout folder, then write its train and test shards into ``out``.

    A bad snippet stops the run unless ``skip_bad``; then what was dropped is listed in
    ``out/dropped.csv``. Without ``skip_bad`` each file is read once: ids, labels, headers and
    sizes are checked first, NaN/Inf values while writing (the error names the file; finished
    shards are kept, so a rerun resumes). With it, every value is checked before writing.
    """
    from setibl.data.kaggle import validate
    from setibl.io import atomic_write_csv
    from setibl.learned.records import ShardSpec, write_records

    report = validate(
        data,
        config.cadence_shape,
        splits=splits,
        workers=config.data.load_workers,
        values=skip_bad,
    )
    if report.problems:
        if not skip_bad:
            listing = "\n".join(str(p) for p in report.problems[:20])
            raise DataError(f"{len(report.problems)} problem(s) in {data}:\n{listing}")
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_csv(Path(out) / "dropped.csv", report.dropped_table())
    if not any(len(report.tables.get(split, ())) for split in splits):
        raise DataError(f"{data}: no cadences in {' or '.join(splits)} (empty folder?)")
    spec = ShardSpec(
        config.records.layout,
        config.records.encoding,
        config.cadence_shape,
        config.data.on_scans,
        config.records.resize,
    )
    tables = dict(report.tables)
    counts = {"train": config.records.train_shards, "test": config.records.test_shards}
    total = sum(len(t) for t in tables.values())
    with tqdm(total=total, desc="shard", unit="cadence", disable=not progress) as bar:
        return write_records(
            tables,
            out,
            spec,
            counts,
            seed=config.run.seed,
            workers=config.records.workers,
            progress=bar.update,
        )


def is_records_folder(path: str | os.PathLike) -> bool:
    from setibl.learned.records import MANIFEST_FILE

    return (Path(path) / MANIFEST_FILE).is_file()
