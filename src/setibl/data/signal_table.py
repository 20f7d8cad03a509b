"""Rows of ``needles.csv``: one per injected signal (needle or RFI), with drift also in Hz/s and
the start also in Hz, and each RFI's per-scan level factors and frequency hops."""

from __future__ import annotations

from setibl.config import SynthConfig


def signal_row(snippet_id: str, split: str, signal: dict, config: SynthConfig) -> dict:
    """One row of needles.csv; drift also in Hz/s and f_start also in Hz (ascending band)."""
    return {
        "id": snippet_id,
        "split": split,
        "role": signal["role"],
        "kind": signal["kind"],
        "scans": ",".join(str(s) for s in signal["scans"]),
        "f_start_channel": round(signal["f_start_channel"], 4),
        "f_start_hz": round(config.fch1_mhz * 1e6 + signal["f_start_channel"] * config.df_hz, 3),
        "drift_ch_per_step": round(signal["drift_ch_per_step"], 6),
        "drift_rate": round(signal["drift_ch_per_step"] * config.df_hz / config.dt_s, 6),
        "profile": signal["profile"],
        "width_hz": round(signal["width_hz"], 4),
        "snr": round(signal["snr"], 4),
        "amplitude_ch": round(signal["amplitude_ch"], 4),
        "period_steps": round(signal["period_steps"], 4),
        "walk_ch": round(signal["walk_ch"], 4),
        "t_start_step": signal["t_start_step"],
        "duration_steps": signal["duration_steps"],
        "scan_level_factors": _joined(signal.get("scan_level_factors"), 3),
        "scan_shifts_ch": _joined(signal.get("scan_shifts_ch"), 2),
    }


def _joined(values: list[float] | None, digits: int) -> str:
    """Per-scan values as "a,b,..." (empty when the signal has none)."""
    return ",".join(f"{v:.{digits}f}" for v in values) if values else ""


NEEDLE_COLUMNS = list(
    signal_row(
        "x",
        "train",
        {
            "role": "",
            "kind": "",
            "scans": [],
            "f_start_channel": 0.0,
            "drift_ch_per_step": 0.0,
            "profile": "",
            "width_hz": 0.0,
            "snr": 0.0,
            "amplitude_ch": 0.0,
            "period_steps": 0.0,
            "walk_ch": 0.0,
            "t_start_step": 0,
            "duration_steps": 0,
        },
        SynthConfig(),
    )
)
