import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from setibl.data.submission import SubmissionError, validate_submission
from setibl.learned.train import RunError, fold_splits, train_run
from tests.conftest import TINY_RUN_OVERRIDES, tiny_config


def test_fold_splits_cover_every_shard_once():
    files = [f"train-{i:02d}-of-20.tfrec" for i in range(20)]
    splits = fold_splits(files, 5, seed=42)
    valid = [f for _, v in splits for f in v]
    assert sorted(valid) == sorted(files) and all(len(v) == 4 for _, v in splits)
    for train, v in splits:
        assert not set(train) & set(v) and len(train) == 16
    assert splits == fold_splits(list(reversed(files)), 5, seed=42)
    with pytest.raises(RunError, match="3 train shards cannot make 5 folds"):
        fold_splits(files[:3], 5, seed=42)


def test_run_outputs(tiny_run, tiny_data):
    oof = pd.read_csv(tiny_run / "oof.csv", dtype={"id": str})
    labels = pd.read_csv(tiny_data / "train_labels.csv", dtype={"id": str})
    assert list(oof.columns) == ["id", "target", "pred", "fold"]
    assert sorted(oof["id"]) == sorted(labels["id"]) and oof["id"].is_unique
    assert list(oof["id"]) == sorted(oof["id"])
    merged = oof.merge(labels, on="id", suffixes=("", "_true"))
    assert (merged["target"] == merged["target_true"]).all()
    assert set(oof["fold"]) == {0, 1} and oof["pred"].between(0, 1).all()
    submission = pd.read_csv(tiny_run / "submission.csv", dtype={"id": str})
    sample = pd.read_csv(tiny_data / "sample_submission.csv", dtype={"id": str})
    assert list(submission.columns) == ["id", "target"]
    assert list(submission["id"]) == sorted(sample["id"])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert len(metrics["folds"]) == 2 and metrics["oof_count"] == 64
    for fold in metrics["folds"]:
        assert {"auc", "auc_tta", "best_epoch"} <= set(fold)
        history = pd.read_csv(tiny_run / f"fold-{fold['fold']}" / "history.csv")
        assert list(history["epoch"]) == [0, 1]
        assert fold["best_val_auc"] == pytest.approx(history["val_auc"].max())
        assert (tiny_run / f"fold-{fold['fold']}" / "best.weights.h5").is_file()
    assert (tiny_run / "config.toml").is_file() and (tiny_run / "run.json").is_file()


def test_test_predictions_average_the_folds(tiny_run):
    folds = [
        pd.read_csv(tiny_run / f"fold-{k}" / "test.csv", dtype={"id": str}).set_index("id")
        for k in range(2)
    ]
    submission = pd.read_csv(tiny_run / "submission.csv", dtype={"id": str}).set_index("id")
    expected = 0.5 * folds[0]["pred"] + 0.5 * folds[1]["pred"]
    np.testing.assert_allclose(submission["target"], expected.loc[submission.index], rtol=1e-6)


def test_existing_run_needs_resume(tiny_run):
    from setibl.learned.devices import detect_hardware

    with pytest.raises(RunError, match="--resume"):
        train_run(tiny_config(), tiny_run / "shards", tiny_run, detect_hardware(look_for_tpu=False))


