"""The shipped default model: `predict default` and `scan --model default` use the run bundled
in the package, which finds bright needles of our synth and is never written into."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from setibl.cli import cli
from setibl.learned.runs import DEFAULT_MODEL_DIR, resolve_run, run_config
from tests.conftest import write_kaggle_folder

FULL_SHAPE = (6, 273, 256)


def _bundle_files() -> set:
    return {p.relative_to(DEFAULT_MODEL_DIR) for p in DEFAULT_MODEL_DIR.rglob("*")}


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_the_bundle_is_a_small_finished_run_described_by_model_json():
    run = resolve_run("default")
    assert run == DEFAULT_MODEL_DIR
    config = run_config("default")
    for fold in range(config.train.folds):
        assert (run / f"fold-{fold}" / "best.weights.h5").is_file()
    described = json.loads((run / "model.json").read_text())
    assert described["seed"] == config.run.seed and described["layout"] == config.records.layout
    # the settings its inputs were made with are the ones this version makes them with
    from setibl.learned.records import layout_params

    assert described["layout_params"] == layout_params(config.records.layout)
    total = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    assert described["weights_bytes"] < total < 5 * 2**20  # a few MB at most


def test_predict_default_scores_every_id_of_a_folder(tmp_path):
    data = write_kaggle_folder(tmp_path / "data", n_train=0, n_test=5, shape=FULL_SHAPE)
    before = _bundle_files()
    _invoke("predict", "default", data, "--out", tmp_path / "sub.csv")
    scored = pd.read_csv(tmp_path / "sub.csv", dtype={"id": str})
    expected = pd.read_csv(data / "sample_submission.csv", dtype={"id": str})
    assert sorted(scored["id"]) == sorted(expected["id"])  # every id, once
    assert scored["target"].between(0, 1).all()
    assert _bundle_files() == before  # shards went to a scratch folder


def test_the_default_model_finds_bright_needles_of_fresh_synth(tmp_path):
    from sklearn.metrics import roc_auc_score

    from setibl.config import load_config
    from setibl.jobs.data import synthesize

    config = load_config(
        None, ["synth.needle_fraction=0.5", "synth.snr_min=40.0", "synth.snr_max=80.0"]
    )
    data = tmp_path / "data"
    synthesize(config, data, 0, 48, seed=123, workers=1, progress=False)
    _invoke("predict", "default", data, "--out", tmp_path / "sub.csv")
    scored = pd.read_csv(tmp_path / "sub.csv", dtype={"id": str})
    labels = pd.read_csv(data / "test_labels.csv", dtype={"id": str})
    merged = labels.merge(scored, on="id", suffixes=("", "_score"))
    assert len(merged) == 48 and merged["target"].nunique() == 2
    assert roc_auc_score(merged["target"], merged["target_score"]) > 0.8


def test_scan_with_the_default_model_scores_every_window(tmp_path):
    import pytest

    pytest.importorskip("setigen")
    from setibl.observations.make import Grid, make_cadences

    grid = Grid(coarse_channels=2, fine_channels=512, time_steps=279)
    made = make_cadences(tmp_path / "made", 1, grid, needles=1, rfi=1, seed=5, drift_max_hz=10.0)
    files = sorted(made.glob("c0000_*"))
    output = _invoke(
        "scan", *files, "--out", tmp_path / "out", "--model", "default", "--backend", "serial",
        "--set", "observations.max_drift_hz=20.0",
    )  # fmt: skip
    assert "candidates" in output
    windows = pd.read_csv(tmp_path / "out" / "results" / "windows.csv")
    per_coarse = len({*range(0, 512 - 256 + 1, 256 - 32), 512 - 256})
    assert len(windows) == 2 * per_coarse
    assert windows["cnn_score"].between(0, 1).all() and np.isfinite(windows["cnn_score"]).all()
    # the shipped model reads search maps: its windows see tracks from 64 channels beyond them
    from setibl.config import load_config
    from setibl.jobs.scan import plan_units

    units = plan_units(load_config(), {"c0000": files}, (0, 2, 4), "default")
    assert units and all(unit.geometry.reach == 64 for unit in units)
    # its scans are in cadence order: other ON scans are refused before any work, not ignored
    import pytest

    from setibl.errors import DataError

    with pytest.raises(DataError, match="--on 1,3,5.*ON scans 0,2,4"):
        plan_units(load_config(), {"c0000": files}, (1, 3, 5), "default")
    # a run whose maps were made otherwise is refused here, before any worker starts
    import shutil

    from setibl.errors import RunError

    older = tmp_path / "older"
    shutil.copytree(DEFAULT_MODEL_DIR, older)
    described = json.loads((older / "model.json").read_text())
    described["layout_params"]["edge_channels"] = 32
    (older / "model.json").write_text(json.dumps(described))
    with pytest.raises(RunError, match="edge_channels 32 -> 64"):
        plan_units(load_config(), {"c0000": files}, (0, 2, 4), str(older))
