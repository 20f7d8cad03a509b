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
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.config import Config, ScanConfig
from setibl.errors import ConfigError, DataError
from setibl.jobs.executor import Executor
from setibl.jobs.results_log import ResultsLog
from setibl.jobs.scan_units import LoadScorer, ScanUnit, scan_unit
from setibl.measure.scan_tables import TABLES, TEXT_COLUMNS
from setibl.observations.cadences import check_cadence
from setibl.observations.filterbank import read_header
from setibl.observations.windows import WindowGeometry, check_fits


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
    default_on: bool = False,
) -> list[ScanUnit]:
    """Every unit of every cadence, after checking each cadence whole (and against the run).
    ``default_on``: the ON scans are the config's (``data.on_scans``, no ``--on``), so every
    cadence must have the config's ``data.scans`` files (a file left out of an ABACAD cadence
    is an error, not a five-scan search); ON scans given explicitly take any count."""
    if not cadences:
        raise DataError("no cadence to scan: give FILES or a cadence list with rows")
    geometry = None
    if run is not None:
        from setibl.learned.layouts import get_layout
        from setibl.learned.runs import (
            check_layout_params,
            fold_model_paths,
            resolve_run,
            run_config,
        )

        trained = run_config(run)
        layout = get_layout(trained.records.layout)
        # before any result is written (the workers would fail one by one otherwise)
        check_layout_params(run)
        fold_model_paths(resolve_run(run), trained.train.folds)
        if layout.needs_off and tuple(on_scans) != tuple(trained.data.on_scans):
            raise DataError(
                f"--on {','.join(map(str, on_scans))}: the run's model was trained with ON "
                f"scans {','.join(map(str, trained.data.on_scans))} in cadence order (layout "
                f"'{layout.name}'); order the files so, or scan without --model"
            )
        overlap = config.scan.window_overlap
        if overlap >= trained.data.width:
            raise ConfigError(
                f"config key 'scan.window_overlap': {overlap} channels, the run's windows are "
                f"{trained.data.width} wide"
            )
        geometry = WindowGeometry(
            trained.data.scans,
            trained.data.height,
            trained.data.width,
            overlap,
            layout.extra_width // 2,
        )
    units = []
    for name, paths in cadences.items():
        headers = check_cadence(paths, on_scans, geometry.scans if geometry else None)
        if default_on and geometry is None and len(paths) != config.data.scans:
            raise DataError(
                f"{paths[0]}: {len(paths)} files in the cadence, expected {config.data.scans} "
                f"(data.scans, ON scans {on_scans}); for a cadence of another length give --on"
            )
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
    """What makes two scans the same scan (for resuming): every file as it is now (size and
    modification time, ns), the search settings the units run with, the windows and model."""
    files = sorted({p for u in units for p in u.paths})
    stats = {p: os.stat(p) for p in files}
    return {
        "files": [[p, stats[p].st_size, stats[p].st_mtime_ns] for p in files],
        "units": len(units),
        "on_scans": list(units[0].on_scans) if units else [],
        "run": units[0].run if units else None,
        "search": dataclasses.asdict(units[0].search) if units else {},
        "scan": {
            k: v
            for k, v in dataclasses.asdict(config.scan).items()
            if k in ("window_overlap", "coarse_per_unit", "cnn_threshold")
        },
    }


def drift_warning(unit: ScanUnit) -> str | None:
    """A line saying the search finds zero drift only, when ``search.max_drift_hz`` is below
    one drift step of the unit's files (one channel over the padded scan: ~10 Hz/s at BL's mid
    resolution), else None."""
    from setibl.classical.files import padded_rows

    header = read_header(unit.paths[0])
    steps = padded_rows(header.time_steps) - 1
    max_drift_ch = abs(header.drift_ch_per_step(unit.search.max_drift_hz))
    if int(np.floor(max_drift_ch * steps + 1e-9)) > 0:
        return None
    step_hz = abs(header.foff_mhz) * 1e6 / header.tsamp_s / steps
    return (
        f"warning: {unit.paths[0]}: observations.max_drift_hz {unit.search.max_drift_hz:g} Hz/s "
        f"is below one drift step ({step_hz:.3g} Hz/s), so only zero drift is searched; to "
        "search drifting signals raise it (--set observations.max_drift_hz=N)"
    )


