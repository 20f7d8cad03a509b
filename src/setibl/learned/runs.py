"""Finished runs on disk: the run a name stands for (a folder, or ``default``: the shipped
model), its config and fold weights, and the weights a new run starts from (``model.init``)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from setibl.config import Config, load_config
from setibl.errors import ConfigError, RunError
from setibl.learned.layouts import image_shape, layout_params, params_change

BEST_WEIGHTS = "best.weights.h5"  # a fold's best epoch (by validation AUC), RUN/fold-k/

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


def check_layout_params(run: str | os.PathLike) -> None:
    """RunError when ``run``'s models were trained on images its layout now makes otherwise
    (``Layout.params``, e.g. the search behind ``search_maps``): recorded in ``run.json``
    (``model.json`` for the shipped model), else in the manifest of the run's shards."""
    source = resolve_run(run)
    layout = run_config(source).records.layout
    now = layout_params(layout)
    if not now:
        return
    state = _json_or_empty(source / "run.json")
    recorded = state.get(
        "layout_params", _json_or_empty(source / "model.json").get("layout_params")
    )
    if recorded is None and state.get("records"):
        recorded = _json_or_empty(Path(state["records"]) / "manifest.json").get("layout_params")
    if recorded != now:
        raise RunError(
            f"{run}: its models were trained on '{layout}' images this version makes otherwise "
            f"({params_change(recorded, now)}): train again, or use the setibl version it was "
            "trained with"
        )


def _json_or_empty(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def fold_model_paths(run: str | os.PathLike, folds: int) -> list[Path]:
    paths = [Path(run) / f"fold-{k}" / BEST_WEIGHTS for k in range(folds)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RunError(f"missing fold weights: {missing}; is the run finished?")
    return paths


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
    stored = image_shape(
        config.records.layout, config.cadence_shape, config.data.on_scans, config.records.resize
    )
    return (*stored, *config.model.resize)


def initial_weights(config: Config) -> Path | None:
    """The weights file a new run's models start from (``model.init``): None for ``none``
    (the reference: a fresh model); fold 0's weights of a run folder (``default``: the shipped
    model), which must share the layout, backbone, head and input shape (ConfigError naming
    the key otherwise); or a ``.weights.h5`` file as given."""
    init = config.model.init
    if init == "none":
        return None
    source = resolve_run(init)
    if source.is_file():
        origin = weights_file_origin(source)
        if origin is not None:  # a fold's weights inside a run folder: checked like the run
            run = origin[0]
            try:
                trained = run_config(run)
            except (ConfigError, RunError) as err:
                raise ConfigError(
                    f"config key 'model.init': {init} belongs to the run {run}, whose config "
                    f"cannot be read ({err}); copy the file out of the run to start from it "
                    "unchecked"
                ) from None
            _check_init_run(config, init, run, trained)
        return source
    if not (source / "config.toml").is_file():
        raise ConfigError(
            f"config key 'model.init': {init} is neither a run folder nor a weights file"
        )
    trained = run_config(source)
    _check_init_run(config, init, source, trained)
    return fold_model_paths(source, trained.train.folds)[0]


def weights_file_origin(path: str | os.PathLike) -> tuple[Path, int] | None:
    """(run folder, fold K) of ``path`` when it is one fold's weights, RUN/fold-K/NAME (resolved:
    relative paths and links are followed), else None: a bare weights file carries no config or
    layout settings to check."""
    path = Path(path).resolve()
    run = path.parent.parent
    fold = re.fullmatch(r"fold-(\d+)", path.parent.name)
    if fold and (run / "config.toml").is_file():
        return run, int(fold.group(1))
    return None


def _check_init_run(config: Config, init: str, source: Path, trained: Config) -> None:
    """ConfigError naming the key unless the run ``source``, trained with ``trained``, made
    models this config's run can start from."""
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
    check_layout_params(source)
    if _input_shape(trained) != _input_shape(config):
        raise ConfigError(
            f"config key 'model.init': {init} takes images of {_input_shape(trained)}, this "
            f"config makes {_input_shape(config)} (data.height/width, records.resize, "
            "model.resize must agree)"
        )


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
