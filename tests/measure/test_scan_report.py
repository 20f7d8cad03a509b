"""The scan's page: stamps of the top candidates (the needle in the ON scans along its track,
nothing in the OFF scans), every picture embedded, rendered by headless Chromium."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from setibl.observations.make import Grid, make_cadences

pytest.importorskip("setigen")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    from setibl.config import load_config
    from setibl.jobs.scan import scan_workflow
    from setibl.observations.cadences import read_cadence_list

    root = tmp_path_factory.mktemp("scanreport")
    grid = Grid(coarse_channels=4, fine_channels=512, time_steps=64)
    made = make_cadences(root / "data", 1, grid, needles=2, rfi=2, seed=8, drift_max_hz=20.0)
    config = load_config(
        None, ["observations.max_drift_hz=40.0", 'scan.backend="serial"', "scan.stamps=5"]
    )
    scan_workflow(config, read_cadence_list(made / "cadences.csv"), root / "out", progress=False)
    return made, root / "out"


def test_the_page_embeds_a_stamp_of_every_top_candidate(scanned):
    _, out = scanned
    page = (out / "report.html").read_text()
    candidates = pd.read_csv(out / "candidates.csv")
    assert len(candidates) == 2
    alts = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert alts == ["candidate 1", "candidate 2"]
    assert 'src="http' not in page and "c0000_3_C.h5" in page  # self-contained, files listed


def test_a_stamp_shows_the_needle_in_on_scans_only(scanned):
    from setibl.measure.scan_report import stamp
    from setibl.observations.cadences import read_cadence_list

    made, out = scanned
    files = read_cadence_list(made / "cadences.csv")["c0000"]
    candidate = pd.read_csv(out / "candidates.csv").iloc[0]
    data, first = stamp(files, 4, candidate)
    assert first <= candidate["channel"] < first + data.shape[-1]
    spectra = data.mean(axis=1)  # (scans, channels) time-mean
    contrast = (spectra.max(axis=1) - np.median(spectra, axis=1)) / spectra.std(axis=1)
    assert contrast[[0, 2, 4]].min() > 2 * contrast[[1, 3, 5]].max()


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium not installed (.ci/run installs it)")
def test_the_page_renders_in_headless_chromium(scanned, tmp_path):
    _, out = scanned
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    page = out / "report.html"
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    total = len(re.findall(r"<img ", page.read_text()))
    assert total == 2 and f'data-images-loaded="{total}/{total}"' in dom
