import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from setibl.config import OFF_SCANS, ON_SCANS, SynthConfig
from setibl.data.kaggle import validate
from setibl.data.rendering import (
    CadenceGeometry,
    path_channels,
    render_signal,
)
from setibl.data.synth import draw_needle, draw_rfi, make_cadence
from setibl.data.synth_dataset import OutputExistsError, write_dataset
from setibl.jobs.executor import Executor

GEOMETRY = CadenceGeometry()
CONFIG = SynthConfig()


def _scans_with_signal(rendered):
    return [s for s in range(rendered.shape[0]) if np.abs(rendered[s]).max() > 0]


@pytest.mark.parametrize("seed", range(40))
def test_needles_only_in_on_scans(seed):
    rng = np.random.default_rng(seed)
    needle = draw_needle(rng, GEOMETRY, CONFIG)
    lit = _scans_with_signal(render_signal(needle, GEOMETRY, CONFIG, GEOMETRY.height))
    assert lit and set(lit) <= set(ON_SCANS)
    assert set(needle["scans"]) <= set(lit)


@pytest.mark.parametrize("kind", ["stationary", "drifting"])
def test_legacy_line_rfi_in_all_six_scans(kind):
    config = SynthConfig(rfi_kinds=(kind,))
    for seed in range(10):
        rfi = draw_rfi(np.random.default_rng(seed), GEOMETRY, config)
        assert rfi["scans"] == list(range(6))
        rendered = render_signal(rfi, GEOMETRY, config, GEOMETRY.height)
        assert _scans_with_signal(rendered) == list(range(6))


@pytest.mark.parametrize("kind", ["constant", "sine", "squiggle", "steep"])
def test_rfi_on_needle_paths_is_seen_in_an_off_scan(kind):
    config = SynthConfig(rfi_kinds=(kind,))
    for seed in range(10):
        rfi = draw_rfi(np.random.default_rng(seed), GEOMETRY, config)
        assert rfi["kind"] == kind and rfi["enabled_scans"] == list(range(6))
        assert set(rfi["scans"]) & set(OFF_SCANS)
        rendered = render_signal(rfi, GEOMETRY, config, GEOMETRY.height)
        assert set(_scans_with_signal(rendered)) >= set(rfi["scans"])


def test_steep_rfi_repeats_across_the_band():
    """A steep RFI sweep wraps around: it crosses the band again in a later scan."""
    config = SynthConfig(rfi_kinds=("steep",))
    counts = [len(draw_rfi(np.random.default_rng(s), GEOMETRY, config)["scans"]) for s in range(20)]
    assert max(counts) >= 3


def _shape_features(signal):
    """What a signal looks like, not where it is seen: path kind, drift, curvature, width,
    S/N, profile, and its channel at the middle of the first scan it is seen in."""
    scan = signal["scans"][0]
    middle = GEOMETRY.scan_start(scan) + GEOMETRY.height // 2
    channel = path_channels(signal, np.array([middle]))[0]
    kinds = ["constant", "sine", "squiggle", "steep"]
    profiles = ["gaussian", "sinc2", "box"]
    return [
        *(float(signal["kind"] == k) for k in kinds),
        *(float(signal["profile"] == p) for p in profiles),
        abs(signal["drift_ch_per_step"]),
        signal["amplitude_ch"],
        signal["period_steps"],
        signal["walk_ch"],
        signal["width_hz"],
        np.log(signal["snr"]),
        channel,
    ]


def _shape_auc(config, count=500):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_predict

    rng = np.random.default_rng(0)
    rows, labels, contrast = [], [], []
    for _ in range(count):
        for role, draw in (("needle", draw_needle), ("rfi", draw_rfi)):
            signal = draw(rng, GEOMETRY, config)
            rows.append(_shape_features(signal))
            labels.append(role == "needle")
            # ON-OFF contrast: the share of the scans it is seen in that are OFF scans
            contrast.append(-np.mean([s in OFF_SCANS for s in signal["scans"]]))
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    scores = cross_val_predict(model, np.array(rows), labels, cv=5, method="predict_proba")
    return roc_auc_score(labels, scores[:, 1]), roc_auc_score(labels, contrast)


