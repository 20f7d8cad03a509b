"""Pictures and one self-contained HTML page of a scan: the six scans around each top candidate.

A stamp is every scan's data over the channels a candidate's track crosses during the cadence
(its drift carried on through the OFF scans and the slews), plus ``margin`` channels each side,
within its coarse channel: a needle shows as one line through the ON scans and nothing in the
OFF scans, RFI in all six.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.io import atomic_write_text
from setibl.measure import plots
from setibl.measure.page import IMAGE_CHECK, STYLE, embedded_image, html_table
from setibl.measure.scan_tables import CANDIDATE_COLUMNS, read_scan_csv
from setibl.observations.filterbank import coarse_block, read_header

REPORT_FILE = "report.html"
STAMPS_FOLDER = "stamps"
HIDDEN_COLUMNS = ("window", "event")  # ids for joining the tables, not for reading
SHOWN_COLUMNS = ["rank", *(c for c in CANDIDATE_COLUMNS if c not in HIDDEN_COLUMNS)]


def stamp(
    paths: Sequence[str | os.PathLike],
    coarse_channels: int,
    candidate: pd.Series,
    margin: int = 32,
) -> tuple[np.ndarray, int]:
    """(scans, time, channels) float32 around ``candidate``'s track, and its first channel
    (index in the file)."""
    headers = [read_header(p) for p in paths]
    first = headers[0]
    fine = first.channels // coarse_channels
    coarse = int(candidate["coarse_channel"])
    drift = float(candidate["drift_hz_per_s"]) if pd.notna(candidate["drift_hz_per_s"]) else 0.0
    moves = []
    for header in headers:  # the track's place at each scan's start and end, file channels
        for seconds in (0.0, header.time_steps * header.tsamp_s):
            elapsed = (header.tstart_mjd - first.tstart_mjd) * 86400.0 + seconds
            moves.append(drift * elapsed / (first.foff_mhz * 1e6))
    centre = int(candidate["channel"]) - coarse * fine
    low = max(0, int(np.floor(centre + min(moves))) - margin)
    high = min(fine, int(np.ceil(centre + max(moves))) + margin + 1)
    blocks = [
        coarse_block(p, h, coarse, coarse_channels)[:, low:high]
        for p, h in zip(paths, headers, strict=True)
    ]
    steps = min(block.shape[0] for block in blocks)
    return np.stack([block[:steps] for block in blocks]), coarse * fine + low


def draw_stamps(
    out: str | os.PathLike,
    candidates: pd.DataFrame,
    cadences: dict[str, Sequence[str]],
    coarse_channels: dict[str, int],
    top: int,
) -> list[tuple[pd.Series, Path]]:
    """PNGs ``out/stamps/rank-<n>.png`` of the ``top`` best candidates."""
    folder = Path(out) / STAMPS_FOLDER
    drawn = []
    for _, candidate in candidates.head(top).iterrows():
        name = str(candidate["cadence"])
        data, first = stamp(cadences[name], coarse_channels[name], candidate)
        notes = [
            f"{candidate['frequency_mhz']:.6f} MHz, drift {candidate['drift_hz_per_s']:.3g} Hz/s, "
            f"S/N {candidate['snr']:.1f}, CNN {candidate['cnn_score']:.3f}, "
            f"level {candidate['level']}",
            f"channels {first}..{first + data.shape[-1] - 1} of the file",
        ]
        picture = folder / f"rank-{int(candidate['rank']):04d}.png"
        drawn.append(
            (candidate, plots.plot_cadence(data, picture, f"{name} #{candidate['rank']}", notes))
        )
    return drawn


def build_scan_report(
    out: str | os.PathLike,
    cadences: dict[str, Sequence[str]],
    coarse_channels: dict[str, int],
    top: int = 10,
) -> Path:
    """``out/report.html``: the ranked candidates, the scan's units and the stamps of the
    ``top`` best, every picture embedded (no file outside the page is needed)."""
    out = Path(out)
    candidates = read_scan_csv(out / "candidates.csv")
    units = read_scan_csv(out / "results" / "units.csv")
    drawn = draw_stamps(out, candidates, cadences, coarse_channels, top)
    files = pd.DataFrame(
        [(name, i, Path(p).name) for name, paths in cadences.items() for i, p in enumerate(paths)],
        columns=["cadence", "scan", "file"],
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>setibl scan</title>",
        STYLE,
        "</head><body>",
        "<h1>setibl scan</h1>",
        f"<p>{len(cadences)} cadence(s), {len(units)} unit(s), {int(units['windows'].sum())} "
        f"window(s) scored, {len(candidates)} candidate(s).</p>",
        "<h2>Candidates</h2>",
        html_table(candidates[[c for c in SHOWN_COLUMNS if c in candidates]].head(100)),
        f"<h2>Top {len(drawn)}</h2>",
    ]
    for candidate, picture in drawn:
        alt = f"candidate {int(candidate['rank'])}"
        parts += [f"<h3>{html.escape(alt)}</h3>", embedded_image(picture, alt)]
    parts += ["<h2>Files</h2>", html_table(files), "<h2>Units</h2>", html_table(units)]
    parts += [IMAGE_CHECK, "</body></html>"]
    return atomic_write_text(out / REPORT_FILE, "\n".join(parts))
