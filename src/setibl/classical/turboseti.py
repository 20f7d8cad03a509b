"""The field's formats: turboSETI ``.dat`` files (one a scan) and find_event CSVs (one a cadence).

A ``.dat`` file holds a 9-line header (file id: the file's name, source, MJD/RA/DEC,
DELTAT/DELTAF/max_drift_rate/obs_length (the rows searched, zero-padded up to a power of two as
turboSETI pads them, x tsamp), the column names) and one tab-separated row per hit: Top_Hit_#,
Drift_Rate (Hz/s), SNR, Uncorrected_Frequency and Corrected_Frequency (MHz; no barycentric
correction, so equal), Index (channel within its coarse channel), freq_start / freq_end (MHz,
where the drift line starts and ends over the scan), SEFD and SEFD_freq (0: not measured),
Coarse_Channel_Number, Full_number_of_hits. turboSETI's ``read_dat`` and
``plot_event_pipeline`` read them as their own; the events CSV carries our scores beside
find_event's columns, and is named ``<cadence>_events_f<level>_snr<snr>.csv`` because
``plot_event_pipeline`` takes the filter level from the third ``_``-separated part.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from setibl.classical.files import padded_rows
from setibl.io import atomic_write_csv, atomic_write_text
from setibl.observations.filterbank import Header, read_header

DAT_COLUMNS = [
    "Top_Hit_#",
    "Drift_Rate",
    "SNR",
    "Uncorrected_Frequency",
    "Corrected_Frequency",
    "Index",
    "freq_start",
    "freq_end",
    "SEFD",
    "SEFD_freq",
    "Coarse_Channel_Number",
    "Full_number_of_hits",
]
EVENT_COLUMNS = [
    "TopHitNum",
    "DriftRate",
    "SNR",
    "Freq",
    "ChanIndx",
    "FreqStart",
    "FreqEnd",
    "CoarseChanNum",
    "FullNumHitsInRange",
    "FileID",
    "Source",
    "MJD",
    "RA",
    "DEC",
    "DELTAT",
    "DELTAF",
    "max_drift_rate",
    "obs_length",
    "Hit_ID",
    "status",
    "in_n_ons",
    "RFI_in_range",
    "delta_t",
]
RULE = "# --------------------------\n"


def observation_info(path: str | os.PathLike) -> dict:
    """Source name, RA and DEC of a filterbank file, as turboSETI prints them."""
    from blimpy.io import file_wrapper

    header = file_wrapper.open_file(str(path), load_data=False).header
    source = header.get("source_name", "UNKNOWN")
    source = source.decode() if isinstance(source, bytes) else str(source)
    return {
        "source": source.replace(":", "-"),  # read_dat keeps what follows the last colon
        "ra": str(header.get("src_raj", "0h00m00s")),
        "dec": str(header.get("src_dej", "0d00m00s")),
    }


def obs_length_s(header: Header) -> float:
    """turboSETI's obs_length: the rows searched (time steps zero-padded up to a power of two,
    as the search and its find_event rules take them) x tsamp, seconds."""
    return padded_rows(header.time_steps) * header.tsamp_s


def _dat_order(hits: pd.DataFrame) -> pd.DataFrame:
    """One file's hits in its ``.dat``'s order (frequency falling): row i is Top_Hit_# i + 1."""
    return hits.sort_values("frequency_mhz", ascending=False, kind="stable")


def _hit_table(hits: pd.DataFrame, header: Header, fine: int) -> pd.DataFrame:
    """Our hit rows (channel, frequency_mhz, drift_hz_per_s, snr, coarse_channel) in the
    .dat columns."""
    length = obs_length_s(header)
    ordered = _dat_order(hits)
    end = ordered["frequency_mhz"] + ordered["drift_hz_per_s"] * length * 1e-6
    per_coarse = ordered.groupby("coarse_channel")["snr"].transform("size")
    return pd.DataFrame(
        {
            "Top_Hit_#": range(1, len(ordered) + 1),
            "Drift_Rate": ordered["drift_hz_per_s"].to_numpy(),
            "SNR": ordered["snr"].to_numpy(),
            "Uncorrected_Frequency": ordered["frequency_mhz"].to_numpy(),
            "Corrected_Frequency": ordered["frequency_mhz"].to_numpy(),
            "Index": (ordered["channel"] - ordered["coarse_channel"] * fine).to_numpy(),
            "freq_start": ordered["frequency_mhz"].to_numpy(),
            "freq_end": end.to_numpy(),
            "SEFD": 0.0,
            "SEFD_freq": 0.0,
            "Coarse_Channel_Number": ordered["coarse_channel"].to_numpy(),
            "Full_number_of_hits": per_coarse.to_numpy(),
        }
    )


