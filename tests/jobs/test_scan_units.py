"""The scan's units: the drift step that groups hits, the windows a model scores, and how
events and windows merge into candidates."""

from __future__ import annotations

import numpy as np
import pytest

from setibl.config import ObservationsConfig
from setibl.observations.windows import WindowGeometry
from tests.jobs.conftest import cadences_of


def test_the_grouping_drift_step_is_the_searchs(made):
    from setibl.classical.files import prepare_block, scan_search
    from setibl.jobs.scan_units import _tree_drift_step

    for steps in (16, 64, 279):
        block = prepare_block(np.ones((steps, 16), np.float32), "x.h5", blank_dc=False)
        search, _ = scan_search(block, 1.0)
        assert _tree_drift_step(steps) == pytest.approx(search.drift_step), steps


def test_windows_scored_see_the_dc_spike_blanked_as_the_search_does(made, monkeypatch):
    import setibl.jobs.scan_units as scan_units
    from setibl.observations.filterbank import read_header

    seen = []

    def scorer(windows, on_scans):
        seen.append(windows)
        return np.zeros(len(windows))

    monkeypatch.setattr(scan_units, "_scorer", lambda run, batch: scorer)
    paths = tuple(str(p) for p in cadences_of(made)["c0000"])
    headers = [read_header(p) for p in paths]
    for blank in (True, False):
        seen.clear()
        unit = scan_units.ScanUnit(
            cadence="c0000",
            paths=paths,
            coarse=(0,),
            coarse_channels=16,
            on_scans=(0, 2, 4),
            search=ObservationsConfig(blank_dc=blank),
            geometry=WindowGeometry(6, 32, 64, 32),
            run="run",
        )
        scan_units._score_windows(unit, headers, 1024)
        window = np.concatenate(seen)[480 // 32]  # channels 480-543: the DC channel 512 at 32
        neighbours = (window[:, :, 31] + window[:, :, 33]) / 2
        assert np.allclose(window[:, :, 32], neighbours, atol=1e-4) == blank


@pytest.mark.parametrize(("reach", "separate"), [(0, 1), (64, 0)])
def test_a_window_seeing_an_events_track_from_beyond_its_edge_is_not_a_second_candidate(
    reach, separate
):
    import setibl.jobs.scan_units as scan_units

    # a needle starting at channel 250 drifts into the next window (256-511), whose model sees
    # tracks starting up to `reach` channels before it and scores it high as well
    unit = scan_units.ScanUnit(
        cadence="c",
        paths=(),
        coarse=(0,),
        coarse_channels=1,
        on_scans=(0, 2, 4),
        search=ObservationsConfig(),
        geometry=WindowGeometry(6, 273, 256, 0, reach),
        cnn_threshold=0.5,
    )
    event = {"cadence": "c", "channel": 250, "coarse_channel": 0, "snr": 30.0, "level": 3}
    windows = [
        {"cadence": "c", "coarse_channel": 0, "window": 0, "cnn_score": 0.7},
        {"cadence": "c", "coarse_channel": 0, "window": 256, "cnn_score": 0.9},
        {"cadence": "c", "coarse_channel": 0, "window": 512, "cnn_score": 0.95},  # elsewhere
    ]
    rows = scan_units._merge([event], windows, unit)
    assert rows[0]["channel"] == 250
    assert rows[0]["cnn_score"] == (0.9 if reach else 0.7)
    others = [row["window"] for row in rows[1:]]
    assert others == [256] * separate + [512]
