"""A finished run's fold models as one scorer of cadence windows (``setibl scan``); ``run`` may
be ``default``, the shipped model (:mod:`setibl.learned.runs`).

The windows come as the Kaggle snippets did, ``(n, scans, height, width)`` with every scan at
mean 0 / std 1; the run's layout turns them into images, every fold model scores them (one
plain pass, no test-time augmentation) and the fold weights of the run average the scores.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from setibl.learned.runs import check_layout_params, fold_model_paths, resolve_run, run_config


class RunScorer:
    """Fold models of the run at ``run``, loaded once; call it on batches of windows."""

    def __init__(self, run: str | os.PathLike, batch_size: int = 64) -> None:
        import tensorflow as tf

        from setibl.learned.layouts import get_layout
        from setibl.learned.predict import load_fold_model

        # several workers may share a GPU (scan.gpus_per_unit < 1): each takes only what it
        # uses rather than TensorFlow's default of all the GPU's memory
        # (a process that has used the GPU already keeps its setting: RuntimeError)
        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):
                tf.config.experimental.set_memory_growth(gpu, True)
        run = resolve_run(run)
        check_layout_params(run)
        self.config = run_config(run)
        self.layout = get_layout(self.config.records.layout)
        self.batch_size = batch_size
        self.image_shape = self.layout.output_shape(
            self.config.cadence_shape, self.config.data.on_scans
        )
        paths = fold_model_paths(run, self.config.train.folds)
        self.models = [load_fold_model(self.config.model, self.image_shape, p) for p in paths]
        self.weights = self.config.fold_weight_list()
        self._infer = [
            tf.function(lambda images, m=model: m(images, training=False), reduce_retracing=True)
            for model in self.models
        ]

    def __call__(self, windows: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
        """(n, scans, height, width) normalised windows -> (n,) fold-averaged scores."""
        if len(windows) == 0:
            return np.zeros(0, np.float32)
        images = self.layout(windows.astype(np.float32), tuple(on_scans))
        total = np.zeros(len(windows), np.float64)
        for infer, weight in zip(self._infer, self.weights, strict=True):
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size]
                scores = np.asarray(infer(batch)).reshape(-1)
                total[start : start + len(batch)] += weight * scores
        return total.astype(np.float32)
