"""turboSETI parity of the event filter: the same hit tables through turbo_seti's own
find_events (from .dat files) and through setibl.classical.events give the same events."""

from __future__ import annotations

import numpy as np
import pytest

from setibl.classical.events import EventRules, Hit, find_events

DF_HZ, DT_S, FCH1_MHZ, STEPS = 3.0, 1.0, 6000.0, 16  # channel width, time step, scan length
MAX_DRIFT = 0.5  # channels per step, the search's


def _write_dat(path, scan_hits, mjd) -> None:
    """A turboSETI 2.x .dat file holding ``scan_hits`` (channels -> MHz, ch/step -> Hz/s)."""
    header = [
        "# -------------------------- o --------------------------",
        f"# File ID: {path.stem}.h5 ",
        "# -------------------------- o --------------------------",
        "# Source:TARGET",
        f"# MJD: {mjd:18.12f}\tRA: 0h00m00s\tDEC: 0d00m00s",
        f"# DELTAT: {DT_S:10.6f}\tDELTAF(Hz): {DF_HZ:10.6f}\tmax_drift_rate: "
        f"{MAX_DRIFT * DF_HZ / DT_S:10.6f}\tobs_length: {STEPS * DT_S:10.6f}",
        "# --------------------------",
        "# Top_Hit_# \tDrift_Rate \tSNR \tUncorrected_Frequency \tCorrected_Frequency \tIndex \t"
        "freq_start \tfreq_end \tSEFD \tSEFD_freq \tCoarse_Channel_Number \tFull_number_of_hits \t",
        "# --------------------------",
    ]
    lines = []
    for number, hit in scan_hits:
        freq = FCH1_MHZ + hit.channel * DF_HZ / 1e6
        drift = hit.drift_ch_per_step * DF_HZ / DT_S
        lines.append(
            f"{number:06d}\t{drift:10.6f}\t{hit.snr:10.6f}\t{freq:14.6f}\t{freq:14.6f}\t"
            f"{int(hit.channel)}\t{freq:14.6f}\t{freq:14.6f}\t0.0\t{freq:14.6f}\t0\t1\t"
        )
    path.write_text("\n".join(header + lines) + "\n")


