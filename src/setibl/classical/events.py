"""turboSETI's find_event over the hits of one cadence, and the cadence score that ranks.

Hits are typed rows (:class:`Hit`): scan index, start channel, drift (channels per time step),
S/N, and after filtering the veto flag and the filter level. Frequencies are channel indices
and times are time steps; a file cadence converts its MHz / Hz/s / s with the channel width
and the sampling time, so the rules are turboSETI's in any unit.

Filter levels, as ``turbo_seti.find_event.find_events`` computes them (tested against it):

1. An ON hit with S/N above ``snr_threshold`` (strictly, as turboSETI) and a drift allowed by
   ``min_drift`` (|drift| >= min_drift; turboSETI drops exactly-zero drifts, min_drift > 0
   does that, 0 keeps them).
2. Level 1 and no OFF hit (S/N >= ``off_snr_threshold``) strictly inside the veto range.
   ``veto_window="turboseti"`` (default): turboSETI's ``calc_freq_range(hit)``, the hit's
   channel +- |max drift of the search| x the scan length (one channel per step if the max
   drift is 0). For a search reaching one channel per step over a 256-channel snippet that is
   the whole snippet: any OFF hit vetoes, which is what stops RFI that wanders between scans.
   ``"narrow"`` (setibl's earlier rule, optional): the place the hit's own drift predicts in
   the OFF scan, +- ``off_tolerance`` channels plus one drift step's spread.
3. Level 2 hits of the first ON scan found again at level 2 in every other ON scan, inside
   turboSETI's ``follow_event`` range: the predicted channel (channel + drift x time between
   scan starts) +- |drift| x 2 scan lengths (a zero drift, met only with min_drift = 0: one
   drift step instead of turboSETI's one channel per step, which never finds it again); those
   first-scan hits and every level-2 hit inside their follow ranges (all ON scans) form the
   events. (turboSETI also drops an event group whose first hit was already listed by an
   earlier group; here a hit simply belongs to the events once.) ``"narrow"`` follows with
   the narrow window.

Cadence score (``score``, for ranking; levels are unaffected): over the level-2 ON hits,

- ``"snr"``: the best S/N;
- ``"on_scans"``: ON scans holding the event (the hit plus, in each other ON scan, a level-2
  hit in its follow range), S/N breaking ties: ``n + snr / (snr + 100)``;
- ``"combined"``: the stacked S/N of that group, sqrt(sum of S/N^2).

A cadence with no level-2 ON hit scores below every one that has one, in (-1, 0), by its OFF
margin ``d`` (:func:`off_margin`): the best ON hit's S/N minus ``veto_weight`` (3) x its OFF
evidence, the largest OFF hit S/N weighted 1 where the ON hit's drift predicts it or at the
same drift up to ``veto_drift_reach`` channels away, and exp(-channels apart /
``veto_distance``) elsewhere, mapped as
``(d / (|d| + 10) - 1) / 2``. So a needle beside RFI that the whole-snippet window vetoes
still ranks above cadences whose ON lines recur in OFF, at their place, at their drift, or a
few channels away.

A cadence with no ON hit at all above ``snr_threshold`` scores in (-2, -1), by the ON-OFF
contrast of its S/N maps (:func:`setibl.classical.dedoppler.contrast`, below the hit threshold
too: the best ON S/N minus the best OFF S/N within ``contrast_window`` channels of the same
channel or of where its drift leads), mapped as ``-1.5 + 0.5 c / (|c| + 10)``: faint or curved
needles that no straight track lifts above the threshold still rank above empty cadences and
others whose ON scans hold nothing above the threshold either (without maps: -1.5). A
cadence with any vetoed ON hit above the threshold ranks above the whole tier.
Every map is strictly increasing and unbounded maps stay distinct in float64, so strong
cadences do not tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from setibl.config import ON_SCANS

VETO_WINDOWS = ("turboseti", "narrow")
CADENCE_SCORES = ("snr", "on_scans", "combined")


@dataclass(frozen=True)
class Hit:
    """One hit: best drift at a local S/N maximum of one scan; ``vetoed`` / ``level`` are set
    by :func:`find_events` (0 for OFF hits and ON hits below level 1)."""

    scan: int
    channel: float  # start channel (first time step)
    drift_ch_per_step: float
    snr: float
    vetoed: bool = False
    level: int = 0


HIT_FIELDS = tuple(f.name for f in fields(Hit))


@dataclass(frozen=True)
class EventRules:
    snr_threshold: float = 7.0
    off_snr_threshold: float = 8.0
    hit_window: int = 8
    top_hits: int = 8
    off_tolerance: int = 4
    on_scans: tuple[int, ...] = ON_SCANS
    scan_period: int = 283  # time steps from one scan's start to the next's (scan + gap)
    scan_starts: tuple[float, ...] = ()  # each scan's start, time steps; () = every scan_period
    veto_window: str = "turboseti"
    max_drift: float = 1.0  # the search's largest |drift|, channels per step (turboSETI window)
    scan_length: float = 273.0  # time steps of one scan (turboSETI's obs_length)
    min_drift: float = 0.0  # ON hits need |drift| >= this (channels per step)
    score: str = "snr"
    # ranking of vetoed cadences (see evidence_weight): ON S/N - veto_weight x OFF evidence
    veto_drift_tolerance: float = 0.03  # channels per step
    veto_weight: float = 3.0
    veto_distance: float = 10.0  # channels; 0: OFF hits elsewhere do not count
    veto_drift_reach: float = 60.0  # channels: same-drift OFF hits count within this
    contrast_window: int = 10  # channels: ON-OFF map contrast of cadences without an ON hit

    def __post_init__(self) -> None:
        if self.veto_window not in VETO_WINDOWS:
            raise ValueError(f"veto_window must be one of {VETO_WINDOWS}, got {self.veto_window!r}")
        if self.score not in CADENCE_SCORES:
            raise ValueError(f"score must be one of {CADENCE_SCORES}, got {self.score!r}")

    def elapsed(self, from_scan: int, to_scan: int) -> float:
        """Time steps from the start of one scan to the start of another."""
        if self.scan_starts:
            return self.scan_starts[to_scan] - self.scan_starts[from_scan]
        return float((to_scan - from_scan) * self.scan_period)


def _narrow(hit: Hit, scan: int, rules: EventRules, drift_step: float) -> tuple[float, float]:
    elapsed = rules.elapsed(hit.scan, scan)
    centre = hit.channel + hit.drift_ch_per_step * elapsed
    half = rules.off_tolerance + abs(elapsed) * drift_step
    return centre - half - 1e-9, centre + half + 1e-9  # closed window as an open range


def veto_range(hit: Hit, scan: int, rules: EventRules, drift_step: float) -> tuple[float, float]:
    """Open channel range of OFF scan ``scan`` where an OFF hit vetoes ``hit``."""
    if rules.veto_window == "narrow":
        return _narrow(hit, scan, rules, drift_step)
    rate = abs(rules.max_drift) or 1.0  # turboSETI: DELTAF / DELTAT when the max drift is 0
    half = rate * rules.scan_length
    return hit.channel - half, hit.channel + half


def follow_range(hit: Hit, scan: int, rules: EventRules, drift_step: float) -> tuple[float, float]:
    """Open channel range of ON scan ``scan`` where ``hit`` is found again."""
    if rules.veto_window == "narrow":
        return _narrow(hit, scan, rules, drift_step)
    rate = hit.drift_ch_per_step
    centre = hit.channel + rate * rules.elapsed(hit.scan, scan)
    # turboSETI moves a zero-drift hit by one channel per step (DELTAF / DELTAT), so it is
    # never found again; turboSETI drops zero drifts first, so only min_drift = 0 meets one
    # here: it stays put, within one drift step's spread
    half = max(abs(rate), drift_step) * 2.0 * rules.scan_length
    return centre - half, centre + half


def _inside(hit: Hit, bounds: tuple[float, float]) -> bool:
    return bounds[0] < hit.channel < bounds[1]


def find_events(hits: list[Hit], rules: EventRules, drift_step: float) -> list[Hit]:
    """The hits with their veto flag (ON hits) and filter level (see the module docstring)."""
    on_scans = list(rules.on_scans)
    off = [h for h in hits if h.scan not in on_scans and h.snr >= rules.off_snr_threshold]

    def vetoed(hit: Hit) -> bool:
        return any(_inside(o, veto_range(hit, o.scan, rules, drift_step)) for o in off)

    out = {}
    for index, hit in enumerate(hits):
        if hit.scan not in on_scans:
            out[index] = replace(hit, vetoed=False, level=0)
            continue
        passes = hit.snr > rules.snr_threshold and abs(hit.drift_ch_per_step) >= rules.min_drift
        veto = vetoed(hit)
        out[index] = replace(hit, vetoed=veto, level=(1 if veto else 2) if passes else 0)
    level2 = {s: [i for i, h in out.items() if h.scan == s and h.level == 2] for s in on_scans}
    if all(level2.values()):  # turboSETI needs level-2 hits in every ON scan
        first, others = on_scans[0], on_scans[1:]
        for i in level2[first]:
            hit = out[i]
            ranges = {s: follow_range(hit, s, rules, drift_step) for s in on_scans}
            if all(any(_inside(out[j], ranges[s]) for j in level2[s]) for s in others):
                for s in on_scans:
                    for j in level2[s]:
                        if j == i or _inside(out[j], ranges[s]):
                            out[j] = replace(out[j], level=3)
    return [out[i] for i in range(len(hits))]


def off_margin(hits: list[Hit], rules: EventRules, drift_step: float) -> float:
    """Best over the ON hits that pass level 1 of ``S/N - veto_weight x its OFF evidence``, the
    largest S/N of an OFF hit (S/N >= the OFF threshold) weighted by :func:`evidence_weight`;
    -inf if there is none."""
    off = [h for h in hits if h.scan not in rules.on_scans and h.snr >= rules.off_snr_threshold]
    best = -math.inf
    candidates = (  # ON hits that pass level 1's S/N and drift rules
        h
        for h in hits
        if h.scan in rules.on_scans
        and h.snr > rules.snr_threshold
        and abs(h.drift_ch_per_step) >= rules.min_drift
    )
    for hit in candidates:
        evidence = max((o.snr * evidence_weight(hit, o, rules, drift_step) for o in off), default=0)
        best = max(best, hit.snr - rules.veto_weight * evidence)
    return best


def evidence_weight(hit: Hit, off_hit: Hit, rules: EventRules, drift_step: float) -> float:
    """How much an OFF hit speaks against an ON hit: fully where the ON hit's drift predicts it
    (the narrow window) or at the same drift (within ``veto_drift_tolerance``) up to
    ``veto_drift_reach`` channels away (RFI that restarts each scan keeps its drift); otherwise
    by closeness, exp(-channels apart / ``veto_distance``) (RFI that wanders a few channels
    between scans wanders in drift too; a needle tens of channels from RFI keeps its S/N)."""
    same_drift = (
        abs(off_hit.drift_ch_per_step - hit.drift_ch_per_step) <= rules.veto_drift_tolerance
    )
    if same_drift and abs(off_hit.channel - hit.channel) <= rules.veto_drift_reach:
        return 1.0
    if _inside(off_hit, _narrow(hit, off_hit.scan, rules, drift_step)):
        return 1.0
    if rules.veto_distance <= 0:
        return 0.0
    return math.exp(-abs(off_hit.channel - hit.channel) / rules.veto_distance)


def cadence_score(
    hits: list[Hit],
    rules: EventRules,
    drift_step: float,
    contrast: Callable[[], float] | None = None,
) -> float:
    """One number that ranks cadences (see the module docstring); ``hits`` from
    :func:`find_events`, ``contrast`` gives the ON-OFF contrast of the cadence's S/N maps,
    called only when no ON hit passes the S/N threshold (most cadences never need it)."""
    passed = [h for h in hits if h.level >= 2]
    if not passed:
        margin = off_margin(hits, rules, drift_step)
        if math.isfinite(margin):
            return (margin / (abs(margin) + 10.0) - 1.0) / 2.0
        value = contrast() if contrast is not None else math.nan
        if not math.isfinite(value):
            return -1.5
        return -1.5 + 0.5 * value / (abs(value) + 10.0)
    if rules.score == "snr":
        return max(h.snr for h in passed)
    best = -math.inf
    for hit in passed:
        group = [hit.snr]
        for scan in rules.on_scans:
            if scan != hit.scan:
                bounds = follow_range(hit, scan, rules, drift_step)
                found = [h.snr for h in passed if h.scan == scan and _inside(h, bounds)]
                if found:
                    group.append(max(found))
        if rules.score == "on_scans":
            value = len(group) + hit.snr / (hit.snr + 100.0)
        else:
            value = math.sqrt(sum(s * s for s in group))
        best = max(best, value)
    return best


def prediction(level: int, score: float, filter_level: int) -> float:
    """(level, score) -> [0, 1], strictly increasing in score: ``filter_level`` 0 ranks by
    score alone; 1-3 put cadences that reach it above all others."""
    squashed = 0.5 + 0.5 * score / (abs(score) + 10.0)  # no saturation: distinct scores stay so
    if filter_level == 0:
        return squashed
    return 0.5 + 0.5 * squashed if level >= filter_level else 0.5 * squashed
