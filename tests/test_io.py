import numpy as np
import pandas as pd
import pytest

from setibl.io import atomic_save_npy, atomic_write_csv, atomic_write_json


def test_npy_bytes_equal_numpy_save(tmp_path):
    for array in (np.random.randn(6, 5, 4).astype(np.float16), np.arange(7, dtype=np.int64)):
        atomic_save_npy(tmp_path / "ours.npy", array, fsync=False)
        np.save(tmp_path / "numpy.npy", array)
        assert (tmp_path / "ours.npy").read_bytes() == (tmp_path / "numpy.npy").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numpy.npy", "ours.npy"]


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "table.csv"
    atomic_write_csv(target, pd.DataFrame({"a": [1]}))

    class Broken(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_csv(target, Broken({"a": [2]}))
    assert target.read_text() == "a\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    atomic_write_json(tmp_path / "x.json", {"b": 1})
    assert (tmp_path / "x.json").read_text().strip() == '{\n  "b": 1\n}'
