"""A run's models are fed only images made the way they were trained on (Layout.params)."""

from __future__ import annotations

import json

import pytest

from setibl.config import load_config, save_config
from setibl.config_rules import layout_companions
from setibl.errors import ConfigError, RunError
from setibl.learned.layouts import layout_params
from setibl.learned.runs import check_layout_params, initial_weights, weights_file_origin

SEARCH_MAPS = [*layout_companions("search_maps"), 'records.layout="search_maps"']


def _run(tmp_path, overrides, state):
    run = tmp_path / "run"
    save_config(load_config(None, overrides), run / "config.toml")
    (run / "run.json").write_text(json.dumps(state))
    return run


def test_a_run_trained_on_todays_search_maps_passes(tmp_path):
    check_layout_params(
        _run(tmp_path, SEARCH_MAPS, {"layout_params": layout_params("search_maps")})
    )
    check_layout_params("default")  # the shipped model: model.json records them


def test_a_run_of_other_search_settings_is_refused_naming_them(tmp_path):
    older = {**layout_params("search_maps"), "edge_channels": 0}
    with pytest.raises(RunError, match=r"\(edge_channels 0 -> 64\): train again"):
        check_layout_params(_run(tmp_path, SEARCH_MAPS, {"layout_params": older}))


def test_unrecorded_settings_fall_back_to_the_runs_shards(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    run = _run(tmp_path, SEARCH_MAPS, {"records": str(shards)})
    with pytest.raises(RunError, match="not recorded"):  # no manifest either
        check_layout_params(run)
    manifest = {"layout": "search_maps", "layout_params": layout_params("search_maps")}
    (shards / "manifest.json").write_text(json.dumps(manifest))
    check_layout_params(run)


def test_layouts_without_settings_need_no_record(tmp_path):
    check_layout_params(_run(tmp_path, [], {}))  # on3: nothing beyond its name


def test_a_folds_weights_file_is_checked_like_its_run(tmp_path, monkeypatch):
    older = {**layout_params("search_maps"), "edge_channels": 0}
    run = _run(tmp_path, SEARCH_MAPS, {"layout_params": older})
    weights = run / "fold-0" / "best.weights.h5"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    assert weights_file_origin(weights) == (run, 0)
    config = load_config(None, [*SEARCH_MAPS, f'model.init="{weights}"'])
    with pytest.raises(RunError, match="edge_channels 0 -> 64"):
        initial_weights(config)
    monkeypatch.chdir(weights.parent)  # a relative path or a link finds the run all the same
    assert weights_file_origin("best.weights.h5") == (run, 0)
    (tmp_path / "link.weights.h5").symlink_to(weights)
    assert weights_file_origin(tmp_path / "link.weights.h5") == (run, 0)
    (run / "fold-backup").mkdir()  # only fold-K folders hold a run's weights
    (run / "fold-backup" / "best.weights.h5").write_bytes(b"")
    assert weights_file_origin(run / "fold-backup" / "best.weights.h5") is None
    (run / "config.toml").write_text("[model]\nno_such_key = 1\n")  # its run unreadable
    with pytest.raises(ConfigError, match="model.init.*cannot be read.*copy the file out"):
        initial_weights(config)
    bare = tmp_path / "elsewhere.weights.h5"  # nothing to check it against: used as given
    bare.write_bytes(b"")
    assert weights_file_origin(bare) is None
    assert initial_weights(load_config(None, [*SEARCH_MAPS, f'model.init="{bare}"'])) == bare
