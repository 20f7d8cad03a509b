"""The cross-generator benchmark: the setigen-made set and the quality figures computed on it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("setigen")
# Appended, not prepended: benchmark scripts such as synth.py must not shadow other modules.
sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

import quality  # noqa: E402
import setigen_cadences as xgen  # noqa: E402

RECIPE = xgen.Recipe(seed=7, n_train=4, n_test=24)
POSITIVE = {"needle", "needle+rfi"}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xgen") / "set"
    return xgen.make_set(out, RECIPE, workers=1, log=lambda line: None)


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted(folder.glob("*/*/*.npy"))}


def test_layout_shapes_and_per_scan_normalisation(tiny_set):
    arrays = _arrays(tiny_set)
    assert len(arrays) == RECIPE.n_train + RECIPE.n_test
    for data in arrays.values():
        assert data.shape == (6, 273, 256) and data.dtype == np.float16
        flat = data.reshape(6, -1).astype(np.float64)
        np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=2e-3)
        np.testing.assert_allclose(flat.std(axis=1), 1.0, atol=2e-3)
    for split in ("train", "test"):
        for path in (tiny_set / split).glob("*/*.npy"):
            assert path.parent.name == path.stem[0]  # Kaggle layout: <split>/<id[0]>/<id>.npy


def test_labels_match_categories_and_signals(tiny_set):
    cadences = pd.read_csv(tiny_set / "cadences.csv", dtype={"id": str}, keep_default_na=False)
    labels = pd.read_csv(tiny_set / "test_labels.csv", dtype={"id": str})
    submission = pd.read_csv(tiny_set / "sample_submission.csv", dtype={"id": str})
    signals = pd.read_csv(tiny_set / "needles.csv", dtype={"id": str})
    test = cadences[cadences["split"] == "test"].merge(labels, on="id", suffixes=("", "_label"))
    assert len(test) == RECIPE.n_test and list(submission["id"]) == list(labels["id"])
    assert (test["target"] == test["target_label"]).all()
    assert test["target"].sum() == round(RECIPE.test_positive * RECIPE.n_test)
    assert (test["target"] == test["category"].isin(POSITIVE)).all()
    assert set(pd.read_csv(tiny_set / "train_labels.csv", dtype={"id": str})["id"]) == set(
        cadences.loc[cadences["split"] == "train", "id"]
    )
    for row in cadences.itertuples():
        roles = set(signals.loc[signals["id"] == row.id, "role"])
        assert ("needle" in roles) == bool(row.target)
        assert ("decoy" in roles) == (row.category == "decoy")
        assert ("broadband" in roles) == (row.category == "broadband")
        if row.category in ("needle+rfi", "rfi_only"):
            assert "rfi" in roles
        if row.category in ("needle", "empty"):
            assert roles <= {"needle"}
        if row.target:
            on = [int(s) for s in str(row.on_scans).split(",")]
            assert 1 <= row.n_on == len(on) <= 3 and set(on) <= set(xgen.ON)
            assert 8.0 <= float(row.snr) <= 120.0
        else:
            assert row.n_on == 0
    decoy_scans = signals.loc[signals["role"] == "decoy", "scans"].astype(str)
    assert all(set(map(int, s.split(","))) <= set(xgen.OFF) for s in decoy_scans)


def test_same_seed_same_bytes_whatever_the_workers(tiny_set, tmp_path):
    again = xgen.make_set(tmp_path / "again", RECIPE, workers=2, log=lambda line: None)
    first, second = _arrays(tiny_set), _arrays(again)
    assert first.keys() == second.keys()
    assert all(first[k].tobytes() == second[k].tobytes() for k in first)
    for name in ("cadences.csv", "needles.csv", "test_labels.csv", "recipe.json"):
        assert (tiny_set / name).read_bytes() == (again / name).read_bytes()
    lines: list[str] = []
    stamp = (again / "cadences.csv").stat().st_mtime_ns
    xgen.make_set(again, RECIPE, workers=2, log=lines.append)  # recipe matches: nothing redone
    assert "up to date" in lines[0] and (again / "cadences.csv").stat().st_mtime_ns == stamp


def test_constant_needle_follows_its_drift_through_the_cadence():
    import setigen as stg

    recipe = xgen.Recipe()
    cadence = xgen._frames(recipe, np.random.default_rng(0))
    drift_ch, start_ch = 0.05, 40.0  # channels per step; channel at the cadence's start
    rate = drift_ch * recipe.df_hz / recipe.dt_s
    path = stg.constant_path(f_start=recipe.fch1_hz + start_ch * recipe.df_hz, drift_rate=rate)
    profile = stg.gaussian_f_profile(width=recipe.df_hz)
    xgen._add(cadence, xgen.ON, path, 300.0, profile)
    data = np.stack([frame.data for frame in cadence])
    period = recipe.tchans + recipe.slew_steps  # steps from one scan's start to the next
    row = recipe.tchans // 2
    for k in xgen.ON:  # the line sits where the drift has carried it, OFF scans and slews included
        expected = start_ch + drift_ch * (k * period + row)
        assert abs(int(np.argmax(data[k, row])) - expected) <= 1.0
    data = (data - data.mean(axis=(1, 2), keepdims=True)) / data.std(axis=(1, 2), keepdims=True)
    columns = data.sum(axis=1)  # (6, 256) time-summed spectra, noise units
    assert columns[list(xgen.ON)].max(axis=1).min() > 3 * columns[list(xgen.OFF)].max()


def test_floor_statistic_sees_power_added_to_on_scans():
    cadence = np.zeros((6, 4, 8), np.float16)
    cadence[list(xgen.ON)] = -0.25
    cadence[list(xgen.OFF)] = 0.5
    assert quality.floor_statistic(cadence) == pytest.approx(0.75)


def test_auc_and_threshold_on_hand_made_scores():
    assert quality.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert quality.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # 100 negatives 0..99: at 1% FPR exactly one (99) may score above the threshold.
    assert quality.threshold_at_fpr(np.arange(100.0), 0.01) == 98.0


def test_score_detector_figures_by_bin_and_category():
    negatives = pd.DataFrame(
        {
            "target": 0,
            "score": np.arange(200.0),
            "category": ["decoy"] * 190 + ["rfi_only"] * 10,  # the ten highest are RFI
            "snr": "",
            "path_kind": "",
            "n_on": 0,
        }
    )
    positives = pd.DataFrame(
        {
            "target": 1,
            "score": [300.0, 250.0, 150.5, 50.5],
            "category": "needle",
            "snr": ["10", "20", "40", "100"],
            "path_kind": ["constant", "sine", "constant", "squared"],
            "n_on": [3, 1, 3, 2],
        }
    )
    figures = quality.score_detector(pd.concat([negatives, positives], ignore_index=True))
    assert figures["threshold"] == 197.0  # two of 200 negatives (1%) above it
    assert figures["recall_at_1pct_fpr"] == 0.5 and figures["fpr"] == 0.01
    assert figures["auc"] == pytest.approx((200 + 200 + 151 + 51) / 800)
    by_snr = {k: v["rate"] for k, v in figures["recall_by_snr"].items()}
    assert by_snr == {"8-15": 1.0, "15-30": 1.0, "30-60": 0.0, "60-120": 0.0}
    assert figures["recall_by_path_kind"]["constant"] == {"rate": 0.5, "n": 2}
    assert figures["recall_by_n_on"]["1"] == {"rate": 1.0, "n": 1}
    assert figures["fpr_rfi_only"] == {"rate": 0.2, "n": 10}
    assert figures["fpr_decoy"] == {"rate": 0.0, "n": 190}
    table = quality.render({"a": figures, "b": figures}, markdown=True)
    assert table.splitlines()[0] == "| metric | a | b |" and "| snr 8-15 | 1.000 (1)" in table
