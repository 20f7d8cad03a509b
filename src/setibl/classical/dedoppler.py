"""The classical detector: de-Doppler (Taylor tree) search per scan, then ON-OFF event filtering.

Search (per scan, data z-scored, (time, channels)):

1. The bandpass is removed: the time-mean spectrum, median-filtered over 17 channels (wider
   than any needle), is subtracted from every row; narrow lines survive, the scalloping goes.
   In the Kaggle-layout search (``dedoppler.clip_sigma``, 6; the file searches never clip,
   as turboSETI) pixels more than ``clip_sigma`` robust sigmas above it are clipped to that
   level. A needle carries S/N / sqrt(T) sigmas per pixel (0.5 at S/N 8, 2 at S/N 30 over 256
   rows) and keeps its power up to S/N ~ 60; brighter lines are capped near clip_sigma x
   sqrt(T) and no longer lend tens of S/N to every track that crosses them (ghost hits that
   look like ON-only lines).
2. The first ``2**k <= time steps`` rows (256 of 273 for Kaggle snippets, 6% of the
   integration; optionally binned in time first, see ``time_binning``) go through the Taylor
   tree, as in turboSETI: ``log2(T)`` stages of pairwise
   sums give, for every start channel and every drift index ``d in [0, T)``, the power summed
   along a piecewise-straight path of total offset ``d`` channels over ``T - 1`` steps (drift
   resolution ``1 / (T - 1)`` channel per step). Negative drifts run the tree downwards in
   frequency (the sums of the frequency-reversed scan's tree). Paths leaving the band count zero
   beyond its edge. In the Kaggle-layout search (``dedoppler.edge_channels``, 64; the file
   searches keep turboSETI's in-band starts) start channels reach that far outside the band
   too (the band padded with zeros), so a line that enters a snippet part-way through a scan
   is summed along its own track; its S/N keeps the whole scan's noise scale, so a track half
   in the band counts half its power. Beyond one channel per step (unbinned
   ``max_drift > 1``) the scan is first sheared by whole channels per step (turboSETI's drift
   blocks). Exact, O(T log T) per channel instead of the brute force's O(T^2); a compiled
   kernel (:mod:`setibl.classical.taylor`) keeps only each channel's best drift.
3. S/N = (sum - median) / (1.4826 MAD), both taken over the in-band zero-drift sums of that
   scan.
4. Hits: per channel the best drift; channels whose best S/N is a local maximum within
   ``hit_window`` channels and reaches ``snr_threshold`` (turboSETI's top-hit selection).

Cadence: :mod:`setibl.classical.events` applies turboSETI's find_event to the hits (levels
1-3; by default turboSETI's veto range, the hit's channel +- max drift x scan length, which for
a snippet searched to one channel per step spans the whole snippet; ``veto_window="narrow"``
keeps setibl's earlier window around the place the drift predicts) and gives the ranking
score: the best S/N of a hit that passes the veto (or the ON scans holding it, or their
stacked S/N), strictly increasing maps without saturation; cadences whose ON hits are all
vetoed rank below, by their narrow-window margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from setibl.classical.blanking import blank_off_lit_channels
from setibl.classical.events import (
    EventRules,
    Hit,
    cadence_score,
    find_events,
    prediction,
)
from setibl.classical.spectra import bandpass, clip_bright, noise_level
from setibl.classical.taylor import best_drift_sums, tree_rows
from setibl.config import DedopplerConfig

__all__ = ["EventRules", "Hit", "find_hits", "score_cadence", "run_search", "search_scans"]


def parse_drift(text: str, df_hz: float, dt_s: float) -> float:
    """A drift rate as channels per time step, from ``"0.5"`` / ``"0.5ch"`` (channels per step)
    or ``"0.25hz"`` / ``"0.25Hz/s"`` (converted with channel width ``df_hz`` and step ``dt_s``)."""
    cleaned = text.strip().lower().replace(" ", "")
    for suffix, scale in (("hz/s", dt_s / df_hz), ("hz", dt_s / df_hz), ("ch", 1.0), ("", 1.0)):
        if cleaned.endswith(suffix):
            number = cleaned[: len(cleaned) - len(suffix)] if suffix else cleaned
            try:
                return float(number) * scale
            except ValueError:
                break
    raise ValueError(f"drift {text!r}: expected a number, optionally followed by 'ch' or 'Hz/s'")


@dataclass
class ScanSearch:
    """Best S/N over drifts per start channel, for each scan of one cadence."""

    snr: np.ndarray  # (scans, F') best S/N over |drift| <= max_drift
    drift: np.ndarray  # (scans, F') that drift, channels per time step
    drift_step: float  # drift resolution, channels per time step
    first_channel: int = 0  # start channel of column 0 (< 0 when tracks entering are searched)


def search_scans(
    scans: np.ndarray,
    max_drift: float,
    time_binning: int = 1,
    bandpass_window: int = 17,
    noise: str = "mad",
    clip_sigma: float = 0.0,
    edge_channels: int = 0,
) -> tuple[ScanSearch, int]:
    """(m, T, F) scans -> their best-drift S/N maps as one :class:`ScanSearch` ((m, F) maps,
    (m, F + 2 x edge_channels) with edges), and the largest drift index searched.

    ``time_binning`` b > 1 first sums b consecutive time steps: the tree then has b times fewer
    rows (about 5x less work for b = 4) and reaches |drift| <= 1 / b channel per step, over
    which a line moves at most one channel within a bin. Unbinned, drifts beyond one channel
    per step are searched in drift blocks (one more tree per block and sign). ``clip_sigma``
    > 0 clips bright pixels first (:func:`clip_bright`; the caller's array is left alone).
    ``edge_channels`` > 0 also searches start channels that far outside the band on both
    sides: the maps are then (m, F + 2 x edge_channels), column 0 being channel
    ``-edge_channels`` (``ScanSearch.first_channel``); the in-band columns are unchanged.
    """
    count, height, channels = scans.shape
    if time_binning < 1:
        raise ValueError("time_binning must be at least 1")
    if edge_channels < 0:
        raise ValueError(f"edge_channels must be at least 0, got {edge_channels}")
    if time_binning > 1 and max_drift * time_binning > 1.0 + 1e-9:
        raise ValueError(
            f"max_drift above 1 / time_binning = {1 / time_binning:g} channel per "
            "time step is not supported"
        )
    rows = tree_rows(height // time_binning)
    used = scans[:, : rows * time_binning]
    baseline = None
    if clip_sigma > 0:  # per pixel, so before binning, on a copy
        used = np.array(used, dtype=np.float32, order="C")
        baseline = bandpass(used, bandpass_window)
        clip_bright(used, baseline, clip_sigma)
    if time_binning > 1:
        used = used.reshape(count, rows, time_binning, channels).sum(axis=2, dtype=np.float32)
        baseline = None
    used = np.ascontiguousarray(used, dtype=np.float32)
    steps_per_row_drift = (rows - 1) * time_binning  # drift index d = d / this ch per step
    max_index = int(np.floor(max_drift * steps_per_row_drift + 1e-9))
    if baseline is None:  # clipping moved the bandpass of a line's channels by a hair only
        baseline = bandpass(used, bandpass_window)
    if edge_channels > 0:
        pad = ((0, 0), (0, 0), (edge_channels, edge_channels))
        used = np.pad(used, pad)
        baseline = np.pad(baseline, pad[1:])
    best, index, zero = best_drift_sums(used, baseline, max_index)
    centre, scale = noise_level(zero[:, edge_channels : edge_channels + channels], noise)
    snr = (best - centre) / np.maximum(scale, 1e-6)
    search = ScanSearch(snr, index / steps_per_row_drift, 1.0 / steps_per_row_drift, -edge_channels)
    return search, max_index


def search_cadences(
    cadences: np.ndarray,
    max_drift: float = 1.0,
    time_binning: int = 1,
    bandpass_window: int = 17,
    clip_sigma: float = 0.0,
    edge_channels: int = 0,
) -> list[ScanSearch]:
    """(n, scans, T, F) -> per cadence the best-drift S/N map of every scan, (scans, F +
    2 x edge_channels) (see :func:`search_scans`)."""
    n, scans, height, channels = cadences.shape
    flat = cadences.reshape(n * scans, height, channels)
    search, _ = search_scans(
        flat,
        max_drift,
        time_binning,
        bandpass_window,
        clip_sigma=clip_sigma,
        edge_channels=edge_channels,
    )
    snr = search.snr.reshape(n, scans, -1)
    drift = search.drift.reshape(n, scans, -1)
    return [ScanSearch(snr[i], drift[i], search.drift_step, search.first_channel) for i in range(n)]


def find_hits(search: ScanSearch, threshold: float, window: int, top: int) -> list[Hit]:
    """Local maxima of the best S/N within +-window channels, at least ``threshold``; per scan
    the ``top`` strongest, strongest first."""
    neighbourhood = maximum_filter1d(
        search.snr, size=2 * window + 1, axis=-1, mode="constant", cval=-np.inf
    )
    hits = []
    for scan, values in enumerate(search.snr):
        peaks = np.flatnonzero((values >= neighbourhood[scan]) & (values >= threshold))
        peaks = peaks[np.argsort(-values[peaks], kind="stable")][:top]
        drifts, snrs = search.drift[scan, peaks].tolist(), values[peaks].tolist()
        hits += [
            Hit(scan, channel + search.first_channel, drift, snr)
            for channel, drift, snr in zip(peaks.tolist(), drifts, snrs, strict=True)
        ]
    return hits


@dataclass(frozen=True)
class CadenceResult:
    level: int  # highest filter level an ON hit reaches (0-3)
    score: float  # ranks cadences (events.cadence_score)
    hits: list[Hit]  # every hit at or above min(snr_threshold, off_snr_threshold), flagged


def contrast(search: ScanSearch, rules: EventRules) -> float:
    """Best over ON scans and channels of the S/N there minus the best OFF-scan S/N within
    +-``rules.contrast_window`` channels of the same channel or of where that channel's best
    drift carries it by the OFF scan's start (RFI restarting each scan, or going on through
    the cadence): how far the ON scans rise above the OFF scans, hit or not; -inf without ON
    scans."""
    scans, channels = search.snr.shape
    on = [s for s in range(scans) if s in rules.on_scans]
    off = [s for s in range(scans) if s not in rules.on_scans]
    if not on:
        return -np.inf
    if not off:
        return float(search.snr[on].max())
    size = 2 * rules.contrast_window + 1
    nearby = {o: maximum_filter1d(search.snr[o], size=size, mode="nearest") for o in off}
    positions = np.arange(channels)  # columns; channel = column + search.first_channel
    best = -np.inf
    for scan in on:
        evidence = np.full(channels, -np.inf, np.float32)
        for other, local in nearby.items():
            moved = positions + search.drift[scan] * rules.elapsed(scan, other)
            inside = (moved > -0.5) & (moved < channels - 0.5)
            carried = np.where(
                inside, local[np.clip(np.rint(moved), 0, channels - 1).astype(int)], -np.inf
            )
            evidence = np.maximum(evidence, np.maximum(local, carried))
        best = max(best, float((search.snr[scan] - evidence).max()))
    return best


def score_cadence(search: ScanSearch, rules: EventRules) -> CadenceResult:
    """turboSETI's find_event over one cadence's hits (:func:`setibl.classical.events.find_events`)
    and its ranking score."""
    floor = min(rules.snr_threshold, rules.off_snr_threshold)
    hits = find_events(
        find_hits(search, floor, rules.hit_window, rules.top_hits), rules, search.drift_step
    )
    level = max((h.level for h in hits), default=0)
    score = cadence_score(hits, rules, search.drift_step, lambda: contrast(search, rules))
    return CadenceResult(level, score, hits)


def cadence_prediction(level: int, score: float, filter_level: int) -> float:
    """Map (level, score) into [0, 1], ordered by (passes filter_level, score), without ties
    among distinct scores (see :func:`setibl.classical.events.prediction`)."""
    return prediction(level, score, filter_level)


def run_search(
    cadences: np.ndarray,
    ids: Sequence[str],
    rules: EventRules,
    settings: DedopplerConfig,
    filter_level: int,
) -> tuple[list[dict], list[dict]]:
    """Predictions (id, target, score, level) and hits rows for a batch of cadences."""
    predictions, hit_rows = [], []
    if settings.blank_off_lit:
        cadences = blank_off_lit_channels(cadences, rules.on_scans)
    searches = search_cadences(
        cadences,
        max_drift=settings.max_drift,
        time_binning=settings.time_binning,
        bandpass_window=settings.bandpass_window,
        clip_sigma=settings.clip_sigma,
        edge_channels=settings.edge_channels,
    )
    for ident, search in zip(ids, searches, strict=True):
        result = score_cadence(search, rules)
        predictions.append(
            {
                "id": ident,
                "target": cadence_prediction(result.level, result.score, filter_level),
                "score": result.score,
                "level": result.level,
            }
        )
        hit_rows.extend({"id": ident, **asdict(hit)} for hit in result.hits)
    return predictions, hit_rows
