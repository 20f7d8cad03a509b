"""De-Doppler search speed: setibl's Taylor tree (1 and 2 workers) against brute force.

Usage: python benchmarks/dedoppler.py [N]   (default N = 400 synthetic 6 x 273 x 256 cadences)
Target: >= 200 cadences/s on this machine (2 workers). Measured end to end (read the .npy
files, search, score, write the CSVs) for the exact search (|drift| <= 1 channel/step), the
same without the tracks that enter the band from outside (``edge_channels=0``) and with 4-step
time binning (|drift| <= 0.25). The kernel is compiled (or loaded from Numba's cache)
once before timing; that time is printed apart. The brute force sums every straight drift line
directly (O(T^2 F) per scan against the tree's O(T log T F)) and runs on a few cadences only.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import emit, peak_rss_mib, timed

from setibl.classical.spectra import bandpass
from setibl.classical.taylor import brute_force_sums, compile_kernel, tree_rows
from setibl.config import load_config
from setibl.data.kaggle import discover, load_snippet
from setibl.jobs.classical import dedoppler_workflow
from setibl.jobs.data import synthesize


def brute_force_cadence(cadence: np.ndarray) -> np.ndarray:
    """Straight-line sums for both drift signs of all six scans (the search's reference)."""
    rows = tree_rows(cadence.shape[1])
    straight = np.rint(np.arange(rows)[:, None] * np.arange(rows)[None, :] / (rows - 1))
    used = cadence[:, :rows]
    flat = used - bandpass(used)[:, None, :]
    return np.stack(
        [brute_force_sums(scan, straight.astype(int)) for scan in flat]
        + [brute_force_sums(scan[:, ::-1], straight.astype(int)) for scan in flat]
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    root = Path(tempfile.mkdtemp(prefix="bench-dedoppler-"))
    config = load_config(None, [])
    synthesize(config, root / "data", 0, count, seed=3, progress=False)
    figures: dict = {"cadences": count}
    _, seconds = timed(compile_kernel)  # Numba: compiled on first use, then cached on disk
    figures["kernel_compile_or_cache_load_s"] = round(seconds, 2)
    binned = load_config(None, ["dedoppler.time_binning=4", "dedoppler.max_drift=0.25"])
    in_band = load_config(None, ["dedoppler.edge_channels=0"])  # no tracks entering the band
    variants = (("tree", config), ("tree_in_band_starts", in_band), ("tree_binned4", binned))
    for name, settings in variants:
        for workers in (1, 2):
            out = root / f"{name}{workers}.csv"
            _, seconds = timed(
                dedoppler_workflow,
                settings,
                root / "data",
                "test",
                out,
                workers=workers,
                progress=False,
            )
            figures[f"{name}_{workers}w_per_s"] = round(count / seconds, 1)
    paths = list(discover(root / "data", "test")["path"][:3])
    cadences = [load_snippet(p) for p in paths]
    _, seconds = timed(lambda: [brute_force_cadence(c) for c in cadences])
    figures["brute_force_1w_per_s"] = round(len(cadences) / seconds, 2)
    figures["speedup_tree_vs_brute_force_1w"] = round(
        figures["tree_1w_per_s"] / figures["brute_force_1w_per_s"], 1
    )
    figures["peak_rss_mib"] = peak_rss_mib()
    shutil.rmtree(root)
    emit("dedoppler", figures)


if __name__ == "__main__":
    main()
