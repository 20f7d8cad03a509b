from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from setibl.classical.dedoppler import (
    EventRules,
    cadence_prediction,
    score_cadence,
    search_cadences,
)
from setibl.config import DedopplerConfig, SynthConfig
from setibl.data.rendering import CadenceGeometry, add_signal, make_noise, normalise_scans
from tests.conftest import add_track, noise_cadence

GEOMETRY = CadenceGeometry(height=64, width=128, gap_steps=4)
NOISE = SynthConfig(bandpass_ripple=0.1)
RULES = EventRules(
    scan_period=GEOMETRY.height + GEOMETRY.gap_steps,
    scan_length=GEOMETRY.height,
    snr_threshold=10.0,
)


def _cadence(signals, seed=0):
    data = make_noise(np.random.default_rng(seed), GEOMETRY, NOISE)
    for signal in signals:
        base = {
            "role": "needle",
            "profile": "gaussian",
            "width_ch": 2.0,
            "amplitude_ch": 0.0,
            "period_steps": 0.0,
            "phase": 0.0,
        }
        add_signal(data, {**base, **signal}, GEOMETRY, NOISE, GEOMETRY.height)
    return normalise_scans(data)


def _needle(channel, drift, scans=(0, 2, 4), snr=40.0):
    return {
        "kind": "constant",
        "f_start_channel": channel,
        "drift_ch_per_step": drift,
        "snr": snr,
        "enabled_scans": list(scans),
    }


@pytest.mark.parametrize(("channel", "drift"), [(40.0, 0.3), (90.0, -0.45), (60.0, 0.0)])
def test_top_hit_lands_on_the_injected_line(channel, drift):
    cadence = _cadence([_needle(channel, drift, scans=(0,))])
    search = search_cadences(cadence[None])[0]
    best = int(np.argmax(search.snr[0]))
    assert abs(best - channel) <= 1
    assert abs(search.drift[0, best] - drift) <= search.drift_step + 1e-9
    assert search.snr[0, best] > 15


@pytest.mark.parametrize("drift", [0.2, -0.1, 0.0])
def test_time_binned_search_finds_the_line(drift):
    cadence = _cadence([_needle(70.0, drift, scans=(0,))])
    search = search_cadences(cadence[None], max_drift=0.25, time_binning=4)[0]
    best = int(np.argmax(search.snr[0]))
    assert abs(best - 70) <= 2
    assert abs(search.drift[0, best] - drift) <= 2 * search.drift_step + 1e-9
    assert search.drift_step == pytest.approx(1 / (4 * 15))  # 64 rows -> 16 binned rows
    with pytest.raises(ValueError, match="1 / time_binning"):
        search_cadences(cadence[None], max_drift=0.5, time_binning=4)


def test_needle_in_all_three_on_scans_passes_level_three():
    cadence = _cadence([_needle(50.0, 0.05)])
    result = score_cadence(search_cadences(cadence[None])[0], RULES)
    assert result.level == 3 and result.score > 10
    on_hits = [h for h in result.hits if h.scan in (0, 2, 4) and h.snr >= 10]
    assert {h.scan for h in on_hits} == {0, 2, 4}
    assert not any(h.vetoed for h in on_hits)
    assert all(h.level == 3 for h in on_hits)


@pytest.mark.parametrize("drift", [0.0, 0.04])
def test_rfi_in_all_six_scans_is_vetoed(drift):
    cadence = _cadence([_needle(64.0, drift, scans=range(6))], seed=3)
    result = score_cadence(search_cadences(cadence[None])[0], RULES)
    assert result.level == 1  # ON hits pass the S/N cut, all vetoed by OFF hits
    strong = [h for h in result.hits if h.scan in (0, 2, 4) and h.snr >= RULES.snr_threshold]
    assert len(strong) == 3 and all(h.vetoed and h.level == 1 for h in strong)
    needle = score_cadence(
        search_cadences(_cadence([_needle(64.0, drift)], seed=3)[None])[0], RULES
    )
    assert needle.score > result.score + 10


