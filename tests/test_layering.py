"""The sub-packages depend on each other the way the data flows, and the classical path never
loads TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "setibl"
SHARED = {"config", "config_rules", "io", "errors", "__version__"}  # what every stage may use
# each sub-package and the sub-packages it may import
ALLOWED = {
    "observations": set(),
    "data": {"observations"},
    "classical": {"observations", "data"},
    "learned": {"observations", "data", "classical"},  # search_maps shows the search's maps
    "measure": {"observations", "data", "classical", "learned"},
    "jobs": {"observations", "data", "classical", "learned", "measure"},
    "cli": {"observations", "data", "classical", "learned", "measure", "jobs"},
}
TENSORFLOW_FREE = ("observations", "data", "classical")


def imported_setibl_modules(path: Path) -> set[str]:
    """Every ``setibl.x`` a module imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module
            if module == "setibl":
                names.update(f"setibl.{alias.name}" for alias in node.names)
            elif module.startswith("setibl."):
                names.add(module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("setibl."))
    return names


def test_every_module_lives_in_a_known_place():
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top_level == SHARED - {"__version__"}
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_sub_packages_import_only_those_below_them(package):
    for path in sorted((PACKAGE / package).glob("*.py")):
        for name in imported_setibl_modules(path):
            first = name.split(".")[1]
            if first in SHARED or first == package:
                continue
            assert first in ALLOWED[package], f"{path.relative_to(PACKAGE)} imports {name}"


def test_layering_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from setibl.learned.train import train_run\n")
    assert imported_setibl_modules(bad) == {"setibl.learned.train"}


def heavy_modules_loaded(modules: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has loaded after importing ``modules``."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]


def test_classical_data_and_observations_do_not_load_tensorflow():
    modules = [
        f"setibl.{package}.{path.stem}"
        for package in TENSORFLOW_FREE
        for path in sorted((PACKAGE / package).glob("*.py"))
        if path.stem != "__init__"
    ]
    assert heavy_modules_loaded(modules, ("tensorflow", "keras", "sklearn", "matplotlib")) == []


def test_scan_workers_load_neither_tensorflow_nor_plotting():
    """A classical scan's workers import the unit code and the scan's table columns only:
    TensorFlow comes with a model, matplotlib with the report, never with a unit."""
    modules = ["setibl.jobs.scan", "setibl.jobs.scan_units", "setibl.measure.scan_tables"]
    assert heavy_modules_loaded(modules, ("tensorflow", "keras", "matplotlib")) == []
