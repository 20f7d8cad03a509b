"""``setibl scan``: cadences of filterbank files searched by both detectors, one ranked table.

Work is split into units of one cadence x ``scan.coarse_per_unit`` coarse channels, mapped by
the one executor (serial, local processes or Ray; a run's fold models load once per worker).
Each unit runs the classical search (find_event over its coarse channels) and, with a model,
cuts the run's windows and scores them. Finished units stream into ``OUT/results/`` with a
done-manifest (:mod:`setibl.jobs.results_log`), so a killed scan resumes where it stopped.
At the end ``OUT/candidates.csv`` ranks every candidate: an ON event reaching the filter level
(its ON hits grouped, with the best window's CNN score), or a window the model scores at least
``scan.cnn_threshold`` without a classical event in it. ``OUT/report.html`` shows the best with
their stamps; ``OUT/turboseti/`` holds the field's formats.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.classical.files import CADENCE_COLUMNS
from setibl.config import Config, ObservationsConfig
from setibl.errors import ConfigError, DataError
from setibl.jobs.executor import Executor
from setibl.jobs.results_log import ResultsLog
from setibl.observations.cadences import check_cadence
from setibl.observations.filterbank import Header, coarse_blocks, read_header
from setibl.observations.windows import WindowGeometry, check_fits, cut_windows

CANDIDATE_COLUMNS = [
    "cadence",
    "frequency_mhz",
    "drift_hz_per_s",
    "cnn_score",
    "snr",
    "level",
    "on_scans",
    "window",
    "coarse_channel",
    "channel",
    "event",
]
HIT_COLUMNS = ["cadence", *CADENCE_COLUMNS, "event"]
WINDOW_COLUMNS = ["cadence", "coarse_channel", "window", "cnn_score"]
UNIT_COLUMNS = ["unit", "cadence", "first_coarse", "last_coarse", "windows", "hits", "seconds"]
GROUP_SLACK_CHANNELS = 4  # ON hits this close (plus drift spread) are one signal
TABLES = {
    "candidates": CANDIDATE_COLUMNS,
    "hits": HIT_COLUMNS,
    "windows": WINDOW_COLUMNS,
    "units": UNIT_COLUMNS,
}


@dataclass(frozen=True)
class ScanUnit:
    """One unit of work: coarse channels ``coarse`` of cadence ``cadence``."""

    cadence: str
    paths: tuple[str, ...]
    coarse: tuple[int, ...]
    coarse_channels: int  # in every file
    on_scans: tuple[int, ...]
    search: ObservationsConfig
    geometry: WindowGeometry | None = None  # None: classical search only
    run: str | None = None
    batch_size: int = 64
    cnn_threshold: float = 0.5

    @property
    def key(self) -> str:
        return f"{self.cadence}:{self.coarse[0]}-{self.coarse[-1]}"


@dataclass(frozen=True)
class LoadScorer:
    """Executor initializer: load a run's fold models once per worker (equal by value, so a
    Ray worker sees the same initializer in every task)."""

    run: str
    batch_size: int

    def __call__(self) -> None:
        _scorer(self.run, self.batch_size)


@functools.lru_cache(maxsize=2)
def _scorer(run: str, batch_size: int):
    from setibl.learned.scorer import RunScorer

    return RunScorer(run, batch_size)


def _tree_drift_step(time_steps: int) -> float:
    """Drift resolution of the Taylor tree, channels per time step."""
    rows = 2 ** int(math.floor(math.log2(max(time_steps, 2))))
    return 1.0 / max(rows - 1, 1)


def _fit_track(times: np.ndarray, channels: np.ndarray) -> tuple[float, float]:
    """(channel at time 0, channels per step) of the straight line through a signal's places
    at its scans' starts: over a cadence's span far finer than one scan's drift step."""
    slope, intercept = np.polyfit(times, channels, 1)
    return float(intercept), float(slope)


