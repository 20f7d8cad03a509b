import keras
import numpy as np
import pytest

from setibl.config import AugmentConfig, load_config
from setibl.jobs.data import shard_data
from setibl.learned.pipeline import PipelineSpec
from setibl.learned.predict import predict_records
from setibl.learned.records import shard_paths
from tests.conftest import write_kaggle_folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = write_kaggle_folder(root / "data", n_train=22, n_test=7)
    config = load_config(
        None, ["data.height=16", "data.width=32", "records.train_shards=2", "records.test_shards=1"]
    )
    manifest = shard_data(config, data, root / "shards", progress=False)
    return root / "shards", manifest


def test_tta_passes_do_not_retrace(shards):
    records, manifest = shards
    traces = []

    def traced(images):  # runs only while TensorFlow traces the model
        traces.append(tuple(images.shape))
        return images

    inputs = keras.Input((16, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Lambda(traced)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    traces.clear()
    spec = PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"])
    augment = AugmentConfig(jit_compile=False)
    for split in ("train", "test"):  # 22 and 7 records in batches of 4: two batch sizes each
        files = shard_paths(records, manifest, split)
        result = predict_records(model, files, spec, 4, augment, tta=3, seed=1)
        assert len(result.ids) == {"train": 22, "test": 7}[split]
        assert np.isfinite(result.tta).all()
    assert len(traces) <= 2, traces  # the full batch and a shape-relaxed one, for 8 passes
