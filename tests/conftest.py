"""Shared fixtures: tiny Kaggle-layout folders and tiny synthetic sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY_SHAPE = (6, 16, 32)


def write_kaggle_folder(
    root: Path,
    n_train: int = 12,
    n_test: int = 4,
    shape: tuple[int, ...] = TINY_SHAPE,
    seed: int = 0,
) -> Path:
    """Random float16 snippets in the Kaggle layout; ids are hex strings."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, count in (("train", n_train), ("test", n_test)):
        ids = [f"{rng.integers(0, 16**8):08x}{i:03d}"[:11] for i in range(count)]
        for ident in ids:
            path = root / split / ident[0] / f"{ident}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, rng.standard_normal(shape).astype(np.float16))
        rows.append((split, ids))
    train_ids, test_ids = rows[0][1], rows[1][1]
    targets = [i % 3 == 0 for i in range(len(train_ids))]
    pd.DataFrame({"id": train_ids, "target": np.array(targets, int)}).to_csv(
        root / "train_labels.csv", index=False
    )
    pd.DataFrame({"id": test_ids, "target": 0.5}).to_csv(
        root / "sample_submission.csv", index=False
    )
    return root


@pytest.fixture
def kaggle_folder(tmp_path: Path) -> Path:
    return write_kaggle_folder(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A small synthetic set at the full 273 x 256 geometry (60 train, 20 test)."""
    from setibl.config import SynthConfig
    from setibl.synth import CadenceGeometry
    from setibl.synth_dataset import write_dataset

    out = tmp_path_factory.mktemp("synth")
    write_dataset(
        out, 60, 20, SynthConfig(needle_fraction=0.3), CadenceGeometry(), seed=3, workers=1
    )
    return out