def test_uneven_scan_starts_move_the_predicted_places():
    rules = EventRules(scan_starts=(0.0, 100.0, 250.0, 300.0, 500.0, 520.0))
    assert rules.elapsed(0, 2) == 250.0 and rules.elapsed(4, 1) == -400.0
    assert EventRules(scan_period=283).elapsed(1, 3) == 566.0


def test_drift_rates_parse_in_both_units():
    from setibl.classical.dedoppler import parse_drift

    assert parse_drift("0.5", 2.0, 1.0) == 0.5 and parse_drift(" 0.5 ch", 2.0, 1.0) == 0.5
    assert parse_drift("1Hz/s", 2.0, 1.0) == 0.5 and parse_drift("3hz", 2.0, 0.5) == 0.75
    with pytest.raises(ValueError, match="expected a number"):
        parse_drift("fast", 2.0, 1.0)


def test_prediction_orders_by_level_then_score():
    assert cadence_prediction(3, -5.0, 3) > cadence_prediction(2, 50.0, 3)
    assert cadence_prediction(2, 50.0, 0) > cadence_prediction(3, -5.0, 0)
    assert 0.0 <= cadence_prediction(0, -1e9, 3) <= cadence_prediction(3, 1e9, 3) <= 1.0


@pytest.mark.parametrize("level", [0, 3])
def test_prediction_keeps_strong_cadences_apart(level):
    scores = [40.0, 80.0, 150.0, 300.0, 1000.0, 1001.0]
    predictions = [cadence_prediction(3, s, level) for s in scores]
    assert all(b > a for a, b in zip(predictions, predictions[1:], strict=False))
    assert max(predictions) < 1.0


def _wandering(shifts, scans=range(6), snr=60.0, seed=5):
    """A still line that jumps by ``shifts[k]`` channels at the start of scan k."""
    lines = [_needle(30.0 + sum(shifts[: k + 1]), 0.0, scans=(k,), snr=snr) for k in scans]
    return _cadence(lines, seed=seed)


def test_wandering_rfi_is_vetoed_by_the_turboseti_window_only():
    cadence = _wandering([0, 9, -14, 20, 11, -7])
    search = search_cadences(cadence[None])[0]
    wide = score_cadence(search, RULES)
    narrow = score_cadence(search, replace(RULES, veto_window="narrow"))
    on = [h for h in wide.hits if h.scan in (0, 2, 4) and h.snr > 10]
    assert len(on) == 3 and all(h.vetoed for h in on) and wide.level == 1
    assert narrow.level >= 2  # the line moved out of the narrow window
    assert wide.score < 0 < narrow.score


def test_score_options_rank_a_needle_in_more_on_scans_higher():
    one = search_cadences(_cadence([_needle(50.0, 0.05, scans=(0,))], seed=7)[None])[0]
    three = search_cadences(_cadence([_needle(50.0, 0.05)], seed=7)[None])[0]
    for option in ("on_scans", "combined"):
        rules = replace(RULES, score=option)
        assert score_cadence(three, rules).score > score_cadence(one, rules).score + 0.5
    snr = score_cadence(three, RULES).score
    assert score_cadence(three, replace(RULES, score="combined")).score > 1.5 * snr


def test_binned_search_rejects_drifts_beyond_one_channel_per_bin():
    with pytest.raises(ValueError, match="max_drift"):
        search_cadences(np.zeros((1, 6, 64, 32), np.float32), max_drift=0.6, time_binning=2)


def test_steep_needle_beyond_one_channel_per_step():
    cadence = _cadence([_needle(10.0, 1.5, scans=(0,))])
    search = search_cadences(cadence[None], max_drift=2.0)[0]
    channel = int(np.argmax(search.snr[0]))
    assert abs(channel - 10) <= 1 and abs(search.drift[0, channel] - 1.5) <= 2 / 63


