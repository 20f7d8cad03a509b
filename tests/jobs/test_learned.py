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
