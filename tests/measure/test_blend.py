import json

import numpy as np
import pandas as pd
import pytest

from setibl.measure.blend import BlendError, blend_runs, fit_weights


def _run(folder, preds, targets, folds, test):
    folder.mkdir(parents=True)
    ids = [f"{i:04x}" for i in range(len(preds))]
    pd.DataFrame({"id": ids, "target": targets, "pred": preds, "fold": folds}).to_csv(
        folder / "oof.csv", index=False
    )
    pd.DataFrame({"id": [f"t{i:03d}" for i in range(len(test))], "target": test}).to_csv(
        folder / "submission.csv", index=False
    )
    return folder


@pytest.fixture
def two_runs(tmp_path):
    rng = np.random.default_rng(0)
    targets = (rng.uniform(size=400) < 0.3).astype(int)
    signal_a = targets + rng.normal(0, 1.0, 400)  # two noisy views of the same truth
    signal_b = targets + rng.normal(0, 1.0, 400)
    folds = np.arange(400) % 5
    squash = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    a = _run(tmp_path / "a", squash(signal_a), targets, folds, [0.2, 0.8])
    b = _run(tmp_path / "b", squash(signal_b), targets, folds, [0.6, 0.4])
    return a, b


def test_blend_beats_each_run_and_applies_weights(two_runs, tmp_path):
    summary = blend_runs(two_runs, tmp_path / "blend")
    assert summary["oof_auc"] >= max(summary["oof_auc_single"])
    assert summary["oof_auc"] > max(summary["oof_auc_single"]) + 0.01  # independent noise
    assert sum(summary["weights"]) == pytest.approx(1.0) and min(summary["weights"]) >= 0
    assert summary["cv_auc"] > max(summary["cv_auc_single"])
    w = summary["weights"]
    submission = pd.read_csv(tmp_path / "blend" / "submission.csv")
    np.testing.assert_allclose(
        submission["target"], [0.2 * w[0] + 0.6 * w[1], 0.8 * w[0] + 0.4 * w[1]]
    )
    oof = pd.read_csv(tmp_path / "blend" / "oof.csv", dtype={"id": str})
    assert list(oof.columns) == ["id", "target", "pred", "fold"] and len(oof) == 400
    assert json.loads((tmp_path / "blend" / "blend.json").read_text())["weights"] == w


def test_single_best_run_is_never_beaten_downward():
    rng = np.random.default_rng(1)
    targets = (rng.uniform(size=200) < 0.5).astype(int)
    good = targets + rng.normal(0, 0.5, 200)
    noise = rng.normal(0, 1, 200)
    weights, score = fit_weights(np.stack([good, noise, noise * 2], 1), targets)
    from sklearn.metrics import roc_auc_score

    assert score >= roc_auc_score(targets, good)


def test_refuses_runs_with_other_folds_or_ids(two_runs, tmp_path):
    a, b = two_runs
    oof = pd.read_csv(b / "oof.csv", dtype={"id": str})
    oof.assign(fold=(oof["fold"] + 1) % 5).to_csv(b / "oof.csv", index=False)
    with pytest.raises(BlendError, match="another fold"):
        blend_runs([a, b], tmp_path / "x")
    oof.assign(id=oof["id"] + "z").to_csv(b / "oof.csv", index=False)
    with pytest.raises(BlendError, match="OOF ids differ"):
        blend_runs([a, b], tmp_path / "y")


def test_blend_of_two_trained_runs(tiny_run, tmp_path):
    from setibl.jobs.learned import train_workflow
    from tests.conftest import tiny_config

    second = tmp_path / "second"
    train_workflow(tiny_config("run.seed=7"), tiny_run / "shards", second, log=lambda m: None)
    summary = blend_runs([tiny_run, second], tmp_path / "blend")
    assert summary["oof_auc"] >= max(summary["oof_auc_single"])
    blended = pd.read_csv(tmp_path / "blend" / "submission.csv", dtype={"id": str})
    first = pd.read_csv(tiny_run / "submission.csv", dtype={"id": str})
    assert list(blended["id"]) == list(first["id"])


def test_blend_with_dedoppler_predictions(tiny_run, tiny_data, tmp_path):
    from setibl.jobs.classical import dedoppler_workflow
    from tests.conftest import tiny_config

    config = tiny_config()
    files = []
    for split in ("train", "test"):
        out, _ = dedoppler_workflow(
            config,
            tiny_data,
            split,
            tmp_path / f"dd_{split}.csv",
            filter_level=0,
            workers=1,
            progress=False,
        )
        files.append(str(out))
    summary = blend_runs([tiny_run, ":".join(files)], tmp_path / "blend")
    assert len(summary["weights"]) == 2
    assert summary["oof_auc"] >= max(summary["oof_auc_single"])
    assert (tmp_path / "blend" / "submission.csv").is_file()
    with pytest.raises(BlendError, match="at least one member must be a run folder"):
        blend_runs([":".join(files)], tmp_path / "x")
