"""Cadences we make: the same scans in every file format, needles in ON scans only and drifting
on through the cadence, RFI in every scan, all listed in needles.csv."""

import h5py
import numpy as np
import pandas as pd
import pytest

from setibl.observations.filterbank import cadence_headers, coarse_blocks
from setibl.observations.make import FORMATS, Grid, make_cadences

pytest.importorskip("setigen")

GRID = Grid(coarse_channels=8, fine_channels=256, time_steps=32)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("made")
    for file_format in FORMATS:
        make_cadences(
            root / file_format,
            1,
            GRID,
            needles=3,
            rfi=3,
            seed=5,
            file_format=file_format,
            drift_max_hz=200.0,
        )
    return root


def _blocks(folder, scans=range(6)):
    paths = sorted(folder.glob("c0000_*"))
    headers = cadence_headers(paths)
    count = GRID.coarse_channels
    return headers, [
        {i: b for i, _, b in coarse_blocks(paths[s], headers[s], count)} for s in scans
    ]


def test_every_format_holds_the_same_scans(made):
    _, h5 = _blocks(made / "h5")
    for other in ("h5-bitshuffle", "fil"):
        _, blocks = _blocks(made / other)
        for scan in range(6):
            for coarse in range(GRID.coarse_channels):
                np.testing.assert_array_equal(blocks[scan][coarse], h5[scan][coarse])
    with h5py.File(next((made / "h5-bitshuffle").glob("*.h5")), "r") as handle:
        assert "32008" in str(handle["data"]._filters)  # bitshuffle, as BL ships files


def test_scans_start_in_order_on_one_grid(made):
    headers, _ = _blocks(made / "h5", scans=[])
    starts = [h.tstart_mjd for h in headers]
    assert all(
        b - a == pytest.approx((GRID.scan_s + GRID.slew_s) / 86400)
        for a, b in zip(starts, starts[1:], strict=False)
    )
    assert headers[0].foff_mhz == pytest.approx(-GRID.df_hz * 1e-6)
    assert headers[0].coarse_channel_count() == GRID.coarse_channels  # nfpc in the .h5 header


def _peak(block, channel):
    """S/N-like height of the time-mean spectrum near ``channel`` and where it peaks."""
    spectrum = block.mean(axis=0)
    low, high = max(0, int(channel) - 3), int(channel) + 4
    local = low + int(np.argmax(spectrum[low:high]))
    return (spectrum[local] - np.median(spectrum)) / spectrum.std(), local


def test_needles_in_on_scans_only_drifting_through_the_cadence_rfi_everywhere(made):
    table = pd.read_csv(made / "h5" / "needles.csv")
    assert sorted(table["kind"]) == ["needle"] * 3 + ["rfi"] * 3
    assert table["coarse_channel"].nunique() == 6  # each alone in its coarse channel
    _, blocks = _blocks(made / "h5")
    for row in table.itertuples():
        local = row.channel - row.coarse_channel * GRID.fine_channels
        for scan in range(6):
            # where the line sits mid-scan: a needle's drift continues across the cadence,
            # RFI starts over in every scan
            elapsed = GRID.scan_s / 2 + (GRID.scan_start_s(scan) if row.kind == "needle" else 0)
            expected = local - row.drift_hz_per_s * elapsed / GRID.df_hz  # channels fall in MHz
            height, at = _peak(blocks[scan][row.coarse_channel], expected)
            if row.kind == "rfi":
                assert height > 5 and abs(at - expected) <= 2, (row, scan)
            elif scan in (0, 2, 4):
                assert height > 5 and abs(at - expected) <= 2, (row, scan, at, expected)
            else:
                assert height < 4.5, (row, scan)


def test_the_same_seed_makes_the_same_files(tmp_path, made):
    make_cadences(tmp_path, 1, GRID, needles=3, rfi=3, seed=5, drift_max_hz=200.0)
    assert (tmp_path / "needles.csv").read_text() == (made / "h5" / "needles.csv").read_text()
    _, ours = _blocks(tmp_path, scans=[3])
    _, theirs = _blocks(made / "h5", scans=[3])
    np.testing.assert_array_equal(ours[0][2], theirs[0][2])
    listing = pd.read_csv(tmp_path / "cadences.csv")
    assert list(listing["path"]) == sorted(p.name for p in tmp_path.glob("c0000_*"))


SMALL = Grid(coarse_channels=3, fine_channels=16, time_steps=4)


def _block(coarse, shape=(4, 16)):
    return coarse, np.full(shape, coarse, np.float32)


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize(
    ("blocks", "said"),
    [
        ([_block(0), _block(1, (4, 8)), _block(2)], r"coarse channel 1 has shape \(4, 8\)"),
        ([_block(0), _block(1, (16, 4)), _block(2)], r"coarse channel 1 has shape \(16, 4\)"),
        ([_block(0), _block(1), _block(1), _block(2)], "coarse channel 1 is given twice"),
        ([_block(0), _block(2)], r"coarse channel\(s\) 1 never given"),
        ([_block(0), _block(1), _block(2), _block(3)], "coarse channel 3 is outside"),
        ([_block(-1), _block(0), _block(1), _block(2)], "coarse channel -1 is outside"),
    ],
)
def test_blocks_off_the_grid_are_refused_naming_the_file_and_leave_none(
    tmp_path, file_format, blocks, said
):
    from setibl.errors import DataError
    from setibl.observations.make import write_blocks

    path = tmp_path / f"scan.{file_format}"
    with pytest.raises(DataError, match=f"^{path}: .*{said}"):
        write_blocks(path, SMALL, 0, iter(blocks), file_format)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


@pytest.mark.parametrize("file_format", FORMATS)
def test_blocks_in_any_order_land_in_their_coarse_channels(tmp_path, file_format):
    from setibl.observations.make import write_blocks

    path = write_blocks(
        tmp_path / f"s.{file_format}", SMALL, 0, [_block(c) for c in (2, 0, 1)], file_format
    )
    got = {c: b for c, _, b in coarse_blocks(path, cadence_headers([path])[0], 3)}
    for coarse in range(3):
        np.testing.assert_array_equal(got[coarse], np.full((4, 16), coarse, np.float32))