def test_shape_alone_cannot_tell_a_needle_from_rfi():
    """A classifier given only a line signal's shape is near chance on the default synth; the
    ON-OFF contrast separates them perfectly. On the older RFI mixture shape alone sufficed."""
    lines = SynthConfig(rfi_kinds=("constant", "sine", "squiggle", "steep"))
    shape_auc, contrast_auc = _shape_auc(lines)
    assert 0.4 < shape_auc < 0.6 and contrast_auc == 1.0
    legacy = SynthConfig(rfi_kinds=("stationary", "drifting"))
    assert _shape_auc(legacy)[0] > 0.9


def test_default_rfi_takes_every_needle_path_and_needles_go_faint():
    assert set(CONFIG.needle_kinds) <= set(CONFIG.rfi_kinds)
    assert CONFIG.snr_min <= 8.0


def test_broadband_rfi_reaches_an_off_scan():
    config = SynthConfig(rfi_kinds=("broadband",))
    for seed in range(10):
        rfi = draw_rfi(np.random.default_rng(seed), GEOMETRY, config)
        assert set(rfi["scans"]) & set(OFF_SCANS)


def test_drift_continues_across_the_cadence():
    config = SynthConfig(needle_kinds=("constant",), partial_on_fraction=0.0, drift_max=0.05)
    checked = 0
    for seed in range(20):
        needle = draw_needle(np.random.default_rng(seed), GEOMETRY, config)
        rendered = render_signal(needle, GEOMETRY, config, GEOMETRY.height)
        first_rows = [int(np.argmax(rendered[s, 0])) for s in ON_SCANS]
        if min(first_rows) < 5 or max(first_rows) > GEOMETRY.width - 5:
            continue  # the line leaves the band in some ON scan
        step = (GEOMETRY.height + GEOMETRY.gap_steps) * 2 * needle["drift_ch_per_step"]
        assert abs((first_rows[1] - first_rows[0]) - step) <= 1.0
        assert abs((first_rows[2] - first_rows[1]) - step) <= 1.0
        checked += 1
    assert checked >= 5


def test_scans_are_normalised_float16():
    data, _ = make_cadence(np.random.default_rng(0), GEOMETRY, CONFIG, needle=True, rfi=True)
    assert data.dtype == np.float16 and data.shape == (6, 273, 256)
    scans = data.astype(np.float64).reshape(6, -1)
    np.testing.assert_allclose(scans.mean(axis=1), 0, atol=2e-3)
    np.testing.assert_allclose(scans.std(axis=1), 1, atol=2e-3)


def _folder_digest(root):
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    small = CadenceGeometry(height=32, width=64)
    write_dataset(tmp_path / "a", 30, 10, CONFIG, small, seed=5, chunk=4)
    write_dataset(
        tmp_path / "b", 30, 10, CONFIG, small, seed=5, mapper=Executor(workers=2).map, chunk=7
    )
    write_dataset(tmp_path / "c", 30, 10, CONFIG, small, seed=6)
    assert _folder_digest(tmp_path / "a") == _folder_digest(tmp_path / "b")
    assert _folder_digest(tmp_path / "a") != _folder_digest(tmp_path / "c")


def test_refuses_non_empty_output_unless_overwrite(tmp_path):
    small = CadenceGeometry(height=16, width=32)
    write_dataset(tmp_path, 4, 2, CONFIG, small)
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_dataset(tmp_path, 4, 2, CONFIG, small)
    write_dataset(tmp_path, 6, 2, CONFIG, small, overwrite=True)
    assert len(list((tmp_path / "train").rglob("*.npy"))) == 6
    assert not list(tmp_path.rglob("*.tmp*"))


