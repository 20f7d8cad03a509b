"""model.init: a new run starts from a finished run's (or the shipped model's) weights, only
where layout, backbone, head and input shape agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from setibl.errors import ConfigError
from tests.conftest import tiny_config


def _fold0_weights(run):
    from setibl.learned.predict import load_fold_model
    from setibl.learned.runs import _input_shape, run_config

    config = run_config(run)
    model = load_fold_model(config.model, _input_shape(config), run / "fold-0" / "best.weights.h5")
    return model.get_weights()


def test_init_must_name_something_and_leaves_imagenet_alone():
    from setibl.config import load_config

    assert load_config().model.init == "none"  # the reference starts from ImageNet weights
    with pytest.raises(ConfigError, match="model.init"):
        load_config(None, ['model.init=""'])
    with pytest.raises(ConfigError, match="model.init.*model.weights = 'none'"):
        load_config(None, ['model.init="default"'])  # the reference backbone has ImageNet on


def test_a_model_started_from_a_run_holds_its_fold0_weights(tiny_run):
    from setibl.learned.runs import _input_shape, build_initial_model, initial_weights

    config = tiny_config(f'model.init="{tiny_run}"')
    assert initial_weights(config) == tiny_run / "fold-0" / "best.weights.h5"
    started = build_initial_model(config, _input_shape(config)).get_weights()
    fresh = build_initial_model(tiny_config(), _input_shape(config)).get_weights()
    expected = _fold0_weights(tiny_run)
    for mine, theirs in zip(started, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert any(not np.array_equal(a, b) for a, b in zip(fresh, expected, strict=True))


def test_training_from_a_run_starts_at_its_weights(tiny_run, tiny_data, tmp_path, monkeypatch):
    import setibl.learned.train as train_module
    from setibl.jobs.learned import train_workflow

    seen = []
    original = train_module.build_initial_model

    def spy(config, image_shape):
        model = original(config, image_shape)
        seen.append([w.copy() for w in model.get_weights()])  # before the first step
        return model

    monkeypatch.setattr(train_module, "build_initial_model", spy)
    config = tiny_config(f'model.init="{tiny_run}"', "train.epochs=1", "train.tta=0")
    lines = []
    train_workflow(config, tiny_run / "shards", tmp_path / "run", log=lines.append)
    assert len(seen) == config.train.folds
    expected = _fold0_weights(tiny_run)
    for weights in seen:
        for mine, theirs in zip(weights, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs)
    # the run it starts from trained on these very records: fold 0 saw every id outside it
    oof = pd.read_csv(tiny_run / "oof.csv")
    trained = int((oof["fold"] != 0).sum())
    assert 0 < trained < len(oof)
    warned = [line for line in lines if line.startswith("warning: model.init")]
    assert len(warned) == 1 and f"trained on {trained} of this run's training" in warned[0]


def test_init_overlap_counts_only_the_ids_the_start_run_trained_on(tiny_run, tmp_path):
    import shutil

    from setibl.jobs.learned import init_overlap

    records = tiny_run / "shards"
    started = tiny_config(f'model.init="{tiny_run}"')
    assert init_overlap(tiny_config(), records) == 0  # model.init = "none"
    oof = pd.read_csv(tiny_run / "oof.csv", dtype={"id": str})
    assert init_overlap(started, records) == int((oof["fold"] != 0).sum())
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other, ignore=shutil.ignore_patterns("shards"))
    seen = oof.iloc[:5].assign(fold=[1, 1, 1, 0, 0])  # fold 0 trained on three of them
    seen.to_csv(other / "oof.csv", index=False)
    assert init_overlap(tiny_config(f'model.init="{other}"'), records) == 3
    weights = other / "fold-0" / "best.weights.h5"  # a fold's file: its run, that fold
    assert init_overlap(tiny_config(f'model.init="{weights}"'), records) == 3
    fold_1 = other / "fold-1" / "best.weights.h5"
    assert init_overlap(tiny_config(f'model.init="{fold_1}"'), records) == 2
    bare = tmp_path / "bare.weights.h5"  # outside any run: nothing known of its training
    shutil.copy(weights, bare)
    assert init_overlap(tiny_config(f'model.init="{bare}"'), records) == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ('records.layout="on_off"', "records.layout"),
        ('model.pooling="max"', "model.pooling"),
        ("model.head_units=8", "model.head_units"),
        ("model.input_scale=1.0", "model.input_scale"),
        ("data.on_scans=[1, 3, 5]", "data.on_scans"),
    ],
)
def test_weights_that_mean_something_else_are_a_config_error_naming_the_key(
    tiny_run, change, named
):
    from setibl.learned.runs import initial_weights

    with pytest.raises(ConfigError, match=f"model.init.*was trained with {named} ="):
        initial_weights(tiny_config(f'model.init="{tiny_run}"', change))


@pytest.mark.parametrize("change", ["data.height=48", "model.resize=[16, 32]"])
def test_a_run_of_another_input_shape_is_a_config_error(tiny_run, change):
    from setibl.learned.runs import initial_weights

    with pytest.raises(ConfigError, match="model.init.*images"):
        initial_weights(tiny_config(f'model.init="{tiny_run}"', change))


def test_init_names_a_missing_source(tmp_path):
    from setibl.learned.runs import initial_weights

    with pytest.raises(ConfigError, match="model.init.*neither a run folder nor a weights file"):
        initial_weights(tiny_config(f'model.init="{tmp_path / "nothing"}"'))
