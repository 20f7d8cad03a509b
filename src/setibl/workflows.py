"""Multi-step jobs behind the CLI, with progress bars; the CLI only parses and calls these."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from setibl.cadence import DataError, load_snippet, snippet_path
from setibl.config import Config
from setibl.plots import plot_cadence
from setibl.synth import CadenceGeometry
from setibl.synth_dataset import NEEDLES_FILE, write_dataset


def geometry_from_config(config: Config) -> CadenceGeometry:
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
    with tqdm(total=n_train + n_test, desc="synth", unit="cadence", disable=not progress) as bar:
        return write_dataset(
            out,
            n_train,
            n_test,
            config.synth,
            geometry_from_config(config),
            seed=seed,
            workers=workers,
            overwrite=overwrite,
            progress=bar.update,
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
    split = split or find_split(data, snippet_id)
    cadence = load_snippet(snippet_path(data, split, snippet_id), config.image_shape)
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
) -> dict:
    """Validate a Kaggle-layout folder, then write its train and test shards into ``out``.

    A bad snippet stops the run unless ``skip_bad``; then what was dropped is listed in
    ``out/dropped.csv``.
    """
    from setibl.cadence import validate
    from setibl.io import atomic_write_csv
    from setibl.records import ShardSpec, write_records

    report = validate(data, config.image_shape, workers=config.data.load_workers)
    if report.problems:
        if not skip_bad:
            listing = "\n".join(str(p) for p in report.problems[:20])
            raise DataError(f"{len(report.problems)} problem(s) in {data}:\n{listing}")
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_csv(Path(out) / "dropped.csv", report.dropped_table())
    spec = ShardSpec(
        config.records.layout, config.records.encoding, config.image_shape, config.data.on_scans
    )
    tables = {split: table.drop(columns=[]) for split, table in report.tables.items()}
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


def augmented_batch_picture(
    config: Config,
    records: str | os.PathLike,
    out: str | os.PathLike,
    samples: int = 3,
    split: str = "train",
) -> Path:
    """PNG of ``samples`` augmented training images (first three channels each)."""
    from setibl.pipeline import PipelineSpec, predict_dataset
    from setibl.plots import plot_augmented_batch
    from setibl.records import load_manifest, shard_paths

    manifest = load_manifest(records, config.records.layout)
    spec = PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"])
    files = shard_paths(records, manifest, split)
    batch = next(iter(predict_dataset(files, spec, samples, config.augment, config.run.seed)))
    ids = [i.decode() for i in batch["id"].numpy()]
    return plot_augmented_batch(batch["image"].numpy(), out, ids)
