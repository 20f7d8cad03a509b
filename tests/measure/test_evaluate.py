import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from setibl.cli import cli
from setibl.data.kaggle import DataError
from setibl.measure.evaluate import (
    clopper_pearson,
    evaluate,
    injection_recovery,
    join,
    threshold_at_fpr,
)


def _synthetic():
    """100 haystack cadences scored 0.00..0.99 and 10 needles of S/N 1..10 scored S/N / 10."""
    negatives = pd.DataFrame(
        {"id": [f"n{i:03d}" for i in range(100)], "target": 0, "pred": np.arange(100) / 100}
    )
    positives = pd.DataFrame(
        {"id": [f"p{i:03d}" for i in range(10)], "target": 1, "pred": np.arange(1, 11) / 10}
    )
    merged = pd.concat([negatives, positives], ignore_index=True)
    needles = pd.DataFrame(
        {
            "id": positives["id"],
            "role": "needle",
            "kind": ["constant"] * 5 + ["sine"] * 5,
            "snr": np.arange(1, 11, dtype=float),
            "drift_rate": np.linspace(-1, 1, 10),
        }
    )
    return merged, needles


def test_recall_at_fixed_fpr_is_exact():
    merged, needles = _synthetic()
    result = injection_recovery(merged, needles, fpr=0.1, bins=2)
    assert result["threshold"] == pytest.approx(0.89)
    negatives = merged.loc[merged["target"] == 0, "pred"]
    assert (negatives > result["threshold"]).mean() <= 0.1
    table = result["by_snr"]
    assert list(table["needles"]) == [5, 5]
    assert list(table["detected"]) == [0, 2]
    assert list(table["recall"]) == [0.0, 0.4]
    assert result["recall"] == pytest.approx(0.2)
    assert (table["recall_low"] <= table["recall"]).all()
    assert (table["recall"] <= table["recall_high"]).all()
    kinds = result["by_kind"].set_index("kind")["recall"]
    assert kinds["constant"] == 0.0 and kinds["sine"] == 0.4


def test_recall_rises_with_snr():
    merged, needles = _synthetic()
    table = injection_recovery(merged, needles, fpr=0.3, bins=5)["by_snr"]
    assert np.all(np.diff(table["recall"]) >= 0) and table["recall"].iloc[-1] == 1.0


def test_threshold_and_intervals():
    assert threshold_at_fpr(np.arange(10.0), 0.0) == 9.0
    assert threshold_at_fpr(np.arange(10.0), 0.2) == 7.0
    low, high = clopper_pearson(0, 10)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = clopper_pearson(5, 10)
    assert low == pytest.approx(1 - high)


def test_auc_by_fold_and_group():
    frame = pd.DataFrame({"id": ["a1", "a2", "b1", "b2"], "target": [0, 1, 0, 1]})
    predictions = pd.DataFrame(
        {"id": ["a1", "a2", "b1", "b2"], "pred": [0.1, 0.9, 0.8, 0.2], "fold": [0, 0, 1, 1]}
    )
    result = evaluate(predictions, frame)
    assert result["auc_by_fold"] == {0: 1.0, 1: 0.0}
    assert result["auc_by_group"] == {"a": 1.0, "b": 0.0}
    assert result["auc"] == pytest.approx(0.75)  # pooled: 3 of 4 pairs ordered


def test_missing_predictions_are_an_error():
    labels = pd.DataFrame({"id": ["a", "b"], "target": [0, 1]})
    with pytest.raises(DataError, match="1 labelled id"):
        join(pd.DataFrame({"id": ["a"], "pred": [0.3]}), labels)


def test_cli_evaluate_prints_recall(tmp_path):
    merged, needles = _synthetic()
    merged[["id", "pred"]].rename(columns={"pred": "target"}).to_csv(
        tmp_path / "p.csv", index=False
    )
    merged[["id", "target"]].to_csv(tmp_path / "labels.csv", index=False)
    needles.to_csv(tmp_path / "needles.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(tmp_path / "p.csv"),
            str(tmp_path / "labels.csv"),
            "--fpr",
            "0.1",
            "--out",
            str(tmp_path / "m.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recall at FPR 10.00%" in result.output and "by S/N" in result.output
    assert (tmp_path / "m.json").is_file()


def test_cli_evaluate_takes_the_measure_settings_from_the_config(tmp_path):
    merged, needles = _synthetic()
    merged[["id", "pred"]].rename(columns={"pred": "target"}).to_csv(
        tmp_path / "p.csv", index=False
    )
    merged[["id", "target"]].to_csv(tmp_path / "labels.csv", index=False)
    needles.to_csv(tmp_path / "needles.csv", index=False)
    args = ["evaluate", str(tmp_path / "p.csv"), str(tmp_path / "labels.csv")]
    args += ["--out", str(tmp_path / "m.json")]
    result = CliRunner().invoke(cli, [*args, "--set", "measure.fpr=0.05"])
    assert result.exit_code == 0, result.output
    assert "recall at FPR 5.00%" in result.output
    written = pd.read_json(tmp_path / "m.json", typ="series")
    assert len(written["injection_recovery"]["by_snr"]) == 6  # measure.recall_bins
    two_bins = CliRunner().invoke(cli, [*args, "--set", "measure.recall_bins=2"])
    assert two_bins.exit_code == 0, two_bins.output
    written = pd.read_json(tmp_path / "m.json", typ="series")
    assert len(written["injection_recovery"]["by_snr"]) == 2
    bad = CliRunner().invoke(cli, [*args, "--set", "measure.fpr=1.5"])
    assert bad.exit_code == 2 and "measure.fpr" in bad.output and "Traceback" not in bad.output
