import os
import stat

import numpy as np
import pandas as pd
import pytest

from setibl.io import (
    atomic_path,
    atomic_save_npy,
    atomic_write_csv,
    atomic_write_json,
    remove_temporaries,
)


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


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_honour_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        paths = [
            atomic_save_npy(tmp_path / "a.npy", np.zeros(3), fsync=False),
            atomic_write_csv(tmp_path / "b.csv", pd.DataFrame({"a": [1]})),
            atomic_write_json(tmp_path / "c.json", {"a": 1}),
        ]
        with atomic_path(tmp_path / "d.tfrec") as tmp:
            tmp.write_bytes(b"x")
        paths.append(tmp_path / "d.tfrec")
    finally:
        os.umask(previous)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name


def test_stale_temporaries_are_removed(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "shard.tfrec") as tmp:
        kept = tmp.read_bytes()  # a writer killed mid-way leaves nothing either
        raise KeyboardInterrupt
    assert kept == b"" and list(tmp_path.iterdir()) == []
    stale = tmp_path / ".shard.1a2b3c4d.tmp.tfrec"  # what SIGKILL leaves behind
    stale.write_bytes(b"half")
    (tmp_path / "train-00.tfrec").write_bytes(b"whole")
    assert remove_temporaries(tmp_path) == [stale]
    assert [p.name for p in tmp_path.iterdir()] == ["train-00.tfrec"]
