import json

from setibl.jobs.learned import training_batch
from tests.conftest import tiny_config


def test_predict_batches_like_the_run_trained(tmp_path):
    config = tiny_config()  # train.batch_size = 8 per replica
    assert training_batch(tmp_path, config) == 8  # no run.json: one replica
    (tmp_path / "run.json").write_text(json.dumps({"replicas": 4}))
    assert training_batch(tmp_path, config) == 32


def test_predict_changes_only_what_leaves_the_models_alone():
    import pytest

    from setibl.errors import ConfigError
    from setibl.jobs.learned import check_predict_overrides

    allowed = ("train.tta=3", "train.batch_size=8")
    assert check_predict_overrides(allowed) == allowed
    with pytest.raises(ConfigError, match="'model.backbone': fixed by the run's models"):
        check_predict_overrides(['model.backbone="small_cnn"'])
    with pytest.raises(ConfigError, match="'records.layout'"):
        check_predict_overrides(["train.tta=3", 'records.layout="all6"'])


def test_predict_on_the_data_a_run_trained_on_scores_its_own_shards(tiny_run, tiny_data, tmp_path):
    import os
    import shutil

    import numpy as np
    import pandas as pd

    from setibl.jobs.learned import predict_workflow

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)  # copy2: same files, sizes and times
    lines = []
    out = predict_workflow(tiny_run, data, tmp_path / "sub.csv", log=lines.append)
    assert any("the run's own shards" in line for line in lines), lines
    scored = pd.read_csv(out, dtype={"id": str})
    submitted = pd.read_csv(tiny_run / "submission.csv", dtype={"id": str})
    np.testing.assert_allclose(scored["target"], submitted["target"], atol=1e-6)
    # a test file touched since: the run's shards no longer hold it, the split is sharded anew
    first = next((data / "test").rglob("*.npy"))
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))
    lines.clear()
    predict_workflow(tiny_run, data, tmp_path / "again.csv", log=lines.append)
    assert any(line.startswith("sharding the test split") for line in lines), lines


def test_training_from_a_bare_weights_file_warns_that_it_cannot_be_checked(tmp_path):
    import pytest

    from setibl.config import load_config
    from setibl.config_rules import layout_companions
    from setibl.errors import SetiblError
    from setibl.jobs.learned import train_workflow

    bare = tmp_path / "start.weights.h5"
    bare.write_bytes(b"")
    overrides = [*layout_companions("search_maps"), 'records.layout="search_maps"']
    lines = []
    config = load_config(None, [*overrides, f'model.init="{bare}"'])
    with pytest.raises(SetiblError):  # no data there: it stops right after the check
        train_workflow(config, tmp_path / "no-data", tmp_path / "run", log=lines.append)
    assert any("bare weights file" in line and "cannot be checked" in line for line in lines)
    lines.clear()
    with pytest.raises(SetiblError):  # pixel layouts carry no search settings to check
        train_workflow(
            load_config(None, [f'model.init="{bare}"']), tmp_path / "no-data", tmp_path / "r2",
            log=lines.append,
        )  # fmt: skip
    assert not any("bare weights file" in line for line in lines)
