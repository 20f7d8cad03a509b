"""The scan-memory benchmark deletes only what it made, and its text agrees with its grid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Appended, not prepended: benchmark scripts must not shadow other modules.
sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scan_memory  # noqa: E402


def test_a_folder_holding_the_users_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(SystemExit, match="must be an empty folder"):
        scan_memory.work_folder(str(tmp_path))
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_only_what_the_script_made_is_deleted(tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    folder, made = scan_memory.work_folder(str(given))
    assert folder == given and not made
    for name in scan_memory.MADE_HERE:
        (folder / name).mkdir()
        (folder / name / "x.fil").write_bytes(b"0")
    (folder / "notes.txt").write_text("put here meanwhile")
    scan_memory.clean(folder, made)
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    scan_memory.clean(folder, True)  # made here, but not empty: kept
    assert (given / "notes.txt").exists()


def test_the_default_folder_is_fresh_and_goes_away(tmp_path):
    folder, made = scan_memory.work_folder(None)
    assert made and folder.is_dir() and not any(folder.iterdir())
    (folder / "out").mkdir()
    scan_memory.clean(folder, made)
    assert not folder.exists()
    fresh, made = scan_memory.work_folder(str(tmp_path / "new" / "dir"))
    assert made
    scan_memory.clean(fresh, made)
    assert not fresh.exists() and (tmp_path / "new").exists()


def test_the_docstring_states_the_grid_4_gb_gets():
    coarse = scan_memory.grid_for(4.0).coarse_channels
    assert f"4 GB is {coarse} coarse channels" in " ".join(scan_memory.__doc__.split())
