"""Synthetic Breakthrough Listen cadences: what each holds, drawn from the ``[synth]`` config:
needles (ON scans only), RFI (ON and OFF scans, on the same path kinds and drifts), broadband
bursts; :mod:`setibl.data.rendering` turns them into pixels.

A cadence is six scans A B A C A D of ``height`` time steps each, separated by slew gaps of
``gap_steps``; a signal's path is one continuous function of the cadence's absolute time, so a
needle seen in ON scans 0, 2 and 4 shows the same line displaced by its drift.
"""

from __future__ import annotations

import numpy as np

from setibl.config import OFF_SCANS, ON_SCANS, SynthConfig
from setibl.data.rendering import (
    PROFILES,
    CadenceGeometry,
    add_signal,
    make_noise,
    normalise_scans,
    path_channels,
    visible_scans,
)


def _common(rng: np.random.Generator, config: SynthConfig, role: str, kind: str) -> dict:
    snr = float(np.exp(rng.uniform(np.log(config.snr_min), np.log(config.snr_max))))
    width_hz = float(rng.uniform(config.width_min_hz, config.width_max_hz))
    return {
        "role": role,
        "kind": kind,
        "snr": snr,
        "profile": str(rng.choice(PROFILES)),
        "width_hz": width_hz,
        "width_ch": width_hz / config.df_hz,
        "drift_ch_per_step": 0.0,
        "f_start_channel": 0.0,
        "amplitude_ch": 0.0,
        "period_steps": 0.0,
        "phase": 0.0,
        "walk_ch": 0.0,
        "t_start_step": 0,
        "duration_steps": 0,
    }


def _anchor(signal: dict, geometry: CadenceGeometry, scan: int, channel: float) -> None:
    """Choose f_start so the path passes ``channel`` at the middle of ``scan``."""
    t_mid = geometry.scan_start(scan) + geometry.height // 2
    signal["f_start_channel"] = 0.0
    signal["f_start_channel"] = float(channel - path_channels(signal, np.array([t_mid]))[0])


PATH_KINDS = ("constant", "sine", "squiggle", "steep")  # paths needles and RFI both take
LEGACY_RFI_KINDS = ("stationary", "drifting")  # the old RFI: zero drift, or slow near the centre


def _draw_path(
    rng: np.random.Generator, geometry: CadenceGeometry, config: SynthConfig, signal: dict
) -> None:
    """Drift, and the sine or random-walk terms, of a path of ``signal["kind"]``.

    One distribution for needles and RFI alike, so a path's shape says nothing of its role.
    """
    kind = signal["kind"]
    sign = rng.choice([-1.0, 1.0])
    if kind == "steep":
        drift = rng.uniform(0.3, max(0.31, config.steep_drift_max))
    else:
        drift = rng.uniform(0.0, config.drift_max)
    signal["drift_ch_per_step"] = float(sign * drift)
    if kind == "sine":
        signal["amplitude_ch"] = float(rng.uniform(2.0, 15.0))
        signal["period_steps"] = float(rng.uniform(50.0, 400.0))
        signal["phase"] = float(rng.uniform(0, 2 * np.pi))
    elif kind == "squiggle":
        signal["walk_ch"] = float(rng.uniform(0.05, 0.3))
        steps = rng.uniform(-1.0, 1.0, geometry.total_steps) * signal["walk_ch"]
        signal["walk"] = np.cumsum(steps)


def _anchor_channel(rng: np.random.Generator, geometry: CadenceGeometry) -> float:
    return float(rng.uniform(16, geometry.width - 16))


def draw_needle(rng: np.random.Generator, geometry: CadenceGeometry, config: SynthConfig) -> dict:
    """A needle in some or all ON scans, with a path continuous over the whole cadence."""
    for _ in range(100):
        kind = str(rng.choice(config.needle_kinds))
        signal = _common(rng, config, "needle", kind)
        _draw_path(rng, geometry, config, signal)
        if kind == "steep":
            enabled = [int(rng.choice(ON_SCANS))]
        elif rng.uniform() < config.partial_on_fraction:
            count = int(rng.integers(1, len(ON_SCANS)))
            enabled = sorted(int(s) for s in rng.choice(ON_SCANS, count, replace=False))
        else:
            enabled = list(ON_SCANS)
        signal["enabled_scans"] = enabled
        _anchor(signal, geometry, int(rng.choice(enabled)), _anchor_channel(rng, geometry))
        signal["scans"] = visible_scans(signal, geometry)
        if signal["scans"]:
            return signal
    raise RuntimeError("could not place a visible needle; check synth drift settings")


