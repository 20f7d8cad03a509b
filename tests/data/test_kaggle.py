from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from setibl.cli import cli
from setibl.data.kaggle import DataError, discover, load_many, load_snippet, validate
from tests.conftest import TINY_SHAPE

SHAPE_ARGS = ["--set", "data.height=16", "--set", "data.width=32"]


def test_discover_train_and_test(kaggle_folder):
    train = discover(kaggle_folder, "train")
    labels = pd.read_csv(kaggle_folder / "train_labels.csv", dtype={"id": str})
    assert list(train.columns) == ["id", "path", "group", "target"]
    assert list(train["id"]) == list(labels["id"])
    assert list(train["target"]) == list(labels["target"])
    assert all(train["group"] == train["id"].str[0])
    assert all(
        p.endswith(f"train/{i[0]}/{i}.npy") for p, i in zip(train["path"], train["id"], strict=True)
    )
    test = discover(kaggle_folder, "test")
    assert list(test.columns) == ["id", "path", "group"] and len(test) == 4


def test_clean_folder_validates(kaggle_folder):
    report = validate(kaggle_folder, TINY_SHAPE)
    assert report.ok
    summary = report.summary()
    assert summary["train_count"] == 12 and summary["test_count"] == 4
    assert summary["train_positives"] == 4


def _first(folder, split="train"):
    return discover(folder, split).iloc[0]


def _kinds(report):
    return sorted(p.kind for p in report.problems)


def test_missing_file(kaggle_folder):
    row = _first(kaggle_folder)
    (kaggle_folder / row["path"]).unlink()
    report = validate(kaggle_folder, TINY_SHAPE)
    assert _kinds(report) == ["missing-file"] and report.problems[0].id == row["id"]
    assert row["id"] not in set(report.tables["train"]["id"])


def test_unlabelled_file(kaggle_folder):
    path = kaggle_folder / "train" / "f" / "fffffffffff.npy"
    path.parent.mkdir(exist_ok=True)
    np.save(path, np.zeros(TINY_SHAPE, np.float16))
    report = validate(kaggle_folder, TINY_SHAPE)
    assert _kinds(report) == ["unlabelled-file"] and report.problems[0].path == str(path)


def test_duplicate_id_in_labels(kaggle_folder):
    labels = pd.read_csv(kaggle_folder / "train_labels.csv", dtype={"id": str})
    pd.concat([labels, labels.iloc[:1]]).to_csv(kaggle_folder / "train_labels.csv", index=False)
    report = validate(kaggle_folder, TINY_SHAPE)
    assert _kinds(report) == ["duplicate-id"]


@pytest.mark.parametrize(
    ("array", "kind", "text"),
    [
        (np.zeros((6, 16, 31), np.float16), "bad-shape", "shape"),
        (np.zeros(TINY_SHAPE, np.int16), "bad-dtype", "dtype"),
        (np.full(TINY_SHAPE, np.nan, np.float16), "non-finite", "NaN"),
    ],
)
def test_bad_contents(kaggle_folder, array, kind, text):
    row = _first(kaggle_folder)
    np.save(row["path"], array)
    report = validate(kaggle_folder, TINY_SHAPE)
    assert _kinds(report) == [kind] and text in report.problems[0].message
    with pytest.raises(DataError, match=row["id"]):
        load_snippet(row["path"], TINY_SHAPE)


def test_truncated_and_garbage_files(kaggle_folder):
    table = discover(kaggle_folder, "train")
    first, second = Path(table["path"][0]), Path(table["path"][1])
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    second.write_bytes(b"not a numpy file at all")
    report = validate(kaggle_folder, TINY_SHAPE)
    assert _kinds(report) == ["unreadable", "unreadable"]
    messages = " ".join(p.message for p in report.problems)
    assert "truncated" in messages


def test_labels_not_binary(kaggle_folder):
    labels = pd.read_csv(kaggle_folder / "train_labels.csv", dtype={"id": str})
    labels.loc[0, "target"] = 2
    labels.to_csv(kaggle_folder / "train_labels.csv", index=False)
    assert _kinds(validate(kaggle_folder, TINY_SHAPE)) == ["bad-label"]


