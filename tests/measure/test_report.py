import re
import shutil
import subprocess

import pytest

from setibl.measure.report import build_report


@pytest.fixture(scope="module")
def report_page(tiny_run, tiny_data):
    return build_report(tiny_run, tiny_data)


def test_report_embeds_every_picture(report_page):
    page = report_page.read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    for expected in (
        "class distribution",
        "learning-rate schedule",
        "training curves",
        "histogram of test predictions",
        "ROC",
        "recall vs S/N",
        "recall vs drift",
        "augmented training samples",
        "false positives",
        "missed needles",
    ):
        assert expected in images, expected
    assert "OOF AUC" in page and "Sensitivity" in page and "[train]" in page
    assert 'src="http' not in page and "src='http" not in page  # self-contained


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report_page, tmp_path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    url = report_page.resolve().as_uri()
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    total = len(re.findall(r"<img ", report_page.read_text()))
    assert f'data-images-loaded="{total}/{total}"' in dom
    shot = tmp_path / "page.png"
    subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", "--window-size=1200,2000", url],
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.01  # not a blank page
