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
