"""Peak memory of ``setibl scan`` on a cadence of large files (the issue's "under 2 GB for a
4 GB file").

Usage: python benchmarks/scan_memory.py [DIR] [--size-gb 4] [--format fil|h5]
       [--backend serial] [--workers 1] [--keep]

Writes a cadence of six Breakthrough Listen high-resolution scans (2^20 channels of 2.79 Hz per
coarse channel, 16 steps of 18.25 s: 64 MiB (67 MB) a coarse channel, so 4 GB is 60 coarse
channels; a whole BL high-resolution product has 64, 4.3 GB) one coarse channel at a time, never
holding a file in memory: Gaussian noise (mean 10, std 1), 4 needles of S/N 30-60 in the ON scans
drifting up to 1 Hz/s through the whole cadence, 2 RFI lines in all six scans. Then runs
``setibl scan`` on it in a child process and prints: the peak resident memory of its largest
process (the process's own high-water mark, VmHWM) and the peak of the child and all its
descendants summed (both sampled every 0.2 s; the sum is the whole scan's footprint with several
workers), the wall time, the needles found (in the top 10, within 2 channels and one drift step)
and the RFI lines reported.

The script works in DIR (default: a fresh temporary folder); a DIR that exists must be empty, so
that nothing of the user's is ever deleted. Afterwards it deletes what it made there (``files/``,
``out/``, and DIR itself when it made DIR) unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import emit

ROOT = Path(__file__).resolve().parents[1]
NOISE_MEAN = 10.0  # noise level of the made scans (std 1)


def grid_for(size_gb: float):
    """The high-resolution grid with as many coarse channels as make one file ~``size_gb``."""
    from setibl.observations.make import HIGH_RESOLUTION as hr

    block_bytes = hr.time_steps * hr.fine_channels * 4
    coarse = max(1, round(size_gb * 1e9 / block_bytes))
    return dataclasses.replace(hr, coarse_channels=coarse)


def signals_for(grid, rng: np.random.Generator) -> list:
    """4 needles and 2 RFI lines, each in its own coarse channel when there are enough."""
    from setibl.observations.make import Signal

    kinds = ["needle"] * 4 + ["rfi"] * 2
    coarse = rng.choice(
        grid.coarse_channels, size=len(kinds), replace=len(kinds) > grid.coarse_channels
    )
    margin = grid.fine_channels // 8  # a 1 Hz/s drift moves ~700 channels over the cadence
    signals = []
    for kind, block in zip(kinds, coarse.tolist(), strict=True):
        local = int(rng.integers(margin, grid.fine_channels - margin))
        drift = float(rng.uniform(-1.0, 1.0)) * (1.0 if kind == "needle" else 0.05)
        snr = float(rng.uniform(30.0, 60.0))
        signals.append(
            Signal(kind, float(block * grid.fine_channels + local), drift, snr, grid.df_hz)
        )
    return signals


def blocks_for(grid, scan: int, signals, on_scans, seed: int):
    """(coarse, (time, fine) float32) of one scan, made one coarse channel at a time: noise, then
    each signal of this scan one channel wide along its track (setigen's S/N convention:
    per-sample level = S/N x noise std / sqrt(time steps))."""
    elapsed_steps = grid.scan_start_s(scan) / grid.dt_s
    steps = np.arange(grid.time_steps)
    for coarse in range(grid.coarse_channels):
        rng = np.random.default_rng([seed, scan, coarse])
        block = rng.standard_normal((grid.time_steps, grid.fine_channels), np.float32)
        block += NOISE_MEAN
        for signal in signals:
            local = signal.channel - coarse * grid.fine_channels
            if not 0 <= local < grid.fine_channels or scan not in signal.scans(6, on_scans):
                continue
            # frequency falls with channel index: a positive drift moves to lower channels
            per_step = -signal.drift_hz_per_s * grid.dt_s / grid.df_hz
            track = np.rint(local + per_step * (elapsed_steps + steps)).astype(int)
            inside = (track >= 0) & (track < grid.fine_channels)
            level = signal.snr / np.sqrt(grid.time_steps)
            block[steps[inside], track[inside]] += level
        yield coarse, block


def make(folder: Path, size_gb: float, file_format: str, seed: int = 15) -> list[Path]:
    from setibl.config import ON_SCANS
    from setibl.io import atomic_write_csv
    from setibl.observations.make import CADENCE_TARGETS, signal_table, write_blocks

    grid = grid_for(size_gb)
    signals = signals_for(grid, np.random.default_rng(seed))
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "fil" if file_format == "fil" else "h5"
    paths = []
    for scan, target in enumerate(CADENCE_TARGETS):
        path = folder / f"big_{scan}_{target}.{suffix}"
        blocks = blocks_for(grid, scan, signals, ON_SCANS, seed)
        paths.append(write_blocks(path, grid, scan, blocks, file_format, f"SETIBL-{target}"))
    atomic_write_csv(folder / "needles.csv", signal_table("big", grid, signals, ON_SCANS))
    return paths


def _peak_rss(pid: int) -> int:
    """A process's own peak resident memory so far (VmHWM, bytes; 0 once it has ended). Not
    ``ru_maxrss`` of the children: a child inherits its parent's peak at fork, so it would
    report the memory this script used writing the files."""
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1]) * 1024


class TreeSampler(threading.Thread):
    """Peaks of a process and all its descendants, sampled: the summed resident memory
    (``peak``) and the largest single process's own peak (``largest``), bytes."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.stop = pid, every_s, threading.Event()
        self.peak = self.largest = 0

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):  # ended meanwhile
                        total += process.memory_info().rss
                    self.largest = max(self.largest, _peak_rss(process.pid))
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, total)
            time.sleep(self.every_s)