def group_events(
    hits: pd.DataFrame, headers: Sequence[Header], unit: ScanUnit, fine: int
) -> list[dict]:
    """ON hits at the filter level or above, grouped across ON scans: one event per signal.

    As find_event, the earliest ON hit predicts where the signal lies in the later ON scans
    (its drift, within one drift step's spread); the hits found there join its event. With
    hits in two or more scans the event's drift and place come from the straight line through
    them (the cadence's span measures drift far finer than one scan), else from the hit. The
    place is at the first scan's start (channel, MHz); the S/N is the best. Each grouped hit
    gets its event's id in ``hits["event"]``."""
    first = headers[0]
    starts = [(h.tstart_mjd - first.tstart_mjd) * 86400.0 / first.tsamp_s for h in headers]
    step = _tree_drift_step(first.time_steps)
    on = hits[hits["scan"].isin(unit.on_scans) & (hits["level"] >= unit.search.filter_level)]
    on = on.assign(start_step=[starts[s] for s in on["scan"]], neg_snr=-on["snr"])
    groups: list[list] = []
    hits["event"] = ""
    for hit in on.sort_values(["start_step", "neg_snr"], kind="stable").itertuples():
        for group in groups:
            ref = group[0]
            elapsed = hit.start_step - ref.start_step
            predicted = ref.channel + ref.drift_ch_per_step * elapsed
            if hit.scan != ref.scan and abs(hit.channel - predicted) <= (
                GROUP_SLACK_CHANNELS + abs(elapsed) * step
            ):
                group.append(hit)
                break
        else:
            groups.append([hit])
    events = []
    for number, group in enumerate(groups):
        event = f"{unit.key}#{number}"
        hits.loc[[h.Index for h in group], "event"] = event
        best = max(group, key=lambda h: h.snr)
        times = np.array([h.start_step for h in group])
        if len(set(times.tolist())) > 1:
            origin, drift = _fit_track(times, np.array([h.channel for h in group], float))
            drift_hz = drift * first.foff_mhz * 1e6 / first.tsamp_s
        else:
            origin = best.channel - best.drift_ch_per_step * best.start_step
            drift_hz = best.drift_hz_per_s
        events.append(
            {
                "cadence": unit.cadence,
                "event": event,
                "frequency_mhz": first.fch1_mhz + origin * first.foff_mhz,
                "drift_hz_per_s": round(drift_hz, 6) + 0.0,  # 1e-6 Hz/s, as turboSETI prints
                "snr": best.snr,
                "level": max(int(h.level) for h in group),
                "on_scans": " ".join(map(str, sorted({int(h.scan) for h in group}))),
                "coarse_channel": int(best.coarse_channel),
                "channel": int(round(origin)),
            }
        )
    return events


def _score_windows(unit: ScanUnit, headers: Sequence[Header], fine: int) -> list[dict]:
    """Every window of the unit's coarse channels with the run's fold-averaged score."""
    scorer = _scorer(unit.run, unit.batch_size)
    streams = [
        coarse_blocks(path, header, unit.coarse_channels, only=unit.coarse)
        for path, header in zip(unit.paths, headers, strict=True)
    ]
    rows = []
    for blocks in zip(*streams, strict=True):
        coarse = blocks[0][0]
        height = unit.geometry.height
        stacked = np.stack([block[:height] for _, _, block in blocks])
        starts, windows = cut_windows(stacked, unit.geometry)
        scores = scorer(windows, unit.on_scans)
        rows += [
            {
                "cadence": unit.cadence,
                "coarse_channel": coarse,
                "window": int(coarse * fine + start),
                "cnn_score": float(score),
            }
            for start, score in zip(starts.tolist(), scores.tolist(), strict=True)
        ]
    return rows


