"""make-cadences and scan from the command line; bad input ends in one line naming the file."""

import pandas as pd
import pytest
from click.testing import CliRunner

from setibl.cli import cli

pytest.importorskip("setigen")


def test_make_then_scan_a_list_of_cadences(tmp_path):
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "make-cadences",
            str(tmp_path / "data"),
            "--cadences",
            "2",
            "--coarse-channels",
            "4",
            "--fine-channels",
            "256",
            "--time-steps",
            "32",
            "--needles",
            "2",
            "--rfi",
            "2",
        ],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        cli,
        [
            "scan",
            "--cadences",
            str(tmp_path / "data" / "cadences.csv"),
            "--out",
            str(tmp_path / "out"),
            "--backend",
            "serial",
            "--set",
            "observations.max_drift_hz=40",
        ],
    )
    assert result.exit_code == 0, result.output
    candidates = pd.read_csv(tmp_path / "out" / "candidates.csv")
    assert sorted(candidates["cadence"]) == ["c0000", "c0000", "c0001", "c0001"]


def _small_cadence(runner: CliRunner, folder) -> list[str]:
    """The six files of one tiny cadence (2 coarse x 128 channels, 16 steps) made in folder."""
    args = ["--coarse-channels", "2", "--fine-channels", "128", "--time-steps", "16"]
    made = runner.invoke(cli, ["make-cadences", str(folder), *args, "--needles", "1", "--rfi", "1"])
    assert made.exit_code == 0, made.output
    return sorted(str(p) for p in folder.glob("c0000_*"))


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    runner = CliRunner()
    files = _small_cadence(runner, tmp_path)
    result = runner.invoke(cli, ["scan", *files[:3], "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "c0000_0_A.h5" in result.output
    assert "ON scans (0, 2, 4) do not index 3 files" in result.output
    # five files of an ABACAD cadence with the default ON scans: one left out, not ABACA
    result = runner.invoke(cli, ["scan", *files[:5], "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "c0000_0_A.h5: 5 files in the cadence, expected 6" in result.output
    five = ["scan", *files[:5], "--out", str(tmp_path / "five"), "--on", "0,2,4"]
    five += ["--backend", "serial"]
    assert runner.invoke(cli, five).exit_code == 0  # ON scans given: any count they index
    gpus = ["scan", *files, "--out", str(tmp_path / "gpus"), "--gpus-per-unit", "0.5"]
    result = runner.invoke(cli, gpus)  # the default backend is processes: a usage error
    error = result.output.strip().splitlines()[-1]  # click's usage lines, then one error line
    assert result.exit_code == 2 and "scan.gpus_per_unit" in error and "--backend ray" in error
    shuffled = [files[0], files[2], files[1], *files[3:]]
    result = runner.invoke(cli, ["scan", *shuffled, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "c0000_1_B.h5: starts at MJD" in result.output
    result = runner.invoke(cli, ["scan", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "either FILES" in result.output
    result = runner.invoke(
        cli, ["scan", *files, "--out", str(tmp_path / "out"), "--model", str(tmp_path)]
    )
    assert result.exit_code == 1 and "config.toml: not found" in result.output


def test_on_scans_and_cadence_lists_that_cannot_be_scanned_are_one_line(tmp_path):
    runner = CliRunner()
    files = _small_cadence(runner, tmp_path)
    out = str(tmp_path / "out")
    for on, rule in (("0,0,2", "name a scan twice"), ("0,1,2,3,4,5", "leave no OFF scan")):
        result = runner.invoke(cli, ["scan", *files, "--out", out, "--on", on])
        assert result.exit_code == 1, result.output
        assert result.output.strip().count("\n") == 0 and rule in result.output
        assert "c0000_0_A.h5" in result.output
    for text in ("cadence,path\n", ""):
        listing = tmp_path / "empty.csv"
        listing.write_text(text)
        result = runner.invoke(cli, ["scan", "--cadences", str(listing), "--out", out])
        assert result.exit_code == 1, result.output
        assert result.output.strip().count("\n") == 0
        assert "empty.csv: no cadence listed" in result.output


def test_make_cadences_at_high_resolution_keeps_its_grid(tmp_path):
    from setibl.observations.filterbank import read_header
    from setibl.observations.make import HIGH_RESOLUTION

    result = CliRunner().invoke(
        cli,
        [
            "make-cadences",
            str(tmp_path),
            "--resolution",
            "high",
            "--fine-channels",
            "4096",
            "--needles",
            "1",
            "--rfi",
            "0",
            "--drift-max",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    header = read_header(tmp_path / "c0000_0_A.h5")
    assert header.channels == 4096  # the one option given, on the high grid's 1 coarse channel
    assert header.time_steps == HIGH_RESOLUTION.time_steps == 16
    assert header.tsamp_s == pytest.approx(HIGH_RESOLUTION.dt_s)
    assert header.foff_mhz * 1e6 == pytest.approx(-HIGH_RESOLUTION.df_hz)
    assert header.fch1_mhz == pytest.approx(HIGH_RESOLUTION.fch1_mhz)