def write_dat(
    out: str | os.PathLike,
    path: str | os.PathLike,
    hits: pd.DataFrame,
    fine: int,
    max_drift_hz: float,
) -> Path:
    """turboSETI's ``.dat`` for the hits of one file ``path``, written atomically to ``out``."""
    header = read_header(path)
    info = observation_info(path)
    table = _hit_table(hits, header, fine)
    lines = [
        "# -------------------------- o --------------------------\n",
        f"# File ID: {Path(path).name} \n",
        "# -------------------------- o --------------------------\n",
        f"# Source:{info['source']}\n",
        f"# MJD: {header.tstart_mjd:18.12f}\tRA: {info['ra']}\tDEC: {info['dec']}\n",
        f"# DELTAT: {header.tsamp_s:10.6f}\tDELTAF(Hz): {header.foff_mhz * 1e6:10.6f}\t"
        f"max_drift_rate: {max_drift_hz:10.6f}\t"
        f"obs_length: {obs_length_s(header):10.6f}\n",
        RULE,
        "# " + " \t".join(DAT_COLUMNS) + " \t\n",
        RULE,
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"{row[0]:06d}\t{row[1]:10.6f}\t{row[2]:10.6f}\t{row[3]:14.6f}\t{row[4]:14.6f}\t"
            f"{int(row[5])}\t{row[6]:14.6f}\t{row[7]:14.6f}\t{row[8]}\t{row[9]:14.6f}\t"
            f"{int(row[10])}\t{int(row[11])}\t\n"
        )
    return atomic_write_text(out, "".join(lines))


def events_table(
    hits: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    on_scans: Sequence[int],
    fine: int,
    max_drift_hz: float,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """find_event's events CSV for one cadence: one row per ON hit of an event (``hits``: every
    hit of the cadence, an ``event`` id on those of an event), ``TopHitNum`` the hit's
    ``Top_Hit_#`` in its file's ``.dat``, ``status`` on_table_<n> as find_event, plus our
    columns (``scores``: event -> cnn_score, rank)."""
    rows = []
    headers = [read_header(p) for p in paths]
    infos = [observation_info(p) for p in paths]
    first_on = headers[on_scans[0]]
    top_hit = {}
    for _, scan_hits in hits.groupby("scan"):
        ordered = _dat_order(scan_hits).index
        top_hit.update(zip(ordered, range(1, len(ordered) + 1), strict=True))
    events = hits[hits["event"].fillna("").astype(str) != ""]
    names = {event: number for number, event in enumerate(dict.fromkeys(events["event"]))}
    for hit in events.sort_values(["event", "scan"], kind="stable").itertuples():
        header, info = headers[hit.scan], infos[hit.scan]
        length = obs_length_s(header)
        members = events[events["event"] == hit.event]
        rows.append(
            {
                "TopHitNum": top_hit[hit.Index],
                "DriftRate": hit.drift_hz_per_s,
                "SNR": hit.snr,
                "Freq": hit.frequency_mhz,
                "ChanIndx": int(hit.channel - hit.coarse_channel * fine),
                "FreqStart": hit.frequency_mhz,
                "FreqEnd": hit.frequency_mhz + hit.drift_hz_per_s * length * 1e-6,
                "CoarseChanNum": int(hit.coarse_channel),
                "FullNumHitsInRange": len(members),
                "FileID": Path(paths[hit.scan]).name,
                "Source": info["source"].upper(),
                "MJD": header.tstart_mjd,
                "RA": info["ra"],
                "DEC": info["dec"],
                "DELTAT": header.tsamp_s,
                "DELTAF": header.foff_mhz * 1e6,
                "max_drift_rate": max_drift_hz,
                "obs_length": length,
                "Hit_ID": f"{infos[on_scans[0]]['source']}_{names[hit.event]}",
                "status": f"on_table_{list(on_scans).index(hit.scan) + 1}",
                "in_n_ons": members["scan"].nunique(),
                "RFI_in_range": 0,
                "delta_t": (header.tstart_mjd - first_on.tstart_mjd) * 86400.0,
                "level": int(hit.level),
                "event": hit.event,
            }
        )
    table = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "level", "event"])
    if scores is not None and len(table):
        table = table.merge(scores, on="event", how="left")
    return table


def write_events(
    out_dir: str | os.PathLike, cadence: str, table: pd.DataFrame, level: int, snr: float
) -> Path:
    """The events CSV, named as plot_event_pipeline expects (``_f<level>_`` third)."""
    name = f"{cadence.replace('_', '-')}_events_f{level}_snr{snr:g}.csv"
    return atomic_write_csv(Path(out_dir) / name, table)
