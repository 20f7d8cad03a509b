"""The winning-recipe options through a whole (tiny) run, and pseudo-labelling rounds."""

import json

import pandas as pd

from setibl.jobs.learned import pseudo_round_dir, pseudo_workflow, train_workflow
from setibl.learned.pseudo import PSEUDO_FILE
from tests.conftest import tiny_config

RECIPE = [
    'records.layout="stack_on"',
    "model.resize=[48, 64]",
    'model.pooling="gem"',
    'model.loss="focal"',
    "augment.scan_order=true",
    "mixup.enabled=true",
    "mixup.off_last_epochs=1",
    'schedule.kind="cosine"',
    'schedule.optimizer="adamw"',
    "schedule.weight_decay=0.01",
    "pseudo.rounds=1",
    "pseudo.positive_threshold=0.6",
    "pseudo.negative_threshold=0.3",
]


def test_recipe_run_with_a_pseudo_round_resumes(tmp_path, tiny_data):
    config = tiny_config(*RECIPE)
    run = tmp_path / "run"
    messages = []
    train_workflow(config, tiny_data, run, log=messages.append)
    folder = pseudo_round_dir(run, 1)
    labels = pd.read_csv(folder / PSEUDO_FILE, dtype={"id": str})
    submission = pd.read_csv(run / "submission.csv", dtype={"id": str})
    confident = submission[(submission["target"] >= 0.6) | (submission["target"] <= 0.3)]
    assert sorted(labels["id"]) == sorted(confident["id"])
    assert set(labels["id"]) <= set(submission["id"])  # test ids only
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["oof_count"] == json.loads((run / "metrics.json").read_text())["oof_count"]
    assert (folder / "submission.csv").is_file()
    assert any("pseudo labels" in m for m in messages)
    # a second call finds everything finished: same labels, folds skipped, nothing retrained
    again = []
    pseudo_workflow(run, 1, log=again.append)
    pd.testing.assert_frame_equal(pd.read_csv(folder / PSEUDO_FILE, dtype={"id": str}), labels)
    assert sum("finished earlier" in m for m in again) == 2
