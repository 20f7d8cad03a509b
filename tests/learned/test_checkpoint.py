"""A fold killed at any point of its epoch checkpoint resumes from one consistent epoch."""

import json

import numpy as np
import pytest

from setibl.config import ModelConfig
from setibl.learned import train
from setibl.learned.models import build_model, compile_model
from setibl.learned.train import EpochCheckpoint, resume_point


def _model():
    model = build_model(ModelConfig(backbone="small_cnn", weights="none"), (16, 32, 3))
    return compile_model(model, ModelConfig(), 1e-3)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_kill_between_model_and_state_resumes_from_the_committed_epoch(tmp_path, monkeypatch):
    model = _model()
    checkpoint = EpochCheckpoint(tmp_path, {})
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_auc": 0.6, "loss": 0.5})
    committed = _weights(model)
    model.set_weights([w + 1.0 for w in committed])  # epoch 1 moves the weights on

    def killed(path, obj):
        if path.name == "state.json":
            raise KeyboardInterrupt  # the process dies before state.json of epoch 1
        return json_writer(path, obj)

    json_writer = train.atomic_write_json
    monkeypatch.setattr(train, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(1, {"val_auc": 0.9, "loss": 0.4})
    monkeypatch.undo()
    (tmp_path / ".last-e2.5d1c2b3a.tmp.keras").write_bytes(b"half")  # a killed write

    state, last = resume_point(tmp_path)
    assert state["epochs_done"] == 1 and [row["epoch"] for row in state["history"]] == [0]
    assert state["best_auc"] == pytest.approx(0.6)
    resumed = __import__("keras").saving.load_model(last)
    for got, want in zip(_weights(resumed), committed, strict=True):
        np.testing.assert_array_equal(got, want)
    best = _model()
    best.load_weights(tmp_path / state["best_file"])
    for got, want in zip(_weights(best), committed, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best-e1.weights.h5",
        "history.csv",
        "last-e1.keras",
        "state.json",
    ]
    assert json.loads((tmp_path / "state.json").read_text()) == state
