"""setibl scan over a made mid-resolution cadence: speed, memory and what it finds.

Usage: python benchmarks/scan.py [DIR] [--coarse 64] [--model RUN] [--backends LIST]
A cadence of six scans (64 coarse channels x 1,024 channels of 2.86 kHz, 279 steps of 1.07 s,
8 needles of S/N 25-60 drifting up to 20 Hz/s, 8 RFI lines) is made in DIR once (kept for
later runs), then scanned with each backend of LIST (default serial,processes,ray; 2 workers
for processes and Ray) in a fresh process. Prints per backend: seconds, MHz of the cadence's
band (all six scans) per second, windows per second (with a model), peak memory (the driver
and its worker processes; Ray's workers are not its children), and the "Done when" checks:
every needle above S/N 25 in the top 10, within 2 channels and one drift step of the search
(the 279 steps zero-padded to 512 rows); no candidate
at any RFI line. Then turboSETI on the same files: find_doppler on each of the six,
find_event_pipeline at level 3 (its time and the needles it finds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _common import emit, peak_rss_mib

HERE = Path(__file__).resolve().parent


def make(folder: Path, coarse: int) -> Path:
    import dataclasses

    from setibl.observations.make import MID_RESOLUTION, make_cadences

    if not (folder / "cadences.csv").is_file():
        grid = dataclasses.replace(MID_RESOLUTION, coarse_channels=coarse)
        make_cadences(folder, 1, grid, needles=8, rfi=8, seed=15, drift_max_hz=20.0)
    return folder


def one(folder: Path, out: Path, backend: str, run: str | None) -> None:
    """Child process: one scan, then its figures as JSON on stdout."""
    from setibl.config import load_config
    from setibl.jobs.scan import scan_workflow
    from setibl.observations.cadences import read_cadence_list

    config = load_config(
        None,
        [
            "observations.max_drift_hz=40.0",
            f'scan.backend="{backend}"',
            f"scan.workers={1 if backend == 'serial' else 2}",
        ],
    )
    start = time.perf_counter()
    scan_workflow(
        config, read_cadence_list(folder / "cadences.csv"), out, run, overwrite=True, progress=False
    )
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def check(folder: Path, out: Path) -> dict:
    """The issue's checks on candidates.csv against needles.csv."""
    from setibl.classical.files import padded_rows
    from setibl.measure.scan_tables import read_scan_csv
    from setibl.observations.make import MID_RESOLUTION

    truth = pd.read_csv(folder / "needles.csv")
    found = read_scan_csv(out / "candidates.csv")
    # the search's drift step: one channel over the 279 steps zero-padded up to 512 rows
    rows = padded_rows(MID_RESOLUTION.time_steps)
    step = MID_RESOLUTION.df_hz / (rows - 1) / MID_RESOLUTION.dt_s
    top = found[found["rank"] <= 10]
    needles = truth[(truth["kind"] == "needle") & (truth["snr"] > 25)]
    hits = 0
    for row in needles.itertuples():
        near = top[(top["channel"] - row.channel).abs() <= 2]
        hits += bool(len(near)) and abs(near["drift_hz_per_s"].iloc[0] - row.drift_hz_per_s) <= step
    rfi = truth[truth["kind"] == "rfi"]
    false = sum(((found["channel"] - c).abs() <= 2).any() for c in rfi["channel"])
    return {
        "needles": len(needles),
        "needles_in_top10": int(hits),
        "rfi_reported": int(false),
        "candidates": len(found),
    }


def turboseti(folder: Path, work: Path) -> dict:
    """turboSETI's find_doppler on the six files, then its find_event_pipeline (level 3)."""
    from setibl.classical.files import turboseti_hits

    files = sorted(folder.glob("c0000_*.h5"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    try:
        for path in files:
            turboseti_hits(path, work, max_drift_hz_per_s=40.0, snr_threshold=10.0)
        searched = time.perf_counter() - start
        from turbo_seti.find_event.find_event_pipeline import find_event_pipeline

        (work / "dats.lst").write_text("".join(f"{work / p.stem}.dat\n" for p in files))
        (work / "h5s.lst").write_text("".join(f"{p}\n" for p in files))
        events = find_event_pipeline(
            str(work / "dats.lst"),
            str(work / "h5s.lst"),
            filter_threshold=3,
            csv_name=str(work / "events.csv"),
        )
    except Exception as err:  # the benchmark reports why it could not run
        return {"turboseti": f"failed: {type(err).__name__}: {err}"[:200]}
    truth = pd.read_csv(folder / "needles.csv").query("kind == 'needle'")
    found = 0
    if events is not None and len(events):
        for row in truth.itertuples():
            found += bool(((events["Freq"] - row.frequency_mhz).abs() < 3e-3).any())
    return {
        "turboseti_find_doppler_s": round(searched, 2),
        "turboseti_total_s": round(time.perf_counter() - start, 2),
        "turboseti_needles_found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default="/tmp/setibl-bench-scan")
    parser.add_argument("--coarse", type=int, default=64)
    parser.add_argument("--model", default=None)
    parser.add_argument("--backends", default="serial,processes,ray")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "OUT"))
    args = parser.parse_args()
    folder = Path(args.folder) / f"mid-{args.coarse}"
    if args.one:
        one(folder, Path(args.one[1]), args.one[0], args.model)
        return
    start = time.perf_counter()
    make(folder, args.coarse)
    print(f"cadence ready in {time.perf_counter() - start:.1f} s: {folder}")
    from setibl.observations.filterbank import read_header

    header = read_header(sorted(folder.glob("c0000_0_*"))[0])
    band_mhz = abs(header.foff_mhz) * header.channels  # the cadence's band
    for backend in args.backends.split(","):
        out = Path(args.folder) / f"out-{backend}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh scan, not a resumed one
        command = [
            sys.executable,
            str(HERE / "scan.py"),
            args.folder,
            "--coarse",
            str(args.coarse),
            "--one",
            backend,
            str(out),
        ]
        command += ["--model", args.model] if args.model else []
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            print(result.stderr[-2000:])
            continue
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        windows = pd.read_csv(out / "results" / "windows.csv")
        figures.update(
            backend=backend,
            mhz_per_s=round(band_mhz / figures["seconds"], 2),
            windows_per_s=round(len(windows) / figures["seconds"], 1),
            file_mib=round(header.channels * header.time_steps * 4 / 2**20, 1),
            **check(folder, out),
        )
        emit("scan", figures)
    emit("scan_turboseti", turboseti(folder, Path(args.folder) / "turboseti"))


if __name__ == "__main__":
    main()
