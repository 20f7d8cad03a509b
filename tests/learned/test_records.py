import json

import numpy as np
import pandas as pd
import pytest

from setibl.config import load_config
from setibl.config_rules import layout_companions
from setibl.data.kaggle import discover, load_snippet
from setibl.jobs.data import shard_data
from setibl.learned.layouts import LAYOUTS, get_layout
from setibl.learned.pipeline import PipelineSpec, predict_dataset
from setibl.learned.records import (
    RecordsError,
    ShardSpec,
    assign_shards,
    load_manifest,
    shard_paths,
)
from tests.conftest import TINY_SHAPE, write_kaggle_folder


def _overrides(*companions, **extra):
    values = {
        "data.height": 16,
        "data.width": 32,
        "records.train_shards": 3,
        "records.test_shards": 2,
        **extra,
    }
    return [*companions, *(f"{k}={v}" for k, v in values.items())]


def _read_all(records, manifest, split):
    spec = PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"])
    out = {}
    for batch in predict_dataset(shard_paths(records, manifest, split), spec, 5):
        for ident, image, target in zip(
            batch["id"].numpy(), batch["image"].numpy(), batch["target"].numpy(), strict=True
        ):
            out[ident.decode()] = (image, int(target))
    return out


def test_assignment_is_stratified_and_balanced():
    table = pd.DataFrame(
        {
            "id": [f"{g}{i:04d}" for g in "ab" for i in range(50)],
            "target": [int(i % 5 == 0) for i in range(100)],
        }
    )
    table["group"] = table["id"].str[0]
    shards = assign_shards(table, 5, seed=1)
    assert sorted(i for s in shards for i in s) == list(range(100))
    assert {len(s) for s in shards} == {20}
    for rows in shards:
        part = table.loc[rows]
        assert part["target"].sum() == 4
        assert (part["group"] == "a").sum() == 10


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_float16_round_trip_is_bit_exact(tmp_path, layout):
    data = write_kaggle_folder(tmp_path / "data")
    overrides = _overrides(*layout_companions(layout), **{"records.layout": f'"{layout}"'})
    config = load_config(None, overrides)
    manifest = shard_data(config, data, tmp_path / "shards", progress=False)
    records = _read_all(tmp_path / "shards", manifest, "train")
    table = discover(data, "train")
    assert sorted(records) == sorted(table["id"])
    for row in table.itertuples():
        expected = get_layout(layout)(load_snippet(row.path, TINY_SHAPE))
        # on_off stores ON - OFF differences, which float16 rounds; the others are .npy values
        expected = expected.astype(np.float16).astype(np.float32)
        image, target = records[row.id]
        assert image.dtype == np.float32 and image.shape == expected.shape
        np.testing.assert_array_equal(image, expected)
        assert target == row.target
    assert all(t == -1 for _, t in _read_all(tmp_path / "shards", manifest, "test").values())


def test_png8_is_lossy_but_close(tmp_path):
    data = write_kaggle_folder(tmp_path / "data")
    config = load_config(None, _overrides(**{"records.encoding": '"png8"'}))
    manifest = shard_data(config, data, tmp_path / "shards", progress=False)
    records = _read_all(tmp_path / "shards", manifest, "train")
    row = discover(data, "train").iloc[0]
    expected = get_layout("on3")(load_snippet(row["path"], TINY_SHAPE))
    image, _ = records[row["id"]]
    step = (expected.max() - expected.min()) / 255
    assert not np.array_equal(image, expected)
    assert np.abs(image - expected).max() <= step / 2 + 1e-4


def test_manifest_names_counts_and_checksums(tmp_path):
    data = write_kaggle_folder(tmp_path / "data")
    config = load_config(None, _overrides())
    manifest = shard_data(config, data, tmp_path / "shards", progress=False)
    assert manifest == json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["layout"] == "on3" and manifest["image_shape"] == [16, 32, 3]
    train = [s for s in manifest["shards"] if s["split"] == "train"]
    assert len(train) == 3 and sum(s["count"] for s in train) == 12
    assert sum(s["positives"] for s in train) == 4
    for shard in train:
        assert shard["file"].endswith(f"-n{shard['count']}.tfrec")
    index = pd.read_csv(tmp_path / "shards" / "index.csv", dtype={"id": str})
    assert len(index) == 16 and index["id"].is_unique
    load_manifest(tmp_path / "shards", "on3", (16, 32, 3), verify=True)
    with pytest.raises(RecordsError, match="layout 'on3'.*'all6'"):
        load_manifest(tmp_path / "shards", "all6")
    with pytest.raises(RecordsError, match="shape"):
        load_manifest(tmp_path / "shards", "on3", (273, 256, 3))
    victim = tmp_path / "shards" / train[0]["file"]
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(RecordsError, match="checksum"):
        load_manifest(tmp_path / "shards", verify=True)


def test_resume_keeps_finished_shards(tmp_path):
    data = write_kaggle_folder(tmp_path / "data")
    config = load_config(None, _overrides())
    out = tmp_path / "shards"
    manifest = shard_data(config, data, out, progress=False)
    finished = out / manifest["shards"][0]["file"]
    stamp = finished.stat().st_mtime_ns
    (out / manifest["shards"][1]["file"]).unlink()
    (out / "manifest.json").unlink()
    again = shard_data(config, data, out, progress=False)
    assert finished.stat().st_mtime_ns == stamp
    assert again == manifest
    other = load_config(None, _overrides(**{"records.encoding": '"png8"'}))
    with pytest.raises(RecordsError, match="different plan"):
        shard_data(other, data, out, progress=False)


