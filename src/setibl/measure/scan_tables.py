"""The tables ``setibl scan`` writes, named once: their columns, and how to read them back.

Light on purpose (pandas only, no plotting): scan workers import it to build rows, the report
imports it to show them.
"""

from __future__ import annotations

import os

import pandas as pd

from setibl.classical.files import CADENCE_COLUMNS
from setibl.io import read_csv_text

# one row a candidate: an ON event, or a window the model scores high without an event
CANDIDATE_COLUMNS = [
    "cadence",
    "frequency_mhz",  # at the first scan's start
    "drift_hz_per_s",
    "cnn_score",  # best window holding it (NaN without a model)
    "snr",  # de-Doppler S/N (NaN for a window-only candidate)
    "level",  # filter level (0: no classical event)
    "on_scans",  # ON scans matched, e.g. "0 2 4"
    "window",  # first channel of the best window (NaN without a model)
    "coarse_channel",
    "channel",  # file channel at the first scan's start
    "event",  # "<unit>#<n>" joining the hits grouped into it; "" for a window-only candidate
]
HIT_COLUMNS = ["cadence", *CADENCE_COLUMNS, "event"]
WINDOW_COLUMNS = ["cadence", "coarse_channel", "window", "cnn_score"]
UNIT_COLUMNS = ["unit", "cadence", "first_coarse", "last_coarse", "windows", "hits", "seconds"]
TABLES = {
    "candidates": CANDIDATE_COLUMNS,
    "hits": HIT_COLUMNS,
    "windows": WINDOW_COLUMNS,
    "units": UNIT_COLUMNS,
}
TEXT_COLUMNS = ("cadence", "event", "file", "on_scans", "unit")  # read back as strings


def read_scan_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A table the scan wrote, its names as written (a cadence ``007`` stays ``007``): the
    :data:`TEXT_COLUMNS` are strings, ``""`` when empty."""
    return read_csv_text(path, TEXT_COLUMNS)