def scan(paths: list[Path], out: Path, backend: str, workers: int) -> dict:
    """``setibl scan`` in a child process: its wall time and peak memory."""
    command = [sys.executable, "-m", "setibl", "scan", *map(str, paths), "--out", str(out)]
    command += ["--backend", backend, "--workers", str(workers), "--overwrite"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreeSampler(child.pid)
    sampler.start()
    output, _ = child.communicate()
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if child.returncode:
        sys.exit(f"setibl scan failed ({child.returncode}):\n{output.decode()[-3000:]}")
    return {
        "seconds": round(seconds, 1),
        "peak_rss_largest_process_mib": round(sampler.largest / 2**20, 1),
        "peak_rss_all_processes_mib": round(sampler.peak / 2**20, 1),
    }


def check(folder: Path, out: Path, grid) -> dict:
    """Needles in the top 10 (within 2 channels and one drift step), RFI lines reported."""
    from setibl.classical.files import padded_rows
    from setibl.measure.scan_tables import read_scan_csv

    truth = pd.read_csv(folder / "needles.csv")
    found = read_scan_csv(out / "candidates.csv")
    step = grid.df_hz / (padded_rows(grid.time_steps) - 1) / grid.dt_s
    top = found[found["rank"] <= 10]
    hits = 0
    for row in truth[truth["kind"] == "needle"].itertuples():
        near = top[(top["channel"] - row.channel).abs() <= 2]
        hits += bool(len(near)) and abs(near["drift_hz_per_s"].iloc[0] - row.drift_hz_per_s) <= step
    rfi = truth[truth["kind"] == "rfi"]
    false = sum(((found["channel"] - c).abs() <= 2).any() for c in rfi["channel"])
    return {
        "needles_in_top10": f"{hits} of {int((truth['kind'] == 'needle').sum())}",
        "rfi_reported": int(false),
        "candidates": len(found),
    }


MADE_HERE = ("files", "out")  # what the script writes in its folder, and deletes afterwards


def work_folder(requested: str | None) -> tuple[Path, bool]:
    """The folder to work in and whether this script made it: a fresh temporary one when none
    is ``requested``; a requested one that exists must be empty (exit otherwise), since the
    script deletes what it made there afterwards."""
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="setibl-bench-scan-memory-")), True
    folder = Path(requested)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        sys.exit(
            f"{folder}: must be an empty folder or not exist yet (the benchmark writes and "
            "then deletes its files there); give another DIR or none for a temporary one"
        )
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return folder, made


def clean(folder: Path, made: bool) -> None:
    """Delete what the script made in ``folder``, and ``folder`` too when the script made it
    and nothing else was put there meanwhile."""
    for name in MADE_HERE:
        shutil.rmtree(folder / name, ignore_errors=True)
    if made:
        with contextlib.suppress(OSError):  # not empty: something not ours is there now
            folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="DIR: where the files are written (default: a fresh temporary folder); an "
        "existing DIR must be empty. Only what the script made there is deleted afterwards.",
    )
    parser.add_argument("folder", nargs="?", default=None, metavar="DIR")
    parser.add_argument("--size-gb", type=float, default=4.0, help="size of each file (GB)")
    parser.add_argument("--format", choices=("fil", "h5", "h5-bitshuffle"), default="fil")
    parser.add_argument("--backend", default="serial")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--keep", action="store_true", help="keep the files (default: delete what was made)"
    )
    args = parser.parse_args()
    grid = grid_for(args.size_gb)
    folder, made = work_folder(args.folder)
    start = time.perf_counter()
    try:
        paths = make(folder / "files", args.size_gb, args.format)
        made = time.perf_counter() - start
        print(f"cadence of 6 x {paths[0].stat().st_size / 1e9:.2f} GB written in {made:.0f} s")
        out = folder / "out"
        figures = scan(paths, out, args.backend, args.workers)
        figures.update(check(folder / "files", out, grid))
        figures.update(
            backend=args.backend,
            workers=args.workers,
            format=args.format,
            file_gb=round(paths[0].stat().st_size / 1e9, 2),
            coarse_channels=grid.coarse_channels,
        )
        emit("scan_memory", figures)
    finally:
        if args.keep:
            print(f"files kept in {folder}")
        else:
            clean(folder, made)


if __name__ == "__main__":
    main()