def _turboseti_find_event():
    """turbo_seti's find_event module, loaded from its file: the package's __init__ needs
    pkg_resources, which recent setuptools no longer ship; the module itself does not."""
    import importlib.util

    spec = importlib.util.find_spec("turbo_seti")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("turbo-seti is not installed (dev extra)")
    folder = spec.submodule_search_locations[0]
    location = f"{folder}/find_event/find_event.py"
    module_spec = importlib.util.spec_from_file_location("turboseti_find_event", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _turboseti_events(tmp_path, hits, starts, level, snr_cut):
    find_event = _turboseti_find_event()
    paths, number = [], 0
    for scan in range(6):
        numbered = []
        for hit in (h for h in hits if h.scan == scan):
            number += 1  # unique over the cadence: turboSETI de-duplicates events by it
            numbered.append((number, hit))
        path = tmp_path / f"scan{scan}.dat"
        _write_dat(path, numbered, 60000.0 + starts[scan] * DT_S / 86400.0)
        paths.append(str(path))
    table = find_event.find_events(paths, filter_threshold=level, SNR_cut=snr_cut)
    if table is None:
        return set()
    return {
        (round((f - FCH1_MHZ) * 1e6 / DF_HZ), round(s, 3))
        for f, s in zip(table["Freq"], table["SNR"], strict=True)
    }


def _random_hits(rng, count=40, channels=400):
    hits = []
    for _ in range(count):
        drift = float(rng.choice([0.0, 1.0])) * rng.integers(-8, 9) / (STEPS - 1)
        hits.append(
            Hit(
                int(rng.integers(6)),
                int(rng.integers(channels)),
                drift,
                round(float(rng.uniform(6, 40)), 3),
            )
        )
    return hits


def _event(channel, drift, snr, starts, scans=(0, 2, 4)):
    return [Hit(s, round(channel + drift * starts[s]), drift, snr + s) for s in scans]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", [1, 2, 3])
def test_same_events_as_turboseti(tmp_path, seed, level):
    rng = np.random.default_rng(seed)
    starts = tuple(float(k * (STEPS + 2)) for k in range(6))
    hits = [h for h in _random_hits(rng, channels=3000) if not 1400 < h.channel < 1700]
    hits += _event(1500.0, 3 / (STEPS - 1), 30.0, starts)  # a clean event, all ON scans
    hits += _event(2500.0, -2 / (STEPS - 1), 25.0, starts, scans=(0, 2))  # missing in scan 4
    rules = EventRules(
        snr_threshold=10.0,
        off_snr_threshold=0.0,  # turboSETI's OFF table holds every hit of the OFF files
        on_scans=(0, 2, 4),
        scan_starts=starts,
        veto_window="turboseti",
        max_drift=MAX_DRIFT,
        scan_length=float(STEPS),
        min_drift=1e-9,  # turboSETI drops exactly-zero drifts
    )
    ours = {(int(h.channel), round(h.snr, 3)) for h in find_events(hits, rules, 1 / (STEPS - 1))
            if h.level >= level}  # fmt: skip
    theirs = _turboseti_events(tmp_path, hits, starts, level, snr_cut=10.0)
    assert ours == theirs
    if level == 3:
        assert (1500, 30.0) in ours


def test_narrow_window_keeps_what_the_turboseti_window_vetoes():
    starts = tuple(float(k * 20) for k in range(6))
    needle = _event(100.0, 0.2, 30.0, starts)
    rfi = [Hit(s, 140 + 6 * s, 0.0, 20.0) for s in range(6)]  # wanders 6 channels a scan
    for window, level in (("turboseti", 1), ("narrow", 3)):
        rules = EventRules(
            snr_threshold=10.0,
            scan_starts=starts,
            veto_window=window,
            max_drift=4.0,
            scan_length=16.0,
        )
        flagged = find_events(needle + rfi, rules, 1 / 15)
        assert max(h.level for h in flagged[:3]) == level


def test_vetoed_cadences_rank_by_off_evidence():
    """Among cadences the wide window vetoes, an ON line whose drift recurs in an OFF scan far
    away (RFI that restarts each scan), or that an OFF line of another drift sits a few
    channels from (RFI that wanders), ranks below a line with RFI far from it."""
    from setibl.classical.events import cadence_score

    rules = EventRules(snr_threshold=7.0, off_snr_threshold=8.0, veto_weight=3.0)
    on = Hit(0, 100, 0.05, 40.0)
    cases = {
        "rfi far, other drift": Hit(1, 160, -0.2, 30.0),
        "same drift far away": Hit(1, 160, 0.06, 30.0),
        "other drift, 5 channels away": Hit(1, 105, -0.2, 30.0),
    }
    scores = {}
    for name, off in cases.items():
        events = find_events([on, off], rules, drift_step=1 / 255)
        assert events[0].vetoed and events[0].level == 1  # the wide window vetoes each
        scores[name] = cadence_score(events, rules, 1 / 255)
    margin = 40 - 3 * 30 * np.exp(-60 / 10)
    assert scores["rfi far, other drift"] == pytest.approx((margin / (margin + 10) - 1) / 2)
    assert scores["same drift far away"] == pytest.approx((-50 / 60 - 1) / 2)
    near = 40 - 3 * 30 * np.exp(-5 / 10)
    assert scores["other drift, 5 channels away"] == pytest.approx(
        (near / (abs(near) + 10) - 1) / 2
    )
    assert -1 < scores["same drift far away"] < scores["other drift, 5 channels away"]
    assert scores["other drift, 5 channels away"] < scores["rfi far, other drift"] < 0


def test_same_drift_counts_fully_only_within_its_reach():
    from setibl.classical.events import cadence_score

    on, off = Hit(0, 100, 0.05, 40.0), Hit(1, 160, 0.06, 30.0)  # same drift, 60 channels away
    scores = []
    for reach in (60.0, 30.0):
        rules = EventRules(snr_threshold=7.0, off_snr_threshold=8.0, veto_drift_reach=reach)
        scores.append(cadence_score(find_events([on, off], rules, 1 / 255), rules, 1 / 255))
    beyond = 40 - 3 * 30 * np.exp(-60 / 10)  # out of reach: only closeness counts
    assert scores[0] == pytest.approx((-50 / 60 - 1) / 2)
    assert scores[1] == pytest.approx((beyond / (beyond + 10) - 1) / 2)