def test_cli_workflow_writes_predictions_and_hits(tiny_data, tmp_path):
    from setibl.jobs.classical import dedoppler_workflow
    from tests.conftest import tiny_config

    out, hits = dedoppler_workflow(
        tiny_config(),
        tiny_data,
        "train",
        tmp_path / "dd.csv",
        filter_level=0,
        workers=2,
        chunk=8,
        progress=False,
    )
    predictions = pd.read_csv(out, dtype={"id": str})
    labels = pd.read_csv(tiny_data / "train_labels.csv", dtype={"id": str})
    assert list(predictions.columns) == ["id", "target"]
    assert sorted(predictions["id"]) == sorted(labels["id"])
    table = pd.read_csv(hits, dtype={"id": str})
    columns = ["id", "scan", "channel", "drift_ch_per_step", "drift_hz_per_s", "snr", "vetoed"]
    assert list(table.columns) == [*columns, "level"]
    np.testing.assert_allclose(
        table["drift_hz_per_s"], table["drift_ch_per_step"] * 2.7939677238464355 / 1.073741824
    )
    merged = labels.merge(predictions, on="id", suffixes=("", "_pred"))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(merged["target"], merged["target_pred"]) > 0.7


def test_cli_max_drift_in_hz_per_s_bounds_every_hit(tiny_data, tmp_path):
    from click.testing import CliRunner

    from setibl.cli import cli
    from tests.conftest import TINY_RUN_OVERRIDES

    sets = [part for item in TINY_RUN_OVERRIDES for part in ("--set", item)]
    out = tmp_path / "dd.csv"
    args = ["dedoppler", str(tiny_data), "--split", "train", "--out", str(out), *sets]
    result = CliRunner().invoke(cli, [*args, "--max-drift", "0.5Hz/s"])
    assert result.exit_code == 0, result.output
    hits = pd.read_csv(tmp_path / "dd.hits.csv")
    assert len(hits) and hits["drift_hz_per_s"].abs().max() <= 0.5 + 1e-9
    assert hits["drift_hz_per_s"].abs().max() > 0.3  # the wider default would allow 2.6
    bad = CliRunner().invoke(cli, [*args, "--max-drift", "fast"])
    assert bad.exit_code == 2 and "expected a number" in bad.output


def _crossing_tracks(search_scan, channel, drift, spread=40):
    """Best S/N over start channels within +-spread of a line whose drift differs by at least
    0.3 channel per step: tracks that cross the line rather than follow it."""
    lo, hi = int(channel) - spread, int(channel) + spread
    snr, found = search_scan.snr[0, lo:hi], search_scan.drift[0, lo:hi]
    return float(snr[np.abs(found - drift) >= 0.3].max())


def test_clipping_stops_a_strong_line_lending_snr_to_crossing_tracks():
    cadence = _cadence([_needle(64.0, 0.0, scans=(0,), snr=400.0)])
    plain = search_cadences(cadence[None])[0]
    clipped = search_cadences(cadence[None], clip_sigma=4.0)[0]
    assert _crossing_tracks(plain, 64.0, 0.0) > 1.5 * _crossing_tracks(clipped, 64.0, 0.0)
    assert clipped.snr[0].max() > RULES.snr_threshold  # the line itself is still a hit


def test_clipping_leaves_a_faint_line_and_the_callers_array_alone():
    cadence = _cadence([_needle(50.0, 0.2, scans=(0,), snr=15.0)], seed=3)
    before = cadence.copy()
    plain = search_cadences(cadence[None])[0].snr[0]
    clipped = search_cadences(cadence[None], clip_sigma=4.0)[0].snr[0]
    peak = int(np.argmax(plain))
    assert abs(peak - 50) <= 1
    assert clipped[peak] == pytest.approx(plain[peak], rel=0.1)
    np.testing.assert_array_equal(cadence, before)


def test_cadences_without_an_on_hit_rank_by_their_on_off_contrast():
    rules = replace(RULES, snr_threshold=30.0)  # the faint line below stays under it

    def score(signals):
        return score_cadence(search_cadences(_cadence(signals, seed=4)[None])[0], rules).score

    faint = score([_needle(70.0, 0.1, snr=20.0)])
    empty = score([])
    in_off_too = score([_needle(70.0, 0.1, scans=range(6), snr=20.0)])
    assert all(-2.0 < value < -1.0 for value in (faint, empty, in_off_too))
    assert faint > empty
    assert faint > in_off_too