def test_bad_snippet_stops_sharding_unless_skipped(tmp_path):
    from setibl.data.kaggle import DataError

    data = write_kaggle_folder(tmp_path / "data")
    victim = discover(data, "train").iloc[2]
    np.save(victim["path"], np.full(TINY_SHAPE, np.nan, np.float16))
    config = load_config(None, _overrides())
    with pytest.raises(DataError, match=victim["id"]):
        shard_data(config, data, tmp_path / "a", progress=False)
    manifest = shard_data(config, data, tmp_path / "b", skip_bad=True, progress=False)
    assert sum(s["count"] for s in manifest["shards"] if s["split"] == "train") == 11
    dropped = pd.read_csv(tmp_path / "b" / "dropped.csv", dtype={"id": str})
    assert list(dropped["id"]) == [victim["id"]]


def test_too_few_snippets_for_shards():
    table = pd.DataFrame({"id": ["a1", "b2"], "group": ["a", "b"]})
    with pytest.raises(RecordsError, match="2 snippets cannot fill 3 shards"):
        assign_shards(table, 3, seed=0)


def test_spec_image_shape():
    assert ShardSpec("stack", "float16", (6, 16, 32), (0, 2, 4)).image_shape == (96, 32, 1)
    assert ShardSpec("on_off", "png8", (6, 16, 32), (0, 2, 4)).image_shape == (16, 32, 6)


def test_changed_sources_are_never_mixed_with_old_shards(tmp_path):
    data = write_kaggle_folder(tmp_path / "data")
    config = load_config(None, _overrides())
    out = tmp_path / "shards"
    shard_data(config, data, out, progress=False)
    shard_data(config, data, out, progress=False)  # the same sources: reused
    labels = pd.read_csv(data / "train_labels.csv", dtype={"id": str})
    labels.assign(target=1 - labels["target"]).to_csv(data / "train_labels.csv", index=False)
    with pytest.raises(RecordsError, match="different plan"):
        shard_data(config, data, out, progress=False)  # same ids, other labels
    labels.to_csv(data / "train_labels.csv", index=False)
    shard_data(config, data, out, progress=False)
    victim = discover(data, "train").iloc[0]["path"]
    np.save(victim, np.ones(TINY_SHAPE, np.float16))  # same ids and labels, another snippet
    with pytest.raises(RecordsError, match="different plan"):
        shard_data(config, data, out, progress=False)


def test_sharding_removes_half_written_shards(tmp_path):
    data = write_kaggle_folder(tmp_path / "data")
    out = tmp_path / "shards"
    out.mkdir()
    stale = out / ".train-00-of-03-n4.1a2b3c4d.tmp.tfrec"
    stale.write_bytes(b"half a shard")
    shard_data(load_config(None, _overrides()), data, out, progress=False)
    assert not stale.exists() and not list(out.glob(".*"))


def test_records_level_resize_writes_resized_images(tmp_path):
    """records.resize: shards hold the layout's image resized; the manifest says so."""
    data = write_kaggle_folder(tmp_path / "data", n_train=6, n_test=2)
    config = load_config(None, _overrides(**{"records.layout": '"stack_on"'}))
    resized = load_config(
        None, _overrides(**{"records.layout": '"stack_on"', "records.resize": "[24, 40]"})
    )
    plain = shard_data(config, data, tmp_path / "plain", progress=False)
    manifest = shard_data(resized, data, tmp_path / "resized", progress=False)
    assert tuple(plain["image_shape"]) == (48, 32, 1)
    assert tuple(manifest["image_shape"]) == (24, 40, 1) and manifest["resize"] == [24, 40]
    before = _read_all(tmp_path / "plain", plain, "train")
    after = _read_all(tmp_path / "resized", manifest, "train")
    assert set(before) == set(after)
    for ident, (image, _) in after.items():
        assert image.shape == (24, 40, 1)
        # a resize keeps the mean level of the image
        assert image.mean() == pytest.approx(before[ident][0].mean(), abs=0.05)


def test_search_maps_shards_carry_their_search_settings(tmp_path):
    import json

    data = write_kaggle_folder(tmp_path / "data")
    overrides = _overrides(*layout_companions("search_maps"), **{"records.layout": '"search_maps"'})
    manifest = shard_data(load_config(None, overrides), data, tmp_path / "shards", progress=False)
    assert manifest["layout_params"]["edge_channels"] == 64
    assert manifest["layout_params"]["clip_sigma"] == 6.0
    load_manifest(tmp_path / "shards", "search_maps")
    # shards made with other settings (an older version) are refused, not fed to a model
    path = tmp_path / "shards" / "manifest.json"
    changed = {**manifest, "layout_params": {**manifest["layout_params"], "edge_channels": 32}}
    path.write_text(json.dumps(changed))
    with pytest.raises(RecordsError, match="edge_channels 32 -> 64.*shard again"):
        load_manifest(tmp_path / "shards", "search_maps")


def test_shard_command_takes_search_maps_without_a_matching_config(tmp_path):
    from click.testing import CliRunner

    from setibl.cli import cli

    data = write_kaggle_folder(tmp_path / "data")
    args = ["shard", str(data), "--out", str(tmp_path / "shards"), "--layout", "search_maps"]
    for override in _overrides():
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = load_manifest(tmp_path / "shards", "search_maps")
    assert manifest["image_shape"][0] == 2  # S/N and drift rows