def scan_executor(settings: ScanConfig, run: str | None, log=print) -> Executor:
    """Where the units run: ``settings.backend`` with its workers; with a model (``run``) the
    fold models load once per worker (a Ray actor each) and each Ray actor asks for
    ``settings.gpus_per_unit`` GPUs. A classical-only scan never asks for a GPU (``log``
    says so when some were set)."""
    gpus = settings.gpus_per_unit
    if gpus and run is None:
        log(
            f"note: scan.gpus_per_unit {gpus:g} is not used: without --model the units run "
            "the classical search only, on CPUs"
        )
        gpus = 0.0
    return Executor(
        settings.backend,
        settings.workers,
        initializer=LoadScorer(run, settings.batch_size) if run else None,
        ray_address=settings.ray_address or None,
        gpus_per_item=gpus,
        gpus_name="config key 'scan.gpus_per_unit'",
    )


def scan_workflow(
    config: Config,
    cadences: dict[str, Sequence[str | os.PathLike]],
    out: str | os.PathLike,
    run: str | os.PathLike | None = None,
    on_scans: Sequence[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log=print,
) -> Path:
    """Scan ``cadences`` (name -> files in time order) into ``out``; resumes a scan of the
    same files and settings left unfinished there; ``log`` gets warnings. Returns
    ``out/candidates.csv``."""
    from tqdm import tqdm

    from setibl.classical.taylor import compile_kernel
    from setibl.io import atomic_write_csv

    on = tuple(on_scans) if on_scans is not None else config.data.on_scans
    if run is not None:
        from setibl.learned.runs import resolve_run

        run = str(resolve_run(run))  # the word "default": the shipped model
    units = plan_units(config, cadences, on, run, default_on=on_scans is None)
    warning = drift_warning(units[0])
    if warning:
        log(warning)
    out = Path(out)
    results = ResultsLog(
        out / "results", TABLES, _identity(units, config), overwrite, text=TEXT_COLUMNS
    )
    pending = [u for u in units if u.key not in results.finished]
    settings = config.scan
    # nothing left (a finished scan run again): no workers, no Ray started
    mapped = scan_executor(settings, pending[0].run, log).map(scan_unit, pending) if pending else []
    compile_kernel()  # once here: forked workers inherit it
    with tqdm(
        total=len(units),
        initial=len(units) - len(pending),
        desc="scan",
        unit="unit",
        disable=not progress,
    ) as bar:
        for unit, rows in zip(pending, mapped, strict=True):
            results.append(unit.key, rows, seconds=rows["units"][0]["seconds"])
            bar.update(1)
    candidates = rank_candidates(results.table("candidates"))
    write_field_formats(out / "turboseti", units, results.table("hits"), candidates, config)
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
    """turboSETI's formats in ``folder``: a cadence's ``.dat`` files (one a file) in
    ``folder/<cadence>/`` with their list ``dats.lst`` (for ``find_event_pipeline``), its events
    CSV and its file list ``<cadence>.lst`` (for ``plot_event_pipeline``)."""
    from setibl.classical.turboseti import events_table, write_dat, write_events
    from setibl.io import atomic_write_text

    settings = config.observations
    scores = candidates[["event", "cnn_score", "rank"]]
    scores = scores[scores["event"].fillna("").astype(str) != ""]
    for cadence, paths in dict((u.cadence, u.paths) for u in units).items():
        unit = next(u for u in units if u.cadence == cadence)
        fine = read_header(paths[0]).channels // unit.coarse_channels
        mine = hits[hits["cadence"] == cadence]
        dats = [
            write_dat(
                folder / cadence / f"{Path(path).stem}.dat",
                path,
                mine[mine["file"] == path],
                fine,
                settings.max_drift_hz,
            )
            for path in paths
        ]
        atomic_write_text(folder / cadence / "dats.lst", "".join(f"{p}\n" for p in dats))
        table = events_table(mine, paths, unit.on_scans, fine, settings.max_drift_hz, scores)
        write_events(folder, cadence, table, settings.filter_level, settings.snr_threshold)
        atomic_write_text(folder / f"{cadence}.lst", "".join(f"{p}\n" for p in paths))
