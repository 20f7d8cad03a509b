import json
import re
import shutil
import subprocess

import pandas as pd
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


def test_report_of_a_four_replica_run_with_one_class(tiny_run, tmp_path, monkeypatch):
    from setibl.config import load_config
    from setibl.learned.schedule import peak_learning_rate
    from setibl.measure import plots

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "replicas": 4}))
    oof = pd.read_csv(run / "oof.csv", dtype={"id": str})
    oof.assign(target=0).to_csv(run / "oof.csv", index=False)  # one class: AUC undefined
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(oof_auc=None, oof_auc_plain=None)
    for fold in metrics["folds"]:
        fold.update(auc=None, auc_tta=None)
    (run / "metrics.json").write_text(json.dumps(metrics))
    drawn = {}
    monkeypatch.setattr(plots, "plot_schedule", _spy(drawn, plots.plot_schedule))
    page = build_report(run).read_text()
    assert "OOF AUC n/a (without TTA n/a)" in page
    config = load_config(run / "config.toml")
    peak = peak_learning_rate(config.schedule, 4, config.train.batch_size)
    assert max(drawn["rates"]) == pytest.approx(peak)  # ramp_epochs 1 < epochs 2: at the peak


def _spy(record: dict, function):
    def spy(rates, path):
        record["rates"] = list(rates)
        return function(rates, path)

    return spy
