"""Made cadences of filterbank files shared by the scan tests (setigen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from setibl.observations.make import Grid, make_cadences

GRID = Grid(coarse_channels=16, fine_channels=1024, time_steps=64)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Two mid-resolution cadences (16 x 1,024 channels, 64 steps), 3 needles + 3 RFI each."""
    pytest.importorskip("setigen")
    root = tmp_path_factory.mktemp("scan")
    return make_cadences(root / "data", 2, GRID, needles=3, rfi=3, seed=4, drift_max_hz=20.0)


def cadences_of(made: Path) -> dict[str, list[Path]]:
    from setibl.observations.cadences import read_cadence_list

    return read_cadence_list(made / "cadences.csv")