def test_written_set_is_consistent(tiny_synth):
    report = validate(tiny_synth)
    assert report.ok, report.problems
    labels = pd.read_csv(tiny_synth / "train_labels.csv", dtype={"id": str})
    test_labels = pd.read_csv(tiny_synth / "test_labels.csv", dtype={"id": str})
    assert labels["target"].sum() == round(60 * 0.3)
    assert test_labels["target"].sum() == round(20 * 0.3)
    submission = pd.read_csv(tiny_synth / "sample_submission.csv", dtype={"id": str})
    assert list(submission["id"]) == list(test_labels["id"])
    needles = pd.read_csv(tiny_synth / "needles.csv", dtype={"id": str, "scans": str})
    positives = set(labels.loc[labels["target"] == 1, "id"]) | set(
        test_labels.loc[test_labels["target"] == 1, "id"]
    )
    needle_rows = needles[needles["role"] == "needle"]
    assert sorted(needle_rows["id"]) == sorted(positives)
    for scans in needle_rows["scans"]:
        assert {int(s) for s in scans.split(",")} <= set(ON_SCANS)
    for scans in needles.loc[needles["role"] == "rfi", "scans"]:
        assert {int(s) for s in scans.split(",")} & set(OFF_SCANS)
    np.testing.assert_allclose(
        needles["drift_rate"], needles["drift_ch_per_step"] * CONFIG.df_hz / CONFIG.dt_s, atol=1e-5
    )


def test_rfi_count_max_gives_one_to_that_many_rfi_signals():
    config = SynthConfig(rfi_count_max=3)
    counts = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        _, signals = make_cadence(rng, GEOMETRY, config, needle=True, rfi=True)
        roles = [s["role"] for s in signals]
        assert roles.count("needle") == 1
        counts.append(roles.count("rfi"))
    assert set(counts) == {1, 2, 3}


def test_unsteady_rfi_changes_level_and_frequency_between_scans():
    config = SynthConfig(
        rfi_kinds=("constant",), rfi_level_spread=1.0, rfi_hop_fraction=1.0, rfi_hop_max_ch=20.0
    )
    times = GEOMETRY.times()
    checked = 0
    for seed in range(20):
        rfi = draw_rfi(np.random.default_rng(seed), GEOMETRY, config)
        factors, shifts = np.array(rfi["scan_level_factors"]), np.array(rfi["scan_shifts_ch"])
        assert factors.shape == shifts.shape == (6,) and np.ptp(shifts) > 0
        rendered = render_signal(rfi, GEOMETRY, config, GEOMETRY.height)
        inside = []
        for scan in range(6):
            centre = path_channels(rfi, times[scan], shifts[scan])
            if centre.min() >= 40 and centre.max() <= GEOMETRY.width - 40:
                inside.append(scan)
                row = GEOMETRY.height // 2
                spectrum = rendered[scan, row]
                centroid = (spectrum * np.arange(GEOMETRY.width)).sum() / spectrum.sum()
                assert abs(centroid - centre[row]) < 0.5  # the line sits at the hopped centre
        if len(inside) >= 2:  # whole line in band: its summed power scales with the factor
            power = rendered[inside].sum(axis=(1, 2)) / factors[inside]
            np.testing.assert_allclose(power, power[0], rtol=0.03)  # sampling of the profile
            checked += 1
        off_snr = [rfi["snr"] * factors[s] for s in rfi["scans"] if s in OFF_SCANS]
        assert max(off_snr) >= config.snr_min  # never so faint OFF that it passes for a needle
    assert checked >= 5
    steady = draw_rfi(np.random.default_rng(0), GEOMETRY, SynthConfig(rfi_kinds=("constant",)))
    assert "scan_level_factors" not in steady and "scan_shifts_ch" not in steady


def test_hopping_sweep_still_wraps_around_the_band():
    config = SynthConfig(rfi_kinds=("steep",), rfi_hop_fraction=1.0, rfi_hop_max_ch=20.0)
    times = GEOMETRY.times()
    for seed in range(10):
        rfi = draw_rfi(np.random.default_rng(seed), GEOMETRY, config)
        margin = rfi["wrap_margin_ch"]
        for scan, shift in enumerate(rfi["scan_shifts_ch"]):
            centre = path_channels(rfi, times[scan], shift)
            assert centre.min() >= -margin and centre.max() < GEOMETRY.width + margin
