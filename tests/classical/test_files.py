"""De-Doppler search of filterbank files, cross-checked against turboSETI on setigen .h5 files."""

import numpy as np
import pandas as pd
import pytest

from setibl.classical.files import search_file
from setibl.data.kaggle import DataError
from setibl.observations.filterbank import read_header
from tests.conftest import DF_HZ, DT_S, FCH1_MHZ, write_setigen_h5
from tests.conftest import SETIGEN_LINES as SIGNALS

setigen = pytest.importorskip("setigen")
units = pytest.importorskip("astropy.units")

MAX_DRIFT = 0.15  # Hz/s, just under one channel per time step


def _turboseti_hits(path, out_dir, max_drift=MAX_DRIFT) -> pd.DataFrame:
    from setibl.classical.files import turboseti_hits

    return turboseti_hits(path, out_dir, max_drift_hz_per_s=max_drift, snr_threshold=15)


def _assert_same_hits(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Same channels, frequencies and drift rates (turboSETI prints 6 decimals)."""
    np.testing.assert_array_equal(ours["channel"], theirs["channel"])
    np.testing.assert_allclose(ours["frequency_mhz"], theirs["frequency_mhz"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["drift_hz_per_s"], theirs["drift_hz_per_s"], atol=1e-6)


def test_hits_match_turboseti_on_a_setigen_h5_file(tmp_path):
    pytest.importorskip("turbo_seti")
    path = tmp_path / "frame.h5"
    write_setigen_h5(path)
    theirs = _turboseti_hits(path, tmp_path).sort_values("channel").reset_index(drop=True)
    ours = search_file(path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    ours = ours.sort_values("channel").reset_index(drop=True)
    assert len(theirs) == len(SIGNALS) and len(ours) == len(SIGNALS)
    resolution = DF_HZ / (31 * DT_S)  # the drift step of both: one channel over T - 1 steps
    _assert_same_hits(ours, theirs)
    # turboSETI's std drops the 5% tails: its S/N reads higher by a near-constant factor...
    ratio = ours["snr"] / theirs["snr"]
    assert ratio.between(0.6, 0.9).all() and ratio.max() - ratio.min() < 0.05
    # ...and with its noise statistic the S/N values are its own: the tree sums are identical.
    same = search_file(path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15, noise="turboseti")
    same = same.sort_values("channel").reset_index(drop=True)
    np.testing.assert_allclose(same["snr"], theirs["snr"], rtol=1e-4)
    # setigen counts channels up in frequency; the file stores them down (negative foff)
    by_file_channel = {1023 - channel: drift for channel, drift in SIGNALS}
    for row in ours.itertuples():
        want = min(by_file_channel, key=lambda c: abs(c - row.channel))
        assert abs(row.channel - want) <= 2
        # tree paths stray up to a channel from straight lines: the drift lands within 2 steps
        assert row.drift_hz_per_s == pytest.approx(by_file_channel[want], abs=2.5 * resolution)


def test_steep_drifts_match_turboseti_drift_blocks(tmp_path):
    pytest.importorskip("turbo_seti")
    path = tmp_path / "steep.h5"
    steep = [(250, 0.3), (750, -0.45)]  # 2.0 and 2.9 channels per time step
    write_setigen_h5(path, signals=steep)
    theirs = _turboseti_hits(path, tmp_path, max_drift=0.5).sort_values("channel")
    ours = search_file(path, max_drift_hz_per_s=0.5, snr_threshold=15, noise="turboseti")
    ours = ours.sort_values("channel")
    assert len(theirs) == len(ours) == 2
    resolution = DF_HZ / (31 * DT_S)
    _assert_same_hits(ours, theirs)
    np.testing.assert_allclose(ours["snr"], theirs["snr"], rtol=1e-4)
    injected = {1023 - channel: drift for channel, drift in steep}
    for row in ours.itertuples():
        want = min(injected, key=lambda c: abs(c - row.channel))
        assert row.drift_hz_per_s == pytest.approx(injected[want], abs=2.5 * resolution)


def test_header_and_units(tmp_path):
    path = tmp_path / "frame.h5"
    write_setigen_h5(path, time_steps=16, channels=256)
    header = read_header(path)
    assert (header.time_steps, header.channels) == (16, 256)
    assert header.foff_mhz == pytest.approx(-DF_HZ * 1e-6)
    assert header.drift_ch_per_step(-DF_HZ / DT_S) == pytest.approx(1.0)
    with pytest.raises(DataError, match="do not split"):
        search_file(path, max_drift_hz_per_s=0.1, coarse_channels=3)
    steep = search_file(path, max_drift_hz_per_s=0.2)  # beyond one channel per step
    assert len(steep) and steep["drift_hz_per_s"].abs().max() <= 0.2 + 1e-9


def test_coarse_channels_are_searched_separately(tmp_path):
    path = tmp_path / "frame.h5"
    write_setigen_h5(path)
    whole = search_file(path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    split = search_file(path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15, coarse_channels=4)
    assert sorted(split["coarse_channel"]) == sorted(split["channel"] // 256)
    assert sorted(split["channel"]) == sorted(whole["channel"])
    np.testing.assert_allclose(
        split.sort_values("channel")["drift_hz_per_s"],
        whole.sort_values("channel")["drift_hz_per_s"],
    )


def test_fil_and_h5_files_give_the_same_hits(tmp_path):
    from blimpy import Waterfall

    write_setigen_h5(tmp_path / "frame.h5")
    fil = tmp_path / "frame.fil"
    Waterfall(str(tmp_path / "frame.h5")).write_to_fil(str(fil))
    from_h5 = search_file(tmp_path / "frame.h5", max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    from_fil = search_file(fil, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    pd.testing.assert_frame_equal(from_fil, from_h5)


def test_cli_writes_every_hit_of_every_file(tmp_path):
    from click.testing import CliRunner

    from setibl.cli import cli

    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for path in paths:
        write_setigen_h5(path)
    out = tmp_path / "hits.csv"
    args = ["dedoppler-file", *map(str, paths), "--max-drift", str(MAX_DRIFT), "--snr", "15"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    expected = search_file(paths[0], max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    assert list(table.columns) == ["file", *expected.columns]
    assert table["file"].tolist() == [str(paths[0])] * 3 + [str(paths[1])] * 3
    np.testing.assert_allclose(table["snr"][:3], expected["snr"], rtol=1e-6)
    bad = CliRunner().invoke(cli, ["dedoppler-file", str(tmp_path / "none.h5")])
    assert bad.exit_code != 0 and "none.h5: file not found" in bad.output


SCAN_SECONDS = 32 * DT_S + 30.0  # scan plus slew


def _write_cadence(folder, needle_drift=0.02, off_only_scan=1):
    """ABACAD: a needle drifting through the ON scans only, RFI in all six (one still, one
    drifting), and a line in one OFF scan only."""
    paths = []
    for scan in range(6):
        elapsed = scan * SCAN_SECONDS
        lines = [(700, 0.0), (600, -0.03)]  # RFI, continuous over the whole cadence
        if scan in (0, 2, 4):
            lines.append((300, needle_drift))
        if scan == off_only_scan:
            lines.append((150, 0.01))
        paths.append(folder / f"scan{scan}.h5")
        write_setigen_h5(paths[-1], signals=lines, seed=scan, elapsed_s=elapsed)
        _set_tstart(paths[-1], 58000.0 + elapsed / 86400.0)  # save_h5 writes a fixed tstart
    return paths


def _set_tstart(path, mjd):
    import h5py

    with h5py.File(path, "r+") as handle:
        handle["data"].attrs["tstart"] = mjd


def test_cadence_events_keep_the_needle_and_veto_rfi(tmp_path):
    from setibl.classical.files import search_cadence_files

    paths = _write_cadence(tmp_path)
    hits = search_cadence_files(paths, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15)
    needle_mhz = FCH1_MHZ - (1023 - 300) * DF_HZ * 1e-6  # setigen channel 300 at the start
    events = hits[hits["level"] == 3]
    assert sorted(events["scan"]) == [0, 2, 4]
    predicted = needle_mhz + 0.02 * events["scan"] * SCAN_SECONDS * 1e-6
    assert (events["frequency_mhz"] - predicted).abs().max() <= 2.5 * DF_HZ * 1e-6
    assert (events["drift_hz_per_s"] - 0.02).abs().max() <= 2.5 * DF_HZ / (32 * DT_S)
    on_rfi = hits[hits["scan"].isin([0, 2, 4]) & ~hits.index.isin(events.index)]
    assert len(on_rfi) == 6 and on_rfi["vetoed"].all()
    # zero-drift lines fall below turboSETI's min drift (level 0), the drifting one is level 1
    still = on_rfi["drift_hz_per_s"] == 0
    assert (on_rfi["level"][still] == 0).all() and (on_rfi["level"][~still] == 1).all()
    off = hits[hits["scan"].isin([1, 3, 5])]
    assert (off["level"] == 0).all() and not off["vetoed"].any()
    assert len(off[off["scan"] == 1]) == 3  # two RFI lines and the OFF-only line


def test_cadence_files_must_share_one_grid(tmp_path):
    from setibl.classical.files import search_cadence_files

    paths = _write_cadence(tmp_path)
    odd = tmp_path / "odd.h5"
    write_setigen_h5(odd, time_steps=32, channels=512)
    with pytest.raises(DataError, match="odd.h5: not on the cadence's grid: 512 channels"):
        search_cadence_files([*paths[:5], odd])
    with pytest.raises(DataError, match="not in time order"):
        search_cadence_files(paths[::-1])
    with pytest.raises(DataError, match="do not index"):
        search_cadence_files(paths[:3], on_scans=(0, 2, 4))


def test_cadence_cli_writes_events_and_hits(tmp_path):
    from click.testing import CliRunner

    from setibl.cli import cli

    paths = _write_cadence(tmp_path)
    out = tmp_path / "events.csv"
    args = ["dedoppler-cadence", *map(str, paths), "--max-drift", str(MAX_DRIFT), "--snr", "15"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = pd.read_csv(out)
    hits = pd.read_csv(tmp_path / "events.hits.csv")
    assert len(hits) == 3 + 6 + 7 and sorted(events["scan"]) == [0, 2, 4]  # needle, RFI, OFF
    assert events.equals(hits[hits["level"] >= 3].reset_index(drop=True))
    bad = CliRunner().invoke(cli, [*args, "--on", "0,2,9"])
    assert bad.exit_code != 0 and "do not index the 6 files" in bad.output
    bad = CliRunner().invoke(cli, [*args, "--on", "0,two"])
    assert bad.exit_code == 2 and "is not a list like 0,2,4" in bad.output


def test_dc_spike_is_blanked_and_rows_padded_to_a_power_of_two():
    from setibl.classical.files import prepare_block

    block = np.ones((20, 9), np.float32)
    block[:, 4] = 100.0  # DC spike in the centre channel
    prepared = prepare_block(block, "x.h5")
    assert prepared.shape == (32, 9) and (prepared[20:] == 0).all()
    assert (prepared[:20, 4] == 1.0).all()
    assert (prepare_block(block, "x.h5", blank_dc=False)[:20, 4] == 100.0).all()
    with pytest.raises(DataError, match="short.fil: 1 time step"):
        prepare_block(block[:1], "short.fil")


def test_a_file_too_short_to_search_is_named(tmp_path):
    path = tmp_path / "short.h5"
    write_setigen_h5(path, time_steps=1, channels=64)
    with pytest.raises(DataError, match="short.h5: "):  # blimpy refuses it, or our check does
        search_file(path)


def test_files_without_nfpc_are_searched_in_chunks(tmp_path):
    path = tmp_path / "frame.h5"
    write_setigen_h5(path)
    whole = search_file(path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15, blank_dc=False)
    chunked = search_file(
        path, max_drift_hz_per_s=MAX_DRIFT, snr_threshold=15, blank_dc=False, chunk_channels=256
    )
    from setibl.observations.filterbank import coarse_blocks

    widths = [b.shape[1] for _, _, b in coarse_blocks(path, read_header(path), None, 256)]
    assert widths == [256] * (read_header(path).channels // 256)
    # the lines lie away from chunk edges: the same channels and drifts either way
    assert sorted(chunked["channel"]) == sorted(whole["channel"])


def test_a_search_that_can_find_nothing_names_the_file():
    from setibl.classical.files import check_drift_range
    from setibl.observations.filterbank import Header

    mid = Header(1926.0, -2861.02294921875e-6, 1.073741824, 279, 1024)  # ~5.2 Hz/s a step
    with pytest.raises(DataError, match=r"mid.h5: max drift 4 Hz/s is below one drift step"):
        check_drift_range("mid.h5", mid, 4.0, 1e-5)
    check_drift_range("mid.h5", mid, 4.0, 0.0)  # zero drift kept: something can be found
    check_drift_range("mid.h5", mid, 40.0, 1e-5)  # drifting lines searched
    high = Header(6000.0, -DF_HZ * 1e-6, DT_S, 16, 2**20)  # ~0.01 Hz/s a step
    check_drift_range("high.h5", high, 4.0, 1e-5)


@pytest.mark.parametrize("odd_coarse", [1, 4])
def test_cadence_files_split_into_other_coarse_channels_are_named(tmp_path, odd_coarse):
    """Same channels, but scan 3's ``nfpc`` splits them into fewer or more coarse channels."""
    from setibl.classical.files import search_cadence_files
    from setibl.observations.make import Grid, write_blocks

    usual = Grid(coarse_channels=2, fine_channels=64, time_steps=16)
    rng = np.random.default_rng(3)
    paths = []
    for scan in range(6):
        grid = usual if scan != 3 else Grid(odd_coarse, 128 // odd_coarse, time_steps=16)
        blocks = (
            (c, rng.standard_normal((16, grid.fine_channels)).astype(np.float32))
            for c in range(grid.coarse_channels)
        )
        paths.append(write_blocks(tmp_path / f"s{scan}.h5", grid, scan, blocks, "h5"))
    width = 128 // odd_coarse
    with pytest.raises(DataError, match=f"s3.h5: coarse channel 0 of {width} channels .*s0.h5"):
        search_cadence_files(paths, min_drift_hz_per_s=0.0)


def _blocks(count: int):
    return iter([(c, c * 64, np.zeros((16, 64), np.float32)) for c in range(count)])


@pytest.mark.parametrize(
    ("counts", "named", "said"),
    [
        ((2, 2, 1), "c.fil", "end before those of a.fil"),
        ((2, 3, 3), "b.fil", "beyond the last of a.fil"),
    ],
)
def test_cadence_files_whose_blocks_end_apart_are_named(counts, named, said):
    from setibl.classical.files import _search_next_blocks

    streams = [_blocks(count) for count in counts]
    paths = ["a.fil", "b.fil", "c.fil"]
    with pytest.raises(DataError, match=f"^{named}: .*{said}"):
        while _search_next_blocks(streams, paths, True, 1.0, 0, "mad"):
            pass
    streams = [_blocks(2) for _ in paths]
    assert [
        s[0] for s in iter(lambda: _search_next_blocks(streams, paths, True, 1.0, 0, "mad"), None)
    ] == [0, 1]  # files that end together end the search
