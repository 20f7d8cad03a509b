"""Classical-detector jobs: the de-Doppler search over a Kaggle-layout split."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from setibl.config import Config
from setibl.jobs.executor import Executor


def _dedoppler_chunk(job: tuple) -> tuple[list[dict], list[dict]]:
    from setibl.classical.dedoppler import run_search
    from setibl.data.kaggle import load_many

    paths, ids, shape, rules, settings, filter_level = job
    cadences = load_many(paths, shape, workers=1)
    return run_search(cadences, ids, rules, settings, filter_level)


def dedoppler_workflow(
    config: Config,
    data: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    filter_level: int | None = None,
    workers: int | None = None,
    chunk: int = 16,
    progress: bool = True,
) -> tuple[Path, Path]:
    """De-Doppler search over a split: ``out`` (id, target) plus ``<out>.hits.csv`` (every hit;
    drifts also in Hz/s with ``synth.df_hz`` / ``synth.dt_s`` as the data's resolution) and
    ``<out>.events.csv`` (id, level, score)."""
    from setibl.classical.dedoppler import EventRules
    from setibl.classical.taylor import compile_kernel
    from setibl.data.kaggle import discover
    from setibl.data.submission import write_submission
    from setibl.io import atomic_write_csv

    settings = config.dedoppler
    level = settings.filter_level if filter_level is None else filter_level
    workers = settings.workers if workers is None else workers
    table = discover(data, split)
    rules = EventRules(
        snr_threshold=settings.snr_threshold,
        off_snr_threshold=settings.off_snr_threshold,
        hit_window=settings.hit_window,
        top_hits=settings.top_hits,
        off_tolerance=settings.off_tolerance,
        on_scans=config.data.on_scans,
        scan_period=config.data.height + config.synth.gap_steps,
        veto_window=settings.veto_window,
        max_drift=settings.max_drift,
        scan_length=float(config.data.height),
        min_drift=settings.min_drift,
        score=settings.score,
        veto_drift_tolerance=settings.veto_drift_tolerance,
        veto_weight=settings.veto_weight,
        veto_distance=settings.veto_distance,
        veto_drift_reach=settings.veto_drift_reach,
        contrast_window=settings.contrast_window,
    )
    jobs = [
        (
            list(table["path"][i : i + chunk]),
            list(table["id"][i : i + chunk]),
            config.cadence_shape,
            rules,
            settings,
            level,
        )
        for i in range(0, len(table), chunk)
    ]
    compile_kernel()  # once here: forked workers inherit it, others load Numba's disk cache
    predictions, hits = [], []
    executor = Executor(workers=max(1, workers))
    with tqdm(total=len(table), desc="dedoppler", unit="cadence", disable=not progress) as bar:
        for chunk_predictions, chunk_hits in executor.map(_dedoppler_chunk, jobs):
            predictions += chunk_predictions
            hits += chunk_hits
            bar.update(len(chunk_predictions))
    out = Path(out)
    frame = pd.DataFrame(predictions)
    write_submission(frame[["id", "target"]], out, list(table["id"]))
    stem = out.with_suffix("")
    hit_columns = ["id", "scan", "channel", "drift_ch_per_step", "snr", "vetoed", "level"]
    hit_table = pd.DataFrame(hits, columns=hit_columns)
    hit_table.insert(
        4, "drift_hz_per_s", hit_table["drift_ch_per_step"] * config.synth.df_hz / config.synth.dt_s
    )
    hits_path = atomic_write_csv(f"{stem}.hits.csv", hit_table)
    atomic_write_csv(f"{stem}.events.csv", frame[["id", "level", "score"]])
    return out, hits_path