def test_test_ids_must_match_sample_submission(kaggle_folder):
    submission = pd.read_csv(kaggle_folder / "sample_submission.csv", dtype={"id": str})
    dropped = submission.iloc[0]["id"]
    extra = pd.DataFrame({"id": ["abcabcabcab"], "target": [0.5]})
    pd.concat([submission.iloc[1:], extra]).to_csv(
        kaggle_folder / "sample_submission.csv", index=False
    )
    report = validate(kaggle_folder, TINY_SHAPE)
    found = {(p.kind, p.id) for p in report.problems}
    assert found == {("unlisted-file", dropped), ("missing-file", "abcabcabcab")}


def test_parallel_load_equals_serial(kaggle_folder):
    paths = list(discover(kaggle_folder, "train")["path"])
    serial = load_many(paths, TINY_SHAPE, workers=1)
    parallel = load_many(paths, TINY_SHAPE, workers=4)
    assert serial.dtype == np.float32 and serial.shape == (12, *TINY_SHAPE)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial[3], np.load(paths[3]).astype(np.float32))


def test_cli_reports_corrupt_nan_and_unlabelled(kaggle_folder, tmp_path):
    table = discover(kaggle_folder, "train")
    Path(table["path"][0]).write_bytes(b"\x93NUMPY garbage")
    np.save(table["path"][1], np.full(TINY_SHAPE, np.inf, np.float16))
    stray = kaggle_folder / "train" / "e" / "eeeeeeeeeee.npy"
    stray.parent.mkdir(exist_ok=True)
    np.save(stray, np.zeros(TINY_SHAPE, np.float16))
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(kaggle_folder), *SHAPE_ARGS])
    assert result.exit_code != 0
    for name in (table["path"][0], table["path"][1], str(stray)):
        assert name in result.output
    dropped = tmp_path / "dropped.csv"
    result = runner.invoke(
        cli, ["validate", str(kaggle_folder), *SHAPE_ARGS, "--skip-bad", "--dropped", str(dropped)]
    )
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(dropped, dtype={"id": str})
    assert sorted(listed["id"]) == sorted([table["id"][0], table["id"][1], "eeeeeeeeeee"])


def test_every_float16_value_converts_exactly():
    from setibl.data.kaggle import to_float32

    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    np.testing.assert_array_equal(to_float32(halves), halves.astype(np.float32))
    assert to_float32(halves).dtype == np.float32


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_load_equals_numpy_for_every_dtype_and_order(tmp_path, dtype, order):
    array = np.random.default_rng(0).standard_normal(TINY_SHAPE).astype(dtype)
    path = tmp_path / "a.npy"
    np.save(path, np.asarray(array, order=order))
    loaded = load_snippet(path, TINY_SHAPE)
    assert loaded.dtype == np.float32 and loaded.shape == TINY_SHAPE
    np.testing.assert_array_equal(loaded, array.astype(np.float32))
    array.flat[7] = np.inf
    np.save(path, np.asarray(array, order=order))
    with pytest.raises(DataError, match="1 NaN/Inf"):
        load_snippet(path, TINY_SHAPE)


def test_validate_without_values_reads_headers_only(kaggle_folder):
    table = discover(kaggle_folder, "train")
    np.save(table["path"][0], np.full(TINY_SHAPE, np.nan, np.float16))
    np.save(table["path"][1], np.zeros((6, 16, 31), np.float16))
    truncated = Path(table["path"][2])
    truncated.write_bytes(truncated.read_bytes()[:-10])
    report = validate(kaggle_folder, TINY_SHAPE, values=False)
    assert _kinds(report) == ["bad-shape", "unreadable"]
    assert "truncated" in " ".join(p.message for p in report.problems)
    assert _kinds(validate(kaggle_folder, TINY_SHAPE)) == ["bad-shape", "non-finite", "unreadable"]