def test_predict_reproduces_the_run_submission(tiny_run, tiny_data, tmp_path):
    from setibl.jobs.learned import predict_workflow

    out = predict_workflow(tiny_run, tiny_data, tmp_path / "sub.csv", log=lambda m: None)
    ours = pd.read_csv(out, dtype={"id": str})
    run = pd.read_csv(tiny_run / "submission.csv", dtype={"id": str})
    assert list(ours["id"]) == list(run["id"])
    np.testing.assert_allclose(ours["target"], run["target"], atol=1e-6)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"id": ["a", "a"], "target": [0.1, 0.2]}), "duplicate"),
        (pd.DataFrame({"id": ["a", "b"], "target": [0.1, np.nan]}), "NaN"),
        (pd.DataFrame({"id": ["a", "b"], "target": [0.1, 1.5]}), r"\[0, 1\]"),
        (pd.DataFrame({"id": ["a"], "target": [0.1]}), "1 missing"),
        (pd.DataFrame({"id": ["a", "b", "c"], "target": [0.1] * 3}), "1 unexpected"),
        (pd.DataFrame({"ident": ["a", "b"], "target": [0.1] * 2}), "columns"),
    ],
)
def test_broken_submissions_are_rejected(frame, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(frame, ["a", "b"])


def _cli(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "setibl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_killed_run_resumes_with_every_id_once(tmp_path, tiny_data):
    overrides = [*TINY_RUN_OVERRIDES, "train.epochs=8", "train.tta=0"]
    config_file = tmp_path / "tiny.toml"
    from setibl.config import config_to_toml, load_config

    config_file.write_text(config_to_toml(load_config(None, overrides)))
    run = tmp_path / "run"
    process = _cli("train", str(config_file), str(tiny_data), "--out", str(run))
    state = run / "fold-0" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if state.is_file() and json.loads(state.read_text()).get("epochs_done", 0) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[0]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(state.read_text())["epochs_done"]
    assert 2 <= killed_at < 8 and not (run / "fold-0" / "done.json").exists()
    resumed = _cli("train", "--resume", str(run))
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert f"fold 0: resuming after epoch {killed_at}" in output
    history = pd.read_csv(run / "fold-0" / "history.csv")
    assert list(history["epoch"]) == list(range(8))
    oof = pd.read_csv(run / "oof.csv", dtype={"id": str})
    labels = pd.read_csv(tiny_data / "train_labels.csv", dtype={"id": str})
    assert sorted(oof["id"]) == sorted(labels["id"]) and oof["id"].is_unique
    assert not list(run.rglob("*.tmp*"))


def test_two_replica_mirrored_training(tmp_path, tiny_data):
    script = textwrap.dedent(f"""
        from setibl.learned.devices import split_cpu, detect_hardware
        split_cpu(2)
        from setibl.config import load_config
        from setibl.learned.train import train_run
        from setibl.jobs.data import shard_data
        from setibl.jobs.learned import predict_workflow
        config = load_config(None, {TINY_RUN_OVERRIDES!r} + ["train.epochs=1"])
        hardware = detect_hardware(use_logical_cpus=True, look_for_tpu=False)
        assert hardware.replicas == 2, hardware.describe()
        assert hardware.global_batch(8) == 16
        shard_data(config, {str(tiny_data)!r}, {str(tmp_path / "shards")!r}, progress=False)
        metrics = train_run(config, {str(tmp_path / "shards")!r}, {str(tmp_path / "run")!r},
                            hardware, log=print)
        print("REPLICAS", hardware.replicas, "OOF", metrics["oof_count"])
        # predict batches as training did (global batch), so its TTA draws are the run's own
        predict_workflow({str(tmp_path / "run")!r}, {str(tmp_path / "shards")!r},
                         {str(tmp_path / "predicted.csv")!r}, log=print)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "REPLICAS 2 OOF 64" in result.stdout
    assert "MirroredStrategy, 2 replica(s)" in result.stdout
    submitted = pd.read_csv(tmp_path / "run" / "submission.csv", dtype={"id": str})
    predicted = pd.read_csv(tmp_path / "predicted.csv", dtype={"id": str})
    assert list(predicted["id"]) == list(submitted["id"])
    np.testing.assert_allclose(predicted["target"], submitted["target"], atol=1e-5)


def test_demo_workflow_end_to_end(tmp_path):
    from setibl.jobs.demo import demo_workflow

    config = tiny_config("synth.n_train=48", "synth.n_test=16", "train.epochs=1")
    metrics = demo_workflow(config, tmp_path / "demo", log=lambda message: None)
    assert 0.0 <= metrics["test_auc"] <= 1.0
    assert 0.0 <= metrics["dedoppler_test_auc"] <= 1.0 and 0.0 <= metrics["blend_test_auc"] <= 1
    assert len(metrics["blend_weights"]) == 2 and abs(sum(metrics["blend_weights"]) - 1) < 0.01
    blend = pd.read_csv(tmp_path / "demo" / "blend" / "submission.csv", dtype={"id": str})
    test_ids = pd.read_csv(tmp_path / "demo" / "data" / "sample_submission.csv", dtype={"id": str})
    assert sorted(blend["id"]) == sorted(test_ids["id"])
    run = tmp_path / "demo" / "run"
    assert (run / "report.html").is_file() and (run / "submission.csv").is_file()
    again = demo_workflow(config, tmp_path / "demo", log=lambda message: None)
    assert again["oof_auc"] == metrics["oof_auc"]  # finished folds are reused, not retrained


def test_submitted_predictions_rule():
    from setibl.learned.train import submitted_predictions

    assert submitted_predictions("tta", 0.5, 0.9) == "tta"
    assert submitted_predictions("plain", 0.9, 0.5) == "plain"
    assert submitted_predictions("auto", 0.8, 0.9) == "plain"
    assert submitted_predictions("auto", 0.9, 0.9) == "tta"
    assert submitted_predictions("auto", None, 0.9) == "tta"


@pytest.mark.parametrize(("rule", "column"), [("auto", "pred_plain"), ("tta", "pred")])
def test_summary_submits_the_chosen_predictions(tmp_path, rule, column):
    from setibl.learned.train import summarise_run

    rng = np.random.default_rng(0)
    run, records = tmp_path / "run", tmp_path / "records"
    records.mkdir()
    ids = [f"{i:04x}" for i in range(40)]
    targets = np.tile([0, 1], 20)
    for fold in range(2):
        (run / f"fold-{fold}").mkdir(parents=True)
        part = slice(fold * 20, fold * 20 + 20)
        oof = pd.DataFrame({"id": ids[part], "target": targets[part], "fold": fold})
        oof["pred_plain"] = oof["target"] * 0.5 + rng.random(20) * 0.4  # separates the classes
        oof["pred"] = rng.random(20)  # TTA predictions that do not
        oof.to_csv(run / f"fold-{fold}" / "oof.csv", index=False)
        test = pd.DataFrame({"id": ["t1", "t2"], "pred": [0.1, 0.2], "pred_plain": [0.7, 0.9]})
        test.to_csv(run / f"fold-{fold}" / "test.csv", index=False)
    index = pd.DataFrame({"id": [*ids, "t1", "t2"], "split": ["train"] * 40 + ["test"] * 2})
    index.assign(file="x").to_csv(records / "index.csv", index=False)
    config = tiny_config("train.folds=2", f'train.submit="{rule}"')
    metrics = summarise_run(config, records, run, [], log=lambda message: None)
    assert metrics["submitted"] == ("plain" if rule == "auto" else "tta")
    submission = pd.read_csv(run / "submission.csv", dtype={"id": str})
    expected = {"pred_plain": [0.7, 0.9], "pred": [0.1, 0.2]}[column]
    np.testing.assert_allclose(submission["target"], expected)
    written = pd.read_csv(run / "oof.csv", dtype={"id": str}).sort_values("id")
    folds = [pd.read_csv(run / f"fold-{k}" / "oof.csv", dtype={"id": str}) for k in (0, 1)]
    source = pd.concat(folds)
    np.testing.assert_allclose(written["pred"], source.sort_values("id")[column])
