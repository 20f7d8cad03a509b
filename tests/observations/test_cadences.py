"""A cadence is checked whole before a scan starts: each bad input is one DataError naming
the file."""

import shutil
from pathlib import Path

import pytest

from setibl.errors import DataError
from setibl.observations.cadences import check_cadence, read_cadence_list
from setibl.observations.make import Grid, make_cadences

pytest.importorskip("setigen")

GRID = Grid(coarse_channels=2, fine_channels=128, time_steps=16)
ON = (0, 2, 4)


@pytest.fixture(scope="module")
def cadence(tmp_path_factory):
    root = tmp_path_factory.mktemp("cadence")
    for file_format in ("h5", "fil"):
        make_cadences(
            root / file_format,
            1,
            GRID,
            needles=1,
            rfi=1,
            seed=2,
            file_format=file_format,
            drift_max_hz=10.0,
        )
    return root


def _files(cadence, kind="h5"):
    return sorted((cadence / kind).glob("c0000_*"))


def test_a_good_cadence_passes(cadence):
    for kind in ("h5", "fil"):
        headers = check_cadence(_files(cadence, kind), ON, 6)
        assert [h.time_steps for h in headers] == [16] * 6


def test_wrong_file_count(cadence):
    files = _files(cadence)
    with pytest.raises(DataError, match=r"c0000_0_A.h5: 5 files in the cadence, expected 6"):
        check_cadence(files[:5], ON, 6)
    with pytest.raises(DataError, match="ON scans .* do not index 3 files"):
        check_cadence(files[:3], ON)


def test_unreadable_and_truncated_files(cadence, tmp_path):
    files = [shutil.copy(f, tmp_path) for f in _files(cadence)]
    with open(files[3], "r+b") as handle:  # an .h5 file cut short
        handle.truncate(handle.seek(0, 2) // 2)
    with pytest.raises(DataError, match="c0000_3_C.h5: not a readable filterbank"):
        check_cadence(files, ON)
    fil = [shutil.copy(f, tmp_path) for f in _files(cadence, "fil")]
    with open(fil[4], "r+b") as handle:  # a .fil file cut inside a spectrum
        handle.truncate(handle.seek(0, 2) - 100)
    with pytest.raises(DataError, match="c0000_4_A.fil: truncated"):
        check_cadence(fil, ON)
    (tmp_path / "c0000_1_B.fil").write_bytes(b"garbage")
    with pytest.raises(DataError, match="c0000_1_B.fil: not a readable filterbank"):
        check_cadence(fil, ON)


def test_files_out_of_time_order(cadence):
    files = _files(cadence)
    files[1], files[2] = files[2], files[1]
    with pytest.raises(DataError, match="c0000_1_B.h5: starts at MJD .* not after"):
        check_cadence(files, ON)


def test_grids_that_differ(cadence, tmp_path):
    make_cadences(
        tmp_path,
        1,
        Grid(coarse_channels=2, fine_channels=64, time_steps=16),
        1,
        1,
        3,
        drift_max_hz=10.0,
    )
    files = _files(cadence)
    files[5] = tmp_path / "c0000_5_D.h5"
    with pytest.raises(DataError, match="c0000_5_D.h5: not on the cadence's grid: 128 channels"):
        check_cadence(files, ON)


def test_cadence_lists(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("cadence,path\nx,a.h5\nx,/abs/b.h5\ny,c.h5\n")
    assert read_cadence_list(listing) == {
        "x": [tmp_path / "a.h5", Path("/abs/b.h5")],
        "y": [tmp_path / "c.h5"],
    }
    listing.write_text("name,file\nx,a.h5\n")
    with pytest.raises(DataError, match=r"list.csv: missing column\(s\) \['cadence', 'path'\]"):
        read_cadence_list(listing)
