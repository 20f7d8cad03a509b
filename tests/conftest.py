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
    from setibl.data.rendering import CadenceGeometry
    from setibl.data.synth_dataset import write_dataset

    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, 60, 20, SynthConfig(needle_fraction=0.3), CadenceGeometry(), seed=3)
    return out


TINY_RUN_OVERRIDES = [
    "data.height=32",
    "data.width=64",
    "synth.gap_steps=2",
    "synth.needle_fraction=0.4",
    "synth.snr_min=40.0",
    "synth.snr_max=80.0",
    "synth.rfi_fraction=0.3",
    'records.layout="all6"',
    "records.train_shards=4",
    "records.test_shards=2",
    "augment.saturation=[1.0, 1.0]",
    'model.backbone="small_cnn"',
    'model.weights="none"',
    "schedule.lr_start=1e-3",
    "schedule.lr_max_per_sample=1e-4",
    "schedule.ramp_epochs=1",
    "train.folds=2",
    "train.epochs=2",
    "train.tta=2",
    "train.batch_size=8",
    "train.verbose=0",
    "train.shuffle_buffer=64",
]


def noise_cadence(seed: int) -> np.ndarray:
    """A Kaggle-shaped (6, 273, 256) cadence of unit Gaussian noise."""
    return np.random.default_rng(seed).standard_normal((6, 273, 256)).astype(np.float32)


def add_track(cadence: np.ndarray, scans, channel: int, drift: float, snr: float) -> None:
    """Add in place a straight one-channel line of S/N ``snr`` to ``scans`` (an index or a list)
    from ``channel`` at ``drift`` channels per step."""
    rows = cadence.shape[1]
    for t in range(rows):
        cadence[scans, t, channel + int(round(drift * t))] += snr / np.sqrt(rows)


def tiny_config(*extra: str):
    from setibl.config import load_config

    return load_config(None, [*TINY_RUN_OVERRIDES, *extra])


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """64 train + 16 test synthetic cadences of 32 x 64, with labels and needles.csv."""
    from setibl.jobs.data import synthesize

    out = tmp_path_factory.mktemp("tinydata") / "data"
    synthesize(tiny_config(), out, 64, 16, seed=11, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data) -> Path:
    """A finished 2-fold run on ``tiny_data`` (sharded into the run folder)."""
    from setibl.jobs.learned import train_workflow

    run = tmp_path_factory.mktemp("tinyrun") / "run"
    train_workflow(tiny_config(), tiny_data, run, log=lambda message: None)
    return run


# BL high-resolution geometry for setigen-written filterbank files
DF_HZ, DT_S, FCH1_MHZ = 2.7939677238464355, 18.253611008, 6095.214842353016
SETIGEN_LINES = [(200, 0.05), (500, -0.08), (800, 0.11)]  # (setigen channel, Hz/s), S/N 40 each


def write_setigen_h5(
    path, time_steps=32, channels=1024, signals=SETIGEN_LINES, seed=7, elapsed_s=0.0
):
    """A setigen .h5 frame with S/N-40 lines (setigen channel at the cadence's start, Hz/s),
    each moved on by its drift over the ``elapsed_s`` seconds since that start."""
    import setigen
    from astropy import units

    frame = setigen.Frame(
        fchans=channels,
        tchans=time_steps,
        df=DF_HZ * units.Hz,
        dt=DT_S * units.s,
        fch1=FCH1_MHZ * units.MHz,
        seed=seed,
    )
    frame.add_noise(x_mean=10, noise_type="chi2")
    for channel, drift in signals:
        frame.add_signal(
            setigen.constant_path(
                f_start=frame.get_frequency(channel) + drift * elapsed_s,
                drift_rate=drift * units.Hz / units.s,
            ),
            setigen.constant_t_profile(level=frame.get_intensity(snr=40)),
            setigen.gaussian_f_profile(width=6 * units.Hz),
            setigen.constant_bp_profile(level=1),
        )
    frame.save_h5(str(path))