def _line_rfi(rng: np.random.Generator, geometry: CadenceGeometry, config: SynthConfig, kind: str):
    """RFI on a needle-like path, in every scan, anchored anywhere in the band.

    A steep path crosses the band within one scan; as RFI it repeats (the path wraps around
    the band, like a sweeping transmitter), so it shows up in OFF scans too. Draws again
    until the RFI is visible in at least one OFF scan: what makes it RFI.
    """
    for _ in range(100):
        signal = _common(rng, config, "rfi", kind)
        _draw_path(rng, geometry, config, signal)
        signal["enabled_scans"] = list(range(geometry.scans))
        if kind == "steep":
            signal["wrap_margin_ch"] = signal["width_ch"] * 8.0 + 2.0
            signal["wrap_ch"] = geometry.width + 2 * signal["wrap_margin_ch"]
        scan = int(rng.integers(0, geometry.scans))
        _anchor(signal, geometry, scan, _anchor_channel(rng, geometry))
        _unsteady(rng, geometry, config, signal, scan)
        signal["scans"] = visible_scans(signal, geometry)
        if _seen_off(signal, config):
            return signal
    raise RuntimeError("could not place RFI visible in an OFF scan; check synth drift settings")


def _seen_off(signal: dict, config: SynthConfig) -> bool:
    """Visible in an OFF scan, and there (with its scan's level factor) no fainter than the
    faintest needle: RFI all but gone from the OFF scans would pass for a needle."""
    factors = signal.get("scan_level_factors")
    return any(
        signal["snr"] * (factors[scan] if factors else 1.0) >= config.snr_min
        for scan in signal["scans"]
        if scan in OFF_SCANS
    )


def _unsteady(
    rng: np.random.Generator,
    geometry: CadenceGeometry,
    config: SynthConfig,
    signal: dict,
    anchor_scan: int,
) -> None:
    """Per-scan level factors and frequency hops of RFI, drawn only where the config asks for
    them (a steady config draws nothing: its cadences stay byte-identical). Hops are a random
    walk over the scans, zero at the scan the path was anchored in; the path within a scan keeps
    its shape."""
    if config.rfi_level_spread > 0:
        spread = rng.normal(0.0, config.rfi_level_spread, geometry.scans)
        signal["scan_level_factors"] = [float(v) for v in np.exp(spread)]
    if config.rfi_hop_fraction > 0 and rng.uniform() < config.rfi_hop_fraction:
        sigma = float(np.exp(rng.uniform(0.0, np.log(config.rfi_hop_max_ch))))
        walk = np.cumsum(rng.normal(0.0, sigma, geometry.scans))
        signal["scan_shifts_ch"] = [float(v) for v in walk - walk[anchor_scan]]


def draw_rfi(rng: np.random.Generator, geometry: CadenceGeometry, config: SynthConfig) -> dict:
    """Interference present in ON and OFF scans alike (visible in at least one OFF scan)."""
    kind = str(rng.choice(config.rfi_kinds))
    if kind in PATH_KINDS:
        return _line_rfi(rng, geometry, config, kind)
    signal = _common(rng, config, "rfi", kind)
    all_scans = list(range(geometry.scans))
    if kind == "stationary":
        signal["enabled_scans"] = all_scans
        _anchor(signal, geometry, 0, rng.uniform(0, geometry.width))
    elif kind == "drifting":
        limit = min(config.drift_max, 0.8 * geometry.width / geometry.total_steps)
        signal["drift_ch_per_step"] = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.005, limit))
        signal["enabled_scans"] = all_scans
        centre_scan = geometry.scans // 2
        _anchor(signal, geometry, centre_scan, geometry.width / 2 + rng.uniform(-20, 20))
    elif kind == "broadband":
        count = int(rng.integers(1, 4))
        scans = set(int(s) for s in rng.choice(all_scans, count, replace=False))
        scans.add(int(rng.choice(OFF_SCANS)))  # always somewhere OFF too
        signal["enabled_scans"] = sorted(scans)
        signal["duration_steps"] = int(rng.integers(1, 6))
        signal["t_start_step"] = int(rng.integers(0, geometry.height - signal["duration_steps"]))
        signal["profile"] = "flat"
        signal["width_hz"] = geometry.width * config.df_hz
        signal["width_ch"] = float(geometry.width)
    else:
        raise ValueError(f"unknown RFI kind {kind!r}")
    signal["scans"] = visible_scans(signal, geometry)
    return signal


def make_cadence(
    rng: np.random.Generator,
    geometry: CadenceGeometry,
    config: SynthConfig,
    needle: bool,
    rfi: bool,
) -> tuple[np.ndarray, list[dict]]:
    """One normalised cadence, (scans, height, width) float16, and the signals injected in it."""
    data = make_noise(rng, geometry, config)
    signals: list[dict] = []
    if rfi:
        # one draw fewer when a single RFI signal is the rule: older sets stay byte-identical
        count = 1 if config.rfi_count_max == 1 else int(rng.integers(1, config.rfi_count_max + 1))
        signals.extend(draw_rfi(rng, geometry, config) for _ in range(count))
    if needle:
        signals.append(draw_needle(rng, geometry, config))
    for signal in signals:
        tchans = geometry.width if signal["kind"] == "broadband" else geometry.height
        add_signal(data, signal, geometry, config, tchans)
    return normalise_scans(data, dtype=np.float16), signals