def test_clipping_leaves_a_scan_without_noise_spread_alone():
    scans = np.zeros((1, 64, 32), np.float32)
    scans[0, :, 10] = 5.0  # a line on a constant background: the MAD is 0
    plain = search_cadences(scans[None].repeat(6, axis=1))[0].snr
    clipped = search_cadences(scans[None].repeat(6, axis=1), clip_sigma=4.0)[0].snr
    np.testing.assert_array_equal(plain, clipped)


def test_contrast_follows_a_drifting_line_into_the_off_scans():
    rules = replace(RULES, snr_threshold=30.0)  # below it: the contrast tier ranks

    def score(signals):
        return score_cadence(search_cadences(_cadence(signals, seed=6)[None])[0], rules).score

    # 0.4 channel per step carries the line 27 channels on by the next scan: beyond the
    # contrast window around its own channel, but where its drift leads
    through_all = score([_needle(10.0, 0.4, scans=range(6), snr=20.0)])
    on_only = score([_needle(10.0, 0.4, snr=20.0)])
    assert on_only > through_all


@pytest.mark.parametrize(("start", "drift"), [(-20.0, 0.6), (147.0, -0.6)])
def test_a_line_entering_the_band_is_found_at_its_start_outside(start, drift):
    # 64 rows at 0.6 channel per step: the line enters the 128-channel band about half-way
    # through the scan; a search of in-band starts catches only part of it
    cadence = _cadence([_needle(start, drift, scans=(0,), snr=60.0)], seed=7)
    inside = search_cadences(cadence[None])[0]
    edges = search_cadences(cadence[None], edge_channels=32)[0]
    assert edges.first_channel == -32 and edges.snr.shape == (6, 128 + 64)
    best = int(np.argmax(edges.snr[0]))
    assert abs(best + edges.first_channel - start) <= 1
    assert abs(edges.drift[0, best] - drift) <= 2 * edges.drift_step
    assert edges.snr[0, best] > 1.3 * inside.snr[0].max()
    hits = score_cadence(edges, RULES).hits
    assert abs(max(hits, key=lambda h: h.snr).channel - start) <= 1


def test_edge_channels_leave_the_in_band_map_as_it_was():
    cadence = _cadence([_needle(40.0, 0.3), _needle(100.0, -0.2, scans=range(6))], seed=8)
    inside = search_cadences(cadence[None])[0]
    edges = search_cadences(cadence[None], edge_channels=16)[0]
    np.testing.assert_array_equal(edges.snr[:, 16:-16], inside.snr)
    np.testing.assert_array_equal(edges.drift[:, 16:-16], inside.drift)


def test_search_option_blanks_still_rfi_and_leaves_cadences_without_it_alone():
    from setibl.classical.dedoppler import run_search

    clean = noise_cadence(8)
    add_track(clean, [0, 2, 4], 40, 0.1, 30.0)  # a needle in the ON scans, far from any RFI
    lit = clean.copy()
    lit[:, :, 180] += 150.0 / np.sqrt(273)  # still RFI of S/N 150 in every scan
    rules = EventRules(snr_threshold=7.0, off_snr_threshold=8.0)
    plain, blanked = DedopplerConfig(), DedopplerConfig(blank_off_lit=True)
    cadences, ids = np.stack([clean, lit]), ["clean", "lit"]
    before, hits_before = run_search(cadences, ids, rules, plain, 0)
    after, hits_after = run_search(cadences, ids, rules, blanked, 0)
    assert after[0] == before[0]
    assert any(abs(h["channel"] - 180) <= 2 for h in hits_before if h["id"] == "lit")
    assert not any(abs(h["channel"] - 180) <= 2 for h in hits_after if h["id"] == "lit")
    assert after[1]["score"] == pytest.approx(after[0]["score"], abs=2.0)
