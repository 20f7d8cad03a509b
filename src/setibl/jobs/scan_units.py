"""One unit of ``setibl scan``: a cadence x a block of coarse channels, searched by the
classical detector (find_event, ON hits grouped into events with a drift fitted across the ON
scans) and, with a run, its windows scored by the fold models; both merged into candidates.
Units are picklable and run in any worker of the executor."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from setibl.classical.files import padded_rows, prepare_block
from setibl.config import ObservationsConfig
from setibl.observations.filterbank import Header, coarse_blocks, read_header
from setibl.observations.windows import WindowGeometry, cut_windows

GROUP_SLACK_CHANNELS = 4  # ON hits this close (plus drift spread) are one signal


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
    """Drift resolution of the search, channels per time step: one channel over the scan's
    rows zero-padded up to a power of two (as :func:`prepare_block` pads them)."""
    return 1.0 / max(padded_rows(max(time_steps, 2)) - 1, 1)


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
    """Every window of the unit's coarse channels with the run's fold-averaged score; each
    coarse channel's DC spike blanked as the classical search blanks it (``blank_dc``)."""
    scorer = _scorer(unit.run, unit.batch_size)
    height = unit.geometry.height
    streams = [
        coarse_blocks(path, header, unit.coarse_channels, only=unit.coarse, time_steps=height)
        for path, header in zip(unit.paths, headers, strict=True)
    ]
    rows = []
    while True:
        heads = []  # each file's first `height` steps of the next coarse channel
        for stream, path in zip(streams, unit.paths, strict=True):
            item = next(stream, None)
            if item is None:
                break
            coarse, _, block = item
            heads.append(prepare_block(block, path, unit.search.blank_dc)[:height])
            del item, block
        if len(heads) < len(streams):
            break
        starts, windows = cut_windows(np.stack(heads), unit.geometry)
        del heads
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
    """Events with the best score of the windows holding them (their start channel inside the
    window, or within the channels beyond it whose tracks the model sees too: a coarse rule by
    distance, which also lets an event drifting away from a window claim it); high-scoring
    windows that hold no event become candidates of their own (at the window's centre)."""
    if unit.geometry is None:
        return [{**e, "cnn_score": np.nan, "window": np.nan} for e in events]
    width, reach = unit.geometry.width, unit.geometry.reach
    candidates, claimed = [], set()
    for event in events:
        holding = [
            w
            for w in windows
            if w["window"] - reach <= event["channel"] < w["window"] + width + reach
        ]
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
    """Rows of every table for one unit, keyed as :data:`setibl.measure.scan_tables.TABLES`
    (picklable, runs in any worker)."""
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
