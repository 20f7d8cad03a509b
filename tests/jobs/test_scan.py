"""setibl scan: needles found and RFI rejected on made cadences, a run's models scoring every
window, work resumed after a crash or a kill without losing or repeating a unit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from setibl.errors import DataError, OutputExistsError
from setibl.observations.make import Grid, make_cadences
from tests.jobs.conftest import GRID, cadences_of

pytest.importorskip("setigen")

SEARCH = ["observations.max_drift_hz=40.0", 'scan.backend="serial"']


def _scan(made, out, *overrides, run=None, cadences=None):
    from setibl.config import load_config
    from setibl.jobs.scan import scan_workflow

    config = load_config(None, [*SEARCH, *overrides])
    return scan_workflow(config, cadences or cadences_of(made), out, run, progress=False)


def _near(table, row, channels):
    same = table[table["cadence"] == row.cadence]
    return same[(same["channel"] - row.channel).abs() <= channels]


def test_every_needle_ranks_high_and_no_rfi_is_reported(made, tmp_path):
    candidates = pd.read_csv(_scan(made, tmp_path / "out"))
    truth = pd.read_csv(made / "needles.csv")
    for row in truth.itertuples():
        found = _near(candidates, row, 2)
        if row.kind == "rfi":
            assert found.empty, f"RFI reported: {row}"
        else:
            assert len(found) == 1, f"needle missed or split: {row}"
            hit = found.iloc[0]
            assert hit["level"] == 3 and hit["on_scans"] == "0 2 4"
            assert abs(hit["frequency_mhz"] - row.frequency_mhz) <= 2 * GRID.df_hz * 1e-6
            step_hz = GRID.df_hz / (GRID.time_steps - 1) / GRID.dt_s  # one drift step
            assert abs(hit["drift_hz_per_s"] - row.drift_hz_per_s) <= step_hz
    assert list(candidates["rank"]) == list(range(1, len(candidates) + 1))
    units = pd.read_csv(tmp_path / "out" / "results" / "units.csv")
    assert len(units) == 2 * 16 // 4 and units["unit"].is_unique


def test_every_file_format_gives_the_same_candidates(tmp_path):
    found = []
    for file_format in ("h5", "h5-bitshuffle", "fil"):
        grid = Grid(coarse_channels=4, fine_channels=256, time_steps=32)
        folder = make_cadences(
            tmp_path / file_format, 1, grid, 2, 2, 6, file_format=file_format, drift_max_hz=20.0
        )
        # .fil headers carry no nfpc: the coarse channel count comes from the config
        table = pd.read_csv(
            _scan(folder, tmp_path / f"out-{file_format}", "observations.coarse_channels=4")
        )
        found.append(table.drop(columns="event"))
        assert len(table) == 2
    pd.testing.assert_frame_equal(found[1], found[0])
    pd.testing.assert_frame_equal(found[2], found[0])


def test_a_crashed_scan_resumes_without_losing_or_repeating_units(made, tmp_path, monkeypatch):
    import setibl.jobs.scan as scan

    clean = pd.read_csv(_scan(made, tmp_path / "clean", "scan.coarse_per_unit=2"))
    real, calls = scan.scan_unit, []

    def crash_on_the_fifth(unit):
        calls.append(unit.key)
        if len(calls) == 5:
            raise RuntimeError("node lost")
        return real(unit)

    monkeypatch.setattr(scan, "scan_unit", crash_on_the_fifth)
    with pytest.raises(RuntimeError, match="node lost"):
        _scan(made, tmp_path / "out", "scan.coarse_per_unit=2")
    monkeypatch.setattr(scan, "scan_unit", real)
    done = pd.read_csv(tmp_path / "out" / "results" / "units.csv")
    assert len(done) == 4
    resumed = pd.read_csv(_scan(made, tmp_path / "out", "scan.coarse_per_unit=2"))
    units = pd.read_csv(tmp_path / "out" / "results" / "units.csv")
    assert sorted(units["unit"]) == sorted(
        pd.read_csv(tmp_path / "clean/results/units.csv")["unit"]
    )
    assert units["unit"].is_unique and len(units) == 16
    pd.testing.assert_frame_equal(resumed, clean)
    with pytest.raises(OutputExistsError, match="another scan"):
        _scan(made, tmp_path / "out", "scan.coarse_per_unit=4")


def test_a_killed_scan_resumes_and_every_unit_appears_once(made, tmp_path):
    out = tmp_path / "out"
    files = [str(p) for p in cadences_of(made)["c0000"]]
    command = [
        sys.executable,
        "-m",
        "setibl",
        "scan",
        *files,
        "--out",
        str(out),
        "--backend",
        "serial",
        "--set",
        "scan.coarse_per_unit=1",
        "--set",
        "observations.max_drift_hz=40.0",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    done = out / "results" / "done.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if done.is_file() and done.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = done.read_bytes().count(b"\n")
    assert 2 <= finished < 16, "the scan must be killed part-way for this test to mean anything"
    subprocess.run(command, env=env, check=True, capture_output=True)
    units = pd.read_csv(out / "results" / "units.csv")
    assert sorted(units["unit"]) == sorted(f"cadence:{c}-{c}" for c in range(16))
    records = [json.loads(line) for line in done.read_text().splitlines()]
    assert len(records) == 16 and len({r["unit"] for r in records}) == 16
    hits = pd.read_csv(out / "results" / "hits.csv")
    assert not hits.duplicated().any()
    candidates = pd.read_csv(out / "candidates.csv")
    truth = pd.read_csv(made / "needles.csv").query("cadence == 'c0000' and kind == 'needle'")
    assert len(candidates) == len(truth)


def test_a_run_scores_every_window_of_the_cadence(made, tiny_run, tmp_path):
    # the tiny run takes cadences of 6 x 32 time steps x 64 channels
    out = _scan(
        made,
        tmp_path / "out",
        "scan.window_overlap=16",
        run=tiny_run,
        cadences={"c0000": cadences_of(made)["c0000"]},
    )
    windows = pd.read_csv(tmp_path / "out" / "results" / "windows.csv")
    per_coarse = len({*range(0, 1024 - 64 + 1, 48), 1024 - 64})  # the last flush with the end
    assert len(windows) == 16 * per_coarse and windows["window"].is_unique
    assert windows["cnn_score"].between(0, 1).all()
    candidates = pd.read_csv(out)
    events = candidates[candidates["level"] == 3]
    assert len(events) == 3 and events["cnn_score"].notna().all()
    for event in events.itertuples():
        assert event.window <= event.channel < event.window + 64
    # the same scores from two worker processes, each loading the models once
    again = _scan(
        made,
        tmp_path / "again",
        "scan.window_overlap=16",
        'scan.backend="processes"',
        run=tiny_run,
        cadences={"c0000": cadences_of(made)["c0000"]},
    )
    again_windows = pd.read_csv(tmp_path / "again" / "results" / "windows.csv")
    np.testing.assert_allclose(again_windows["cnn_score"], windows["cnn_score"], atol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(again), candidates, atol=1e-5)


def test_a_model_whose_geometry_does_not_fit_is_named(made, tiny_run, tmp_path):
    short = make_cadences(
        tmp_path / "short",
        1,
        Grid(coarse_channels=2, fine_channels=128, time_steps=16),
        1,
        1,
        1,
        drift_max_hz=5.0,
    )
    files = sorted(short.glob("c0000_*"))
    with pytest.raises(DataError, match="c0000_0_A.h5: 16 time steps, the model needs at least 32"):
        _scan(made, tmp_path / "out", run=tiny_run, cadences={"x": files})
    with pytest.raises(DataError, match="5 files in the cadence, expected 6"):
        _scan(made, tmp_path / "out", run=tiny_run, cadences={"x": files[:5]})


def test_ray_gives_the_same_candidates(made, tmp_path):
    pytest.importorskip("ray")
    serial = pd.read_csv(_scan(made, tmp_path / "serial"))
    ray = pd.read_csv(_scan(made, tmp_path / "ray", 'scan.backend="ray"'))
    pd.testing.assert_frame_equal(ray, serial)


def test_turboseti_reads_our_dat_files_and_plots_our_events(made, tmp_path):
    pytest.importorskip("turbo_seti")
    import matplotlib

    matplotlib.use("Agg")
    from turbo_seti.find_event.find_event import read_dat
    from turbo_seti.find_event.plot_event_pipeline import plot_event_pipeline

    files = cadences_of(made)["c0000"]
    _scan(made, tmp_path / "out", cadences={"c0000": files})
    folder = tmp_path / "out" / "turboseti"
    hits = pd.read_csv(tmp_path / "out" / "results" / "hits.csv")
    for scan, path in enumerate(files):
        theirs = read_dat(str(folder / "c0000" / f"{path.stem}.dat"))
        ours = hits[hits["scan"] == scan].sort_values("frequency_mhz", ascending=False)
        assert len(theirs) == len(ours) > 0
        np.testing.assert_allclose(theirs["Freq"], ours["frequency_mhz"], atol=1e-6)
        np.testing.assert_allclose(theirs["DriftRate"], ours["drift_hz_per_s"], atol=1e-6)
        np.testing.assert_allclose(theirs["SNR"], ours["snr"], atol=1e-5)
        assert theirs["FileID"].iloc[0] == f"{path.stem}.h5"
        start = GRID.tstart_mjd + GRID.scan_start_s(scan) / 86400
        assert float(theirs["MJD"].iloc[0]) == pytest.approx(start, abs=1e-9)
    table = pd.read_csv(folder / "c0000_events_f3_snr10.csv")
    assert set(table["status"]) == {"on_table_1", "on_table_2", "on_table_3"}
    assert table["Hit_ID"].nunique() == 3 and (table["in_n_ons"] == 3).all()
    # plot_event_pipeline draws at least 500 Hz around an event: high-resolution files
    high = Grid(
        coarse_channels=2,
        fine_channels=1024,
        time_steps=16,
        df_hz=2.7939677238464355,
        dt_s=18.253611008,
        fch1_mhz=6095.214842353016,
    )
    make_cadences(tmp_path / "high", 1, high, needles=2, rfi=0, seed=1, drift_max_hz=0.1)
    files = sorted((tmp_path / "high").glob("c0000_*"))
    _scan(made, tmp_path / "high-out", "observations.max_drift_hz=0.2", cadences={"hi": files})
    folder = tmp_path / "high-out" / "turboseti"
    events = folder / "hi_events_f3_snr10.csv"
    assert pd.read_csv(events)["Hit_ID"].nunique() == 2
    plots = tmp_path / "plots"
    plots.mkdir()
    plot_event_pipeline(str(events), str(folder / "hi.lst"), plot_dir=str(plots) + "/")
    assert len(list(plots.glob("*.png"))) >= 2  # pictures of both events


def _listed(tmp_path, cadences: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """``cadences`` written to a cadence,path list and read back as scan --cadences reads it."""
    from setibl.observations.cadences import read_cadence_list

    rows = [(name, str(path)) for name, paths in cadences.items() for path in paths]
    listing = tmp_path / "list.csv"
    pd.DataFrame(rows, columns=["cadence", "path"]).to_csv(listing, index=False)
    return read_cadence_list(listing)


def test_numeric_cadence_names_keep_their_names_in_every_output(made, tmp_path):
    found = cadences_of(made)
    cadences = _listed(tmp_path, {"1": found["c0000"], "007": found["c0001"]})
    assert list(cadences) == ["1", "007"]
    out = tmp_path / "out"
    candidates = pd.read_csv(_scan(made, out, cadences=cadences), dtype={"cadence": str})
    assert set(candidates["cadence"]) == {"1", "007"}
    for name in ("1", "007"):
        events = pd.read_csv(out / "turboseti" / f"{name}_events_f3_snr10.csv")
        assert events["event"].nunique() == 3, name  # the 3 needles of each cadence
        dat = (out / "turboseti" / name / f"{cadences[name][0].stem}.dat").read_text()
        assert dat.count("\n") > 9, name  # hits below the header
    assert (out / "report.html").is_file()


def test_other_search_settings_or_a_rewritten_file_is_another_scan(made, tmp_path):
    files = {"c0000": cadences_of(made)["c0000"]}
    out = tmp_path / "out"
    _scan(made, out, "scan.coarse_per_unit=16", cadences=files)
    _scan(made, out, "scan.coarse_per_unit=16", cadences=files)  # the same scan: resumed
    with pytest.raises(OutputExistsError, match="another scan"):
        _scan(made, out, "scan.coarse_per_unit=16", "scan.min_drift_hz=1.0", cadences=files)
    copies = tmp_path / "copies"
    copies.mkdir()
    moved = []
    for path in files["c0000"]:
        moved.append(copies / path.name)
        moved[-1].write_bytes(path.read_bytes())
    out = tmp_path / "copied"
    _scan(made, out, "scan.coarse_per_unit=16", cadences={"c0000": moved})
    stat = moved[2].stat()
    os.utime(moved[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size, rewritten
    with pytest.raises(OutputExistsError, match="another scan"):
        _scan(made, out, "scan.coarse_per_unit=16", cadences={"c0000": moved})


def test_a_search_of_zero_drift_only_is_named_with_the_key_to_raise(made, tmp_path):
    from setibl.config import load_config
    from setibl.jobs.scan import scan_workflow

    files = {"c0000": cadences_of(made)["c0000"]}
    for drift, warned in ((4.0, True), (90.0, False)):
        lines = []
        config = load_config(
            None,
            [*SEARCH, f"observations.max_drift_hz={drift}", "scan.coarse_per_unit=16"],
        )
        scan_workflow(config, files, tmp_path / f"out{drift}", progress=False, log=lines.append)
        # one drift step: a channel (2.86 kHz) over the 63 steps of a 64-row scan of 1.07 s
        assert len(lines) == int(warned)
        if warned:
            assert "c0000_0_A.h5" in lines[0] and "observations.max_drift_hz" in lines[0]
            assert f"{GRID.df_hz / 63 / GRID.dt_s:.3g} Hz/s" in lines[0]


def test_field_formats_name_each_file_and_hit_as_turboseti_does(tmp_path):
    grid = Grid(coarse_channels=4, fine_channels=256, time_steps=40)  # padded to 64 rows
    folder = make_cadences(tmp_path / "data", 2, grid, 2, 1, 8, file_format="fil")
    found = cadences_of(folder)
    for name, source in (("a", "c0000"), ("b", "c0001")):  # two cadences, the same file names
        (tmp_path / name).mkdir()
        for path in found[source]:
            (tmp_path / name / path.name.replace(source, "obs")).write_bytes(path.read_bytes())
    cadences = {n: sorted((tmp_path / n).glob("obs_*.fil")) for n in ("a", "b")}
    out = tmp_path / "out"
    _scan(folder, out, "observations.coarse_channels=4", cadences=cadences)
    hits = pd.read_csv(out / "results" / "hits.csv", dtype={"cadence": str})
    dats = {}
    for name, paths in cadences.items():
        for scan, path in enumerate(paths):
            dat = out / "turboseti" / name / f"{path.stem}.dat"
            text = dat.read_text()
            assert f"# File ID: {path.name} " in text
            assert f"obs_length: {64 * grid.dt_s:10.6f}" in text
            dats[name, scan] = text
            rows = pd.read_csv(dat, sep="\t", comment="#", header=None)
            ours = hits[(hits["cadence"] == name) & (hits["scan"] == scan)]
            assert len(rows) == len(ours) > 0
            drift = rows[1].to_numpy()
            length = 64 * grid.dt_s  # turboSETI's obs_length: the padded rows searched
            np.testing.assert_allclose(rows[7] - rows[6], drift * length * 1e-6, atol=2e-6)
        listed = (out / "turboseti" / name / "dats.lst").read_text().split()
        assert [Path(p).name for p in listed] == [f"{p.stem}.dat" for p in paths]
        events = pd.read_csv(out / "turboseti" / f"{name}_events_f3_snr10.csv")
        assert len(events) == 2 * 3  # 2 needles in 3 ON scans
        for event in events.itertuples():
            scan = paths.index(tmp_path / name / event.FileID)
            rows = pd.read_csv(
                out / "turboseti" / name / f"{Path(event.FileID).stem}.dat",
                sep="\t",
                comment="#",
                header=None,
            )
            row = rows[rows[0] == event.TopHitNum].iloc[0]  # the hit's own row in its .dat
            assert row[3] == pytest.approx(event.Freq, abs=1e-6), scan
            assert row[1] == pytest.approx(event.DriftRate, abs=1e-6)
            assert event.obs_length == pytest.approx(64 * grid.dt_s)
    assert dats["a", 0] != dats["b", 0]  # neither cadence's .dat overwrote the other's


def test_results_files_honour_the_umask(tmp_path):
    from setibl.jobs.results_log import ResultsLog

    for umask, mode in ((0o022, 0o644), (0o002, 0o664)):
        previous = os.umask(umask)
        try:
            log = ResultsLog(tmp_path / f"r{umask:o}", {"t": ["a", "b"]}, {"x": 1})
            log.append("u", {"t": [{"a": 1, "b": "x"}]})
        finally:
            os.umask(previous)
        assert log.path("t").stat().st_mode & 0o777 == mode
        assert (log.folder / "done.jsonl").stat().st_mode & 0o777 == mode


def test_an_empty_list_of_cadences_is_an_error(tmp_path):
    from setibl.config import load_config
    from setibl.jobs.scan import scan_workflow

    with pytest.raises(DataError, match="no cadence to scan"):
        scan_workflow(load_config(None, SEARCH), {}, tmp_path / "out", progress=False)


def test_only_units_that_score_windows_ask_ray_for_gpus():
    from setibl.config import load_config
    from setibl.jobs.scan import scan_executor

    config = load_config(None, ['scan.backend="ray"', "scan.gpus_per_unit=0.5"])
    lines = []
    classical = scan_executor(config.scan, None, lines.append)
    assert "num_gpus" not in classical.ray_options() and classical.initializer is None
    assert len(lines) == 1 and "scan.gpus_per_unit" in lines[0]  # said once, not silently
    learned = scan_executor(config.scan, "/runs/r", lines.append)
    assert learned.ray_options()["num_gpus"] == 0.5 and learned.initializer is not None
    assert "scan.gpus_per_unit" in learned.gpus_name  # Ray's refusals name the key to change
    assert len(lines) == 1
    default = scan_executor(load_config(None, ['scan.backend="ray"']).scan, "/runs/r", print)
    assert "num_gpus" not in default.ray_options()  # 0 by default: CPU