def _merge(events: list[dict], windows: list[dict], unit: ScanUnit) -> list[dict]:
    """Events with the best score of the windows holding them; high-scoring windows that hold
    no event become candidates of their own (at the window's centre)."""
    if unit.geometry is None:
        return [{**e, "cnn_score": np.nan, "window": np.nan} for e in events]
    width = unit.geometry.width
    candidates, claimed = [], set()
    for event in events:
        holding = [w for w in windows if w["window"] <= event["channel"] < w["window"] + width]
        best = max(holding, key=lambda w: w["cnn_score"], default=None)
        claimed.update(w["window"] for w in holding)
        candidates.append(
            {
                **event,
                "cnn_score": best["cnn_score"] if best else np.nan,
                "window": best["window"] if best else np.nan,
            }
        )
    return candidates + [
        {
            "cadence": unit.cadence,
            "frequency_mhz": np.nan,  # filled by the caller, which knows the grid
            "drift_hz_per_s": np.nan,
            "cnn_score": w["cnn_score"],
            "snr": np.nan,
            "level": 0,
            "on_scans": "",
            "window": w["window"],
            "coarse_channel": w["coarse_channel"],
            "channel": w["window"] + width // 2,
            "event": "",
        }
        for w in windows
        if w["cnn_score"] >= unit.cnn_threshold and w["window"] not in claimed
    ]


def scan_unit(unit: ScanUnit) -> dict[str, list[dict]]:
    """Rows of every table for one unit (picklable, runs in any worker)."""
    from setibl.classical.files import search_cadence_with

    began = time.perf_counter()
    headers = [read_header(path) for path in unit.paths]
    fine = headers[0].channels // unit.coarse_channels
    hits = search_cadence_with(
        unit.paths, unit.on_scans, unit.search, unit.coarse, unit.coarse_channels
    )
    hits.insert(0, "cadence", unit.cadence)
    events = group_events(hits, headers, unit, fine)
    windows = _score_windows(unit, headers, fine) if unit.geometry is not None else []
    candidates = _merge(events, windows, unit)
    first = headers[0]
    for row in candidates:
        if not np.isfinite(row["frequency_mhz"]):
            row["frequency_mhz"] = first.fch1_mhz + row["channel"] * first.foff_mhz
    summary = {
        "unit": unit.key,
        "cadence": unit.cadence,
        "first_coarse": unit.coarse[0],
        "last_coarse": unit.coarse[-1],
        "windows": len(windows),
        "hits": len(hits),
        "seconds": round(time.perf_counter() - began, 3),
    }
    return {
        "candidates": candidates,
        "hits": hits.to_dict("records"),
        "windows": windows,
        "units": [summary],
    }


def rank_candidates(table: pd.DataFrame) -> pd.DataFrame:
    """Filter level first, then CNN score, then S/N (missing values last); rank from 1."""
    keys = pd.DataFrame(
        {
            "level": table["level"],
            "cnn": table["cnn_score"].fillna(-1.0),
            "snr": table["snr"].fillna(-np.inf),
        }
    )
    order = keys.sort_values(["level", "cnn", "snr"], ascending=False, kind="stable").index
    ranked = table.loc[order].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def plan_units(
    config: Config,
    cadences: dict[str, Sequence[str | os.PathLike]],
    on_scans: tuple[int, ...],
    run: str | None,
) -> list[ScanUnit]:
    """Every unit of every cadence, after checking each cadence whole (and against the run)."""
    geometry = None
    if run is not None:
        from setibl.learned.scorer import run_config

        trained = run_config(run)
        overlap = config.scan.window_overlap
        if overlap >= trained.data.width:
            raise ConfigError(
                f"config key 'scan.window_overlap': {overlap} channels, the run's windows are "
                f"{trained.data.width} wide"
            )
        geometry = WindowGeometry(
            trained.data.scans, trained.data.height, trained.data.width, overlap
        )
    units = []
    for name, paths in cadences.items():
        headers = check_cadence(paths, on_scans, geometry.scans if geometry else None)
        count = config.observations.coarse_channels or headers[0].coarse_channel_count()
        if headers[0].channels % count:
            raise DataError(
                f"{paths[0]}: {headers[0].channels} channels do not split into "
                f"{count} coarse channels"
            )
        fine = headers[0].channels // count
        if geometry is not None:
            check_fits([str(p) for p in paths], headers, fine, geometry)
        block = config.scan.coarse_per_unit
        for first in range(0, count, block):
            units.append(
                ScanUnit(
                    cadence=name,
                    paths=tuple(str(Path(p).resolve()) for p in paths),
                    coarse=tuple(range(first, min(first + block, count))),
                    coarse_channels=count,
                    on_scans=on_scans,
                    search=dataclasses.replace(
                        config.observations, min_drift_hz=config.scan.min_drift_hz
                    ),
                    geometry=geometry,
                    run=str(Path(run).resolve()) if run else None,
                    batch_size=config.scan.batch_size,
                    cnn_threshold=config.scan.cnn_threshold,
                )
            )
    return units


