"""Finished runs' models: the run a name stands for (a folder, or ``default``: the shipped
model), the weights a new run starts from (``model.init``), and a run's fold models as one
scorer of cadence windows (``setibl scan``).

The windows come as the Kaggle snippets did, ``(n, scans, height, width)`` with every scan at
mean 0 / std 1; the run's layout turns them into images, every fold model scores them (one
plain pass, no test-time augmentation) and the fold weights of the run average the scores.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from setibl.config import Config, load_config
from setibl.errors import ConfigError, RunError

# the word that names the shipped default model wherever a run folder is asked for
DEFAULT_MODEL = "default"
# the shipped default model: a run folder inside the package (config, metrics, fold weights),
# made by tools/make_default_model.py from our own synth
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"


def resolve_run(run: str | os.PathLike) -> Path:
    """The run folder ``run`` names: the word ``default`` is the shipped default model (a
    folder of that name is ``./default``); anything else is a path, returned as given."""
    if str(run) != DEFAULT_MODEL:
        return Path(run)
    if not (DEFAULT_MODEL_DIR / "config.toml").is_file():
        raise RunError(
            f"{DEFAULT_MODEL_DIR}: the default model is not in this installation; remake it "
            "with tools/make_default_model.py, or give a run folder"
        )
    return DEFAULT_MODEL_DIR


def is_default_model(run: str | os.PathLike) -> bool:
    """Whether ``run`` is the shipped default model (read-only: nothing is written into it)."""
    return Path(run).resolve() == DEFAULT_MODEL_DIR


def run_config(run: str | os.PathLike) -> Config:
    """The resolved config a run was trained with (no TensorFlow needed); ``run`` may be
    ``default``."""
    run = resolve_run(run)
    path = Path(run) / "config.toml"
    if not path.is_file():
        raise RunError(f"{path}: not found; is {run} a run folder?")
    return load_config(path)


class RunScorer:
    """Fold models of the run at ``run``, loaded once; call it on batches of windows."""

    def __init__(self, run: str | os.PathLike, batch_size: int = 64) -> None:
        import tensorflow as tf

        from setibl.learned.layouts import get_layout
        from setibl.learned.predict import load_fold_model
        from setibl.learned.train import fold_model_paths

        # several workers may share a GPU (scan.gpus_per_unit < 1): each takes only what it
        # uses rather than TensorFlow's default of all the GPU's memory
        # (a process that has used the GPU already keeps its setting: RuntimeError)
        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):
                tf.config.experimental.set_memory_growth(gpu, True)
        run = resolve_run(run)
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


# what must agree between a run and a new run starting from its weights (model.init)
# what must agree for weights to mean the same: the architecture, and what the inputs are
# (their scaling into the backbone, which scans are ON, how records store them)
INIT_KEYS = (
    "records.layout",
    "model.backbone",
    "model.head_units",
    "model.pooling",
    "model.input_scale",
    "model.input_offset",
    "data.on_scans",
    "records.encoding",
)


def _input_shape(config: Config) -> tuple[int, ...]:
    from setibl.learned.layouts import image_shape

    stored = image_shape(
        config.records.layout, config.cadence_shape, config.data.on_scans, config.records.resize
    )
    return (*stored, *config.model.resize)


def initial_weights(config: Config) -> Path | None:
    """The weights file a new run's models start from (``model.init``): None for ``none``
    (the reference: a fresh model); fold 0's weights of a run folder (``default``: the shipped
    model), which must share the layout, backbone, head and input shape (ConfigError naming
    the key otherwise); or a ``.weights.h5`` file as given."""
    from setibl.learned.train import fold_model_paths

    init = config.model.init
    if init == "none":
        return None
    source = resolve_run(init)
    if source.is_file():
        return source
    if not (source / "config.toml").is_file():
        raise ConfigError(
            f"config key 'model.init': {init} is neither a run folder nor a weights file"
        )
    trained = run_config(source)
    for key in INIT_KEYS:
        section, name = key.split(".")
        mine, theirs = (
            getattr(getattr(config, section), name),
            getattr(getattr(trained, section), name),
        )
        if mine != theirs:
            raise ConfigError(
                f"config key 'model.init': {init} was trained with {key} = {theirs!r}, this "
                f"config has {mine!r}; set {key} alike or model.init = 'none'"
            )
    if _input_shape(trained) != _input_shape(config):
        raise ConfigError(
            f"config key 'model.init': {init} takes images of {_input_shape(trained)}, this "
            f"config makes {_input_shape(config)} (data.height/width, records.resize, "
            "model.resize must agree)"
        )
    return fold_model_paths(source, trained.train.folds)[0]


def build_initial_model(config: Config, image_shape: tuple[int, int, int]):
    """A new run's model: built as ``model`` says, then given the weights of ``model.init``."""
    from setibl.learned.models import build_model

    model = build_model(config.model, image_shape)
    weights = initial_weights(config)
    if weights is not None:
        try:
            model.load_weights(weights)
        except (ValueError, OSError) as err:  # another model's weights; a damaged file
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err)
            raise ConfigError(
                f"config key 'model.init': {weights} does not fit this model or cannot be "
                f"read ({first_line})"
            ) from None
    return model
