"""The built wheel, installed outside the checkout, carries its configs and default model,
and runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from setibl.config import bundled_configs
from tests.conftest import TINY_RUN_OVERRIDES, write_kaggle_folder

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd, site, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the sources, installed into a folder of its own."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    # no build isolation: the dev extra holds setuptools and wheel, nothing is downloaded
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("setibl-*.whl")
    site = root / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", site, wheel],
        check=True,
        capture_output=True,
    )
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return site, elsewhere


def test_wheel_ships_the_configs_and_the_command(installed):
    site, elsewhere = installed
    script = (
        "import setibl, setibl.config as c; print(setibl.__file__); "
        "print(c.bundled_configs()); c.load_config(c.find_config('demo'))"
    )
    shown = _run(sys.executable, "-c", script, cwd=elsewhere, site=site).stdout.splitlines()
    assert shown[0].startswith(str(site))  # the installed copy, not the checkout
    assert shown[1] == str(bundled_configs())  # every shipped config, from the wheel
    help_text = _run(site / "bin" / "setibl", "demo", "--help", cwd=elsewhere, site=site).stdout
    assert "configs/demo.toml" in help_text and "--out" in help_text


def test_wheel_trains_a_tiny_run(installed):
    site, elsewhere = installed
    setibl = site / "bin" / "setibl"
    # the demo config starts from the shipped model, whose input the tiny geometry cannot give
    overrides = [a for o in (*TINY_RUN_OVERRIDES, 'model.init="none"') for a in ("--set", o)]
    _run(
        setibl,
        "synth",
        "data",
        "--n-train",
        32,
        "--n-test",
        8,
        *overrides,
        cwd=elsewhere,
        site=site,
    )
    demo = _run(
        sys.executable,
        "-c",
        "import setibl.config as c; print(c.find_config('demo'))",
        cwd=elsewhere,
        site=site,
    ).stdout.strip()
    train = _run(
        setibl,
        "train",
        demo,
        "data",
        "--out",
        "run",
        *overrides,
        "--set",
        "train.epochs=1",
        cwd=elsewhere,
        site=site,
        timeout=600,
    )
    assert "OOF AUC" in train.stdout
    assert (elsewhere / "run" / "submission.csv").is_file()


def test_wheel_ships_the_default_model_and_predicts_with_it(installed):
    from setibl.learned.runs import DEFAULT_MODEL_DIR

    site, elsewhere = installed
    bundled = {
        p.relative_to(DEFAULT_MODEL_DIR) for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()
    }
    shipped = site / "setibl" / "default_model"
    assert {p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file()} == bundled
    data = write_kaggle_folder(elsewhere / "full", n_train=0, n_test=3, shape=(6, 273, 256))
    setibl = site / "bin" / "setibl"
    _run(setibl, "predict", "default", data, "--out", "sub.csv", cwd=elsewhere, site=site)
    scored = (elsewhere / "sub.csv").read_text().splitlines()
    assert len(scored) == 4 and scored[0] == "id,target"