def _identity(units: list[ScanUnit], config: Config) -> dict:
    """What makes two scans the same scan (for resuming): files, settings, model."""
    files = sorted({p for u in units for p in u.paths})
    return {
        "files": [[p, os.path.getsize(p)] for p in files],
        "units": len(units),
        "on_scans": list(units[0].on_scans) if units else [],
        "run": units[0].run if units else None,
        "observations": dataclasses.asdict(config.observations),
        "scan": {
            k: v
            for k, v in dataclasses.asdict(config.scan).items()
            if k in ("window_overlap", "coarse_per_unit", "cnn_threshold")
        },
    }


def scan_workflow(
    config: Config,
    cadences: dict[str, Sequence[str | os.PathLike]],
    out: str | os.PathLike,
    run: str | os.PathLike | None = None,
    on_scans: Sequence[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Scan ``cadences`` (name -> files in time order) into ``out``; resumes a scan of the
    same files and settings left unfinished there. Returns ``out/candidates.csv``."""
    from tqdm import tqdm

    from setibl.classical.taylor import compile_kernel
    from setibl.io import atomic_write_csv

    on = tuple(on_scans) if on_scans is not None else config.data.on_scans
    run = str(run) if run is not None else None
    units = plan_units(config, cadences, on, run)
    out = Path(out)
    log = ResultsLog(out / "results", TABLES, _identity(units, config), overwrite)
    pending = [u for u in units if u.key not in log.finished]
    settings = config.scan
    initializer = LoadScorer(pending[0].run, settings.batch_size) if pending and run else None
    executor = Executor(
        settings.backend,
        settings.workers,
        initializer=initializer,
        ray_address=settings.ray_address or None,
    )
    compile_kernel()  # once here: forked workers inherit it
    with tqdm(
        total=len(units),
        initial=len(units) - len(pending),
        desc="scan",
        unit="unit",
        disable=not progress,
    ) as bar:
        for unit, rows in zip(pending, executor.map(scan_unit, pending), strict=True):
            log.append(unit.key, rows, seconds=rows["units"][0]["seconds"])
            bar.update(1)
    candidates = rank_candidates(log.table("candidates"))
    write_field_formats(out / "turboseti", units, log.table("hits"), candidates, config)
    written = atomic_write_csv(out / "candidates.csv", candidates)
    if settings.stamps:
        from setibl.measure.scan_report import build_scan_report

        files = {u.cadence: list(u.paths) for u in units}
        counts = {u.cadence: u.coarse_channels for u in units}
        build_scan_report(out, files, counts, settings.stamps)
    return written


def write_field_formats(
    folder: Path, units: list[ScanUnit], hits: pd.DataFrame, candidates: pd.DataFrame, config
) -> None:
    """turboSETI's formats in ``folder``: a ``.dat`` a file, an events CSV and a file list
    (for ``plot_event_pipeline``) a cadence."""
    from setibl.classical.turboseti import events_table, write_dat, write_events
    from setibl.io import atomic_write_text

    settings = config.observations
    scores = candidates[["event", "cnn_score", "rank"]].dropna(subset=["event"])
    for cadence, paths in dict((u.cadence, u.paths) for u in units).items():
        unit = next(u for u in units if u.cadence == cadence)
        fine = read_header(paths[0]).channels // unit.coarse_channels
        mine = hits[hits["cadence"] == cadence]
        for path in paths:
            write_dat(
                folder / f"{Path(path).stem}.dat",
                path,
                mine[mine["file"] == path],
                fine,
                settings.max_drift_hz,
            )
        table = events_table(mine, paths, unit.on_scans, fine, settings.max_drift_hz, scores)
        write_events(folder, cadence, table, settings.filter_level, settings.snr_threshold)
        atomic_write_text(folder / f"{cadence}.lst", "".join(f"{p}\n" for p in paths))
