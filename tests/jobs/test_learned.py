import json

from setibl.jobs.learned import training_batch
from tests.conftest import tiny_config


def test_predict_batches_like_the_run_trained(tmp_path):
    config = tiny_config()  # train.batch_size = 8 per replica
    assert training_batch(tmp_path, config) == 8  # no run.json: one replica
    (tmp_path / "run.json").write_text(json.dumps({"replicas": 4}))
    assert training_batch(tmp_path, config) == 32
