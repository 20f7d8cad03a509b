import numpy as np
import pandas as pd
import pytest

from setibl.config import AugmentConfig, PseudoConfig, load_config
from setibl.errors import RunError
from setibl.jobs.data import shard_data
from setibl.learned.mixup import MixupPlan
from setibl.learned.pipeline import eval_dataset, labelled_examples, pipeline_spec, train_dataset
from setibl.learned.pseudo import (
    PseudoLabels,
    check_test_only,
    confident_labels,
    read_pseudo_labels,
    write_pseudo_labels,
)
from setibl.learned.records import INDEX_FILE, shard_paths
from setibl.learned.train import fold_splits
from tests.conftest import write_kaggle_folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("pseudo")
    data = write_kaggle_folder(root / "data", n_train=24, n_test=10)
    config = load_config(
        None,
        ["data.height=16", "data.width=32", "records.train_shards=4", "records.test_shards=2"],
    )
    manifest = shard_data(config, data, root / "shards", progress=False)
    return config, root / "shards", manifest


def _test_predictions(records):
    index = pd.read_csv(records / INDEX_FILE, dtype={"id": str})
    ids = sorted(index.loc[index["split"] == "test", "id"])
    # confident: 0.95 (positive), 0.01 (negative); unsure: 0.5
    preds = [0.95, 0.01, 0.5, 0.97, 0.02, 0.3, 0.99, 0.001, 0.6, 0.04][: len(ids)]
    return pd.DataFrame({"id": ids, "target": preds}), index


def test_confident_labels_follow_the_thresholds():
    frame = pd.DataFrame({"id": list("abcde"), "target": [0.95, 0.9, 0.5, 0.02, 0.03]})
    labels = confident_labels(frame, PseudoConfig(), round_=2)
    assert list(labels["id"]) == ["a", "b", "d"]
    assert list(labels["target"]) == [1, 1, 0] and set(labels["round"]) == {2}


def test_pseudo_labels_name_test_ids_only(shards, tmp_path):
    _, records, _ = shards
    predictions, index = _test_predictions(records)
    labels = confident_labels(predictions, PseudoConfig(), 1)
    check_test_only(labels, index, "labels")
    train_id = index.loc[index["split"] == "train", "id"].iloc[0]
    bad = pd.concat([labels, labels.iloc[:1].assign(id=train_id)])
    with pytest.raises(RunError, match="not test ids"):
        check_test_only(bad, index, "labels")
    path = write_pseudo_labels(labels, tmp_path / "pseudo_labels.csv")
    pd.testing.assert_frame_equal(read_pseudo_labels(path), labels)


def test_fold_safety(shards):
    """Every fold trains on its own shards plus the pseudo-labelled test ids, with the pseudo
    labels; its validation ids are never pseudo-labelled and keep their true labels."""
    config, records, manifest = shards
    spec = pipeline_spec(config, manifest)
    predictions, index = _test_predictions(records)
    labels = confident_labels(predictions, PseudoConfig(), 1)
    assert 0 < len(labels) < len(predictions)
    pseudo = PseudoLabels.from_frame(shard_paths(records, manifest, "test"), labels)
    truth = pd.read_csv(records.parent / "data" / "train_labels.csv", dtype={"id": str})
    truth = dict(zip(truth["id"], truth["target"], strict=True))
    pseudo_truth = dict(zip(labels["id"], labels["target"], strict=True))
    for fit_files, valid_files in fold_splits(shard_paths(records, manifest, "train"), 2, 42):
        seen = {}
        for batch in labelled_examples(fit_files, spec, 7, pseudo):
            for ident, target in zip(batch["id"].numpy(), batch["target"].numpy(), strict=True):
                seen[ident.decode()] = int(target)
        valid = {}
        for batch in eval_dataset(valid_files, spec, 7).map(lambda x, y: y):
            valid.setdefault("count", 0)
            valid["count"] += len(batch)
        valid_ids = set(
            index.loc[index["file"].isin([f.split("/")[-1] for f in valid_files]), "id"]
        )
        assert valid["count"] == len(valid_ids)
        assert not valid_ids & set(pseudo_truth)  # no validation id is pseudo-labelled
        assert not valid_ids & set(seen)  # nor trained on
        assert set(pseudo_truth) <= set(seen)  # every pseudo label joins every fold's training
        test_ids = set(predictions["id"])
        assert not (set(seen) & test_ids) - set(pseudo_truth)  # unsure test ids stay out
        for ident, target in seen.items():
            assert target == (pseudo_truth[ident] if ident in pseudo_truth else truth[ident])


def test_training_pipeline_reads_pseudo_records_and_mixes(shards):
    config, records, manifest = shards
    spec = pipeline_spec(config, manifest)
    predictions, _ = _test_predictions(records)
    labels = confident_labels(predictions, PseudoConfig(negative_threshold=0.0), 1)  # positives
    pseudo = PseudoLabels.from_frame(shard_paths(records, manifest, "test"), labels)
    files = shard_paths(records, manifest, "train")
    plain = AugmentConfig(affine=False, flip_lr=False, color=False, dropout=False)

    def positives(pseudo_labels, mixup=None):
        dataset = train_dataset(
            files, spec, 8, plain, seed=1, shuffle_buffer=4, pseudo=pseudo_labels, mixup=mixup
        )
        return [t for _, y in dataset.take(30) for t in y.numpy()]

    base = positives(None)
    with_pseudo = positives(pseudo)
    # 24 train cadences, 8 positive; pseudo adds len(labels) positives to each pass
    assert np.mean(base) == pytest.approx(8 / 24, abs=0.05)
    expected = (8 + len(labels)) / (24 + len(labels))
    assert np.mean(with_pseudo) == pytest.approx(expected, abs=0.05)
    mixup = dataclasses_replace_mixup(config)
    mixed = positives(None, MixupPlan(mixup, epochs=2, steps_per_epoch=100))
    assert set(mixed) <= {0.0, 1.0} and np.mean(mixed) > np.mean(base) + 0.1  # OR labels


def dataclasses_replace_mixup(config):
    import dataclasses

    return dataclasses.replace(config.mixup, enabled=True, prob=1.0)
