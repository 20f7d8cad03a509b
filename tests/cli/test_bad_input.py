"""Bad input ends in one line naming what is wrong, never in a traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from setibl.cli import cli
from setibl.config import find_config, load_config, save_config
from setibl.learned.layouts import layout_params


def _run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture
def finished_looking_run(tmp_path):
    """A run folder with everything predict looks for (the weight files are not real)."""
    run = tmp_path / "run"
    config = load_config(find_config("demo"))
    save_config(config, run / "config.toml")
    (run / "metrics.json").write_text('{"submitted": "tta"}')
    state = {"replicas": 1, "layout_params": layout_params(config.records.layout)}
    (run / "run.json").write_text(json.dumps(state))
    for fold in range(config.train.folds):
        (run / f"fold-{fold}").mkdir()
        (run / f"fold-{fold}" / "best.weights.h5").write_bytes(b"")
    return run


def test_predict_on_an_empty_folder(finished_looking_run, tmp_path):
    (tmp_path / "empty").mkdir()
    line = _run("predict", str(finished_looking_run), str(tmp_path / "empty"))
    assert "empty" in line and "no cadences" in line


def test_predict_refuses_to_change_the_runs_models(finished_looking_run, kaggle_folder):
    args = ("predict", str(finished_looking_run), str(kaggle_folder))
    line = _run(*args, "--set", 'model.backbone="efficientnet_b0"')
    assert "'model.backbone': fixed by the run's models" in line


def test_predict_with_no_such_run(kaggle_folder, tmp_path):
    line = _run("predict", str(tmp_path / "no-such-run"), str(kaggle_folder))
    assert "no-such-run" in line and "not a run folder" in line


@pytest.mark.parametrize(
    ("override", "key"),
    [("train.epochs=-1", "train.epochs"), ("augment.dropout_size=5", "augment.dropout_size")],
)
def test_train_with_a_value_out_of_range(kaggle_folder, tmp_path, override, key):
    config = str(find_config("demo"))
    line = _run(
        "train", config, str(kaggle_folder), "--out", str(tmp_path / "r"), "--set", override
    )
    assert f"'{key}'" in line
    assert not (tmp_path / "r").exists()


def test_resume_refuses_other_shards(tmp_path):
    run, shards, other = tmp_path / "run", tmp_path / "shards", tmp_path / "other"
    save_config(load_config(find_config("demo")), run / "config.toml")
    (run / "run.json").write_text(json.dumps({"records": str(shards)}))
    line = _run("train", "--resume", str(run), str(other))
    assert str(other) in line and "--resume" in line
    line = _run("train", "--resume", str(run), str(find_config("demo")), str(shards))
    assert "drop" in line


def test_pseudo_without_the_runs_shards(finished_looking_run, tmp_path):
    state = json.loads((finished_looking_run / "run.json").read_text())
    state["records"] = str(tmp_path / "gone")
    (finished_looking_run / "run.json").write_text(json.dumps(state))
    (finished_looking_run / "config.toml").write_text(
        (finished_looking_run / "config.toml").read_text().replace("rounds = 0", "rounds = 1")
    )
    line = _run("pseudo", str(finished_looking_run), "--rounds", "1")
    assert "gone" in line and "no shards" in line
