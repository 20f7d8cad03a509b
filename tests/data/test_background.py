"""Training sets cut from real backgrounds: Kaggle layout, windows side by side, needles only
where labelled (at setigen's S/N over the measured noise), RFI as the files hold it, and a model
trained on them finds needles in held-out windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from setibl.data.background import write_background_dataset
from setibl.data.kaggle import load_snippet, validate
from setibl.data.rendering import normalise_scans
from setibl.errors import DataError
from setibl.observations.cadences import read_cadence_list
from setibl.observations.filterbank import cadence_headers, coarse_block
from setibl.observations.make import Grid, make_cadences
from tests.conftest import tiny_config

pytest.importorskip("setigen")

SHAPE = (6, 32, 64)  # the tiny config's cadences


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three cadences of 8 coarse channels x 1,024 channels, 32 steps: 384 windows of 32 x 64
    (128 a cadence)."""
    root = tmp_path_factory.mktemp("background") / "files"
    grid = Grid(coarse_channels=8, fine_channels=1024, time_steps=32)
    make_cadences(root, 3, grid, needles=2, rfi=4, seed=9, drift_max_hz=10.0)
    return root


@pytest.fixture(scope="module")
def dataset(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("background") / "data"
    config = tiny_config("synth.needle_fraction=0.5")
    counts = write_background_dataset(
        out, read_cadence_list(files / "cadences.csv"), config, 200, 56, seed=3
    )
    return out, counts


def _raw_window(files, cadence, coarse, channel):
    paths = read_cadence_list(files / "cadences.csv")[cadence]
    headers = cadence_headers(paths)
    blocks = [coarse_block(p, h, coarse) for p, h in zip(paths, headers, strict=True)]
    start = channel - coarse * 1024
    return np.stack([b[:32, start : start + 64] for b in blocks])


def test_a_kaggle_layout_set_of_side_by_side_windows(dataset):
    out, counts = dataset
    assert counts == {
        "train": 200,
        "test": 56,
        "train_positives": 100,
        "test_positives": 28,
        "windows_available": 384,
    }
    report = validate(out, SHAPE, workers=1)
    assert not report.problems
    windows = pd.read_csv(out / "windows.csv")
    assert len(windows) == 256 and windows["id"].is_unique
    assert not windows.duplicated(["cadence", "channel"]).any()  # no window twice
    assert (windows["channel"] % 64 == 0).all()  # side by side: no pixel in two snippets
    by_split = windows.groupby("split")["cadence"].agg(set)
    assert not by_split["train"] & by_split["test"]  # split by cadence: none in both


def test_negatives_are_the_files_as_they_are_positives_hold_one_needle(dataset, files):
    out, _ = dataset
    windows = pd.read_csv(out / "windows.csv").set_index("id")
    labels = pd.concat(
        [pd.read_csv(out / "train_labels.csv"), pd.read_csv(out / "test_labels.csv")]
    ).set_index("id")["target"]
    needles = pd.read_csv(out / "needles.csv").set_index("id")
    assert set(needles.index) == set(labels[labels == 1].index)
    for ident in list(labels.index[:40]):
        row = windows.loc[ident]
        raw = _raw_window(files, row["cadence"], row["coarse_channel"], row["channel"])
        stored = load_snippet(out / row["split"] / ident[0] / f"{ident}.npy", SHAPE)
        plain = normalise_scans(raw.copy(), np.float16).astype(np.float32)
        if labels[ident] == 0:
            np.testing.assert_array_equal(stored, plain)  # RFI and all, as the sky gave it
            continue
        shown = [int(s) for s in str(needles.loc[ident, "scans"]).split(",") if s != ""]
        for scan in range(6):
            difference = np.abs(stored[scan] - plain[scan]).max()
            if scan in shown:
                assert difference > 0.5, (ident, scan)
            elif scan not in (0, 2, 4):
                assert difference < 0.01, (ident, scan)  # OFF scans untouched


def test_the_same_seed_makes_the_same_set_and_too_many_windows_is_an_error(
    dataset, files, tmp_path
):
    out, _ = dataset
    cadences = read_cadence_list(files / "cadences.csv")
    config = tiny_config("synth.needle_fraction=0.5")
    write_background_dataset(tmp_path / "again", cadences, config, 200, 56, seed=3)
    for name in ("train_labels.csv", "needles.csv", "windows.csv"):
        assert (tmp_path / "again" / name).read_text() == (out / name).read_text()
    with pytest.raises(DataError, match="384 windows of 32 x 64 in the cadences, 400 asked"):
        write_background_dataset(tmp_path / "more", cadences, config, 350, 50, seed=3)
    # by cadence the test windows take one of the three cadences: 256 windows left to train on
    with pytest.raises(DataError, match="split by cadence.* 256 windows for 300 train"):
        write_background_dataset(tmp_path / "more", cadences, config, 300, 56, seed=3)
    write_background_dataset(tmp_path / "any", cadences, config, 300, 56, seed=3, split_by="window")
    windows = pd.read_csv(tmp_path / "any" / "windows.csv")
    by_split = windows.groupby("split")["cadence"].agg(set)
    assert by_split["train"] & by_split["test"]  # by window: cadences shared


def test_needles_are_listed_at_their_place_in_the_files(dataset, files):
    out, _ = dataset
    windows = pd.read_csv(out / "windows.csv").set_index("id")
    needles = pd.read_csv(out / "needles.csv").set_index("id")
    header = cadence_headers(read_cadence_list(files / "cadences.csv")["c0000"])[0]
    foff_hz = header.foff_mhz * 1e6  # negative: frequency falls with channel
    assert foff_hz < 0 and len(needles) == 128
    for ident, needle in needles.iterrows():
        channel = windows.loc[ident, "channel"]  # the window's first channel in the file
        assert windows.loc[ident, "frequency_mhz"] == pytest.approx(
            header.fch1_mhz + channel * header.foff_mhz, abs=1e-9
        )
        place = (needle["f_start_hz"] / 1e6 - header.fch1_mhz) / header.foff_mhz
        assert place == pytest.approx(channel + needle["f_start_channel"], abs=2e-3)
        drift = needle["drift_ch_per_step"] * foff_hz / header.tsamp_s
        rounding = abs(foff_hz / header.tsamp_s) * 1e-6  # drift_ch_per_step has 6 decimals
        assert needle["drift_rate"] == pytest.approx(drift, abs=rounding)


@pytest.mark.slow
def test_a_model_trained_on_injections_finds_needles_in_held_out_windows(dataset, tmp_path):
    from sklearn.metrics import roc_auc_score

    from setibl.jobs.learned import predict_workflow, train_workflow

    out, _ = dataset
    config = tiny_config("train.epochs=8", "train.tta=0", "schedule.lr_max_per_sample=3e-4")
    train_workflow(config, out, tmp_path / "run", log=lambda message: None)
    scored = predict_workflow(tmp_path / "run", out, tmp_path / "test.csv", log=lambda m: None)
    test = pd.read_csv(scored).merge(pd.read_csv(out / "test_labels.csv"), on="id")
    # held-out windows of a cadence the model never saw (split by cadence)
    assert roc_auc_score(test["target_y"], test["target_x"]) >= 0.9


def test_the_command_splits_by_cadence_unless_asked(files, tmp_path):
    from click.testing import CliRunner

    from setibl.cli import cli

    args = ["synth", "--background", str(files / "cadences.csv"), "--n-train", "300"]
    args += ["--n-test", "56", "--seed", "3", "--set", "data.height=32", "--set", "data.width=64"]
    by_cadence = CliRunner().invoke(cli, [*args, str(tmp_path / "a")])
    assert by_cadence.exit_code == 1 and "split by cadence" in by_cadence.output
    by_window = CliRunner().invoke(cli, [*args, str(tmp_path / "b"), "--split-by", "window"])
    assert by_window.exit_code == 0, by_window.output
    assert len(pd.read_csv(tmp_path / "b" / "train_labels.csv")) == 300
