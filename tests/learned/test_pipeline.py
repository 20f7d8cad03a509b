import numpy as np
import pytest

from setibl.config import AugmentConfig, load_config
from setibl.jobs.data import shard_data
from setibl.learned.pipeline import PipelineSpec, eval_dataset, predict_dataset, train_dataset
from setibl.learned.records import shard_paths
from tests.conftest import write_kaggle_folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    data = write_kaggle_folder(root / "data", n_train=24, n_test=6)
    config = load_config(
        None, ["data.height=16", "data.width=32", "records.train_shards=4", "records.test_shards=2"]
    )
    manifest = shard_data(config, data, root / "shards", progress=False)
    return root / "shards", manifest


def _spec(manifest, deterministic=True):
    return PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"], deterministic)


def test_train_batches_are_global_size_and_repeat(shards):
    records, manifest = shards
    dataset = train_dataset(
        shard_paths(records, manifest, "train"),
        _spec(manifest),
        10,
        AugmentConfig(),
        seed=1,
        shuffle_buffer=64,
    )
    batches = list(dataset.take(5))  # 50 > 24 images: must repeat
    for images, targets in batches:
        assert images.shape == (10, 16, 32, 3) and targets.shape == (10,)
        assert set(np.unique(targets.numpy())) <= {0.0, 1.0}


def test_deterministic_train_pipeline_repeats_exactly(shards):
    records, manifest = shards
    files = shard_paths(records, manifest, "train")

    def first_batches(seed):
        dataset = train_dataset(
            files, _spec(manifest), 8, AugmentConfig(), seed=seed, shuffle_buffer=64
        )
        return [b[0].numpy() for b in dataset.take(3)]

    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_predict_covers_every_id_once_in_file_order(shards):
    records, manifest = shards
    files = shard_paths(records, manifest, "train")
    ids = np.concatenate([b["id"].numpy() for b in predict_dataset(files, _spec(manifest), 7)])
    assert len(ids) == 24 and len(set(ids)) == 24
    again = np.concatenate([b["id"].numpy() for b in predict_dataset(files, _spec(manifest), 5)])
    np.testing.assert_array_equal(ids, again)


def test_tta_passes_differ_repeat_and_keep_ids_aligned(shards):
    records, manifest = shards
    files = shard_paths(records, manifest, "test")
    spec, config = _spec(manifest), AugmentConfig()

    def run(tta_pass):
        batches = list(predict_dataset(files, spec, 4, config, seed=9, tta_pass=tta_pass))
        return (
            np.concatenate([b["id"].numpy() for b in batches]),
            np.concatenate([b["image"].numpy() for b in batches]),
        )

    ids0, images0 = run(0)
    ids1, images1 = run(1)
    ids0b, images0b = run(0)
    np.testing.assert_array_equal(ids0, ids1)
    np.testing.assert_array_equal(images0, images0b)
    assert not np.array_equal(images0, images1)
    plain = np.concatenate([b["image"].numpy() for b in predict_dataset(files, spec, 4)])
    assert not np.array_equal(plain, images0)


def test_eval_is_plain_and_complete(shards):
    records, manifest = shards
    files = shard_paths(records, manifest, "train")
    images = np.concatenate([x.numpy() for x, _ in eval_dataset(files, _spec(manifest), 5)])
    plain = np.concatenate([b["image"].numpy() for b in predict_dataset(files, _spec(manifest), 5)])
    np.testing.assert_array_equal(images, plain)
