"""The demo runs the de-Doppler baseline after training, in a process that holds TensorFlow:
its worker pool must not fork that process (a fork after TensorFlow's threads can deadlock)."""

from __future__ import annotations

import pandas as pd

from setibl.jobs import executor
from setibl.jobs.classical import dedoppler_workflow
from tests.conftest import TINY_SHAPE


def test_baseline_after_tensorflow_starts_workers_without_fork(
    kaggle_folder, tmp_path, monkeypatch
):
    import tensorflow as tf

    from setibl.config import load_config

    tf.constant(1.0) + 1.0  # TensorFlow's runtime and thread pools are up, as after training
    methods = []
    get_context = executor.mp.get_context

    def recording(method=None):
        methods.append(method)
        return get_context(method)

    monkeypatch.setattr(executor.mp, "get_context", recording)
    config = load_config(None, [f"data.height={TINY_SHAPE[1]}", f"data.width={TINY_SHAPE[2]}"])
    out, _ = dedoppler_workflow(
        config, kaggle_folder, "train", tmp_path / "dd.csv", workers=2, chunk=4, progress=False
    )
    assert methods and "fork" not in methods
    assert len(pd.read_csv(out)) == 12
