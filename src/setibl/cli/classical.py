"""Commands of the classical detector: dedoppler on snippets, on files, on cadences of files."""

from __future__ import annotations

from pathlib import Path

import click

from setibl.cli.base import cli, config_options, load
from setibl.config_rules import NOISE_STATISTICS


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default="dedoppler.csv", show_default=True)
@click.option(
    "--filter-level",
    type=click.IntRange(0, 3),
    default=None,
    help="0: rank by score alone; 1-3: turboSETI levels first (default: config).",
)
@click.option("--workers", type=int, default=None, help="Processes (default: config).")
@click.option(
    "--max-drift",
    default=None,
    help="Largest |drift|: channels per step ('0.5', '0.5ch') or Hz/s ('0.47Hz/s', with "
    "synth.df_hz and synth.dt_s as the data's resolution). Default: dedoppler.max_drift.",
)
@config_options
def dedoppler(data, split, out, filter_level, workers, max_drift, config_path, overrides) -> None:
    """Classical de-Doppler search with ON-OFF filtering; predictions + hits table."""
    from setibl.classical.dedoppler import parse_drift
    from setibl.jobs.classical import dedoppler_workflow

    config = load(config_path, overrides)
    if max_drift is not None:
        try:
            drift = parse_drift(max_drift, config.synth.df_hz, config.synth.dt_s)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--max-drift") from None
        config = load(config_path, (*overrides, f"dedoppler.max_drift={drift!r}"))
    predictions, hits = dedoppler_workflow(config, data, split, out, filter_level, workers)
    click.echo(f"{predictions}\n{hits}")


# option name -> key of the [observations] config section; None means "as the config says"
_FILE_OPTIONS = {
    "max_drift": "max_drift_hz",
    "snr": "snr_threshold",
    "coarse_channels": "coarse_channels",
    "bandpass_window": "bandpass_window",
    "noise": "noise",
}


def _file_search_options(function):
    """The search options dedoppler-file and dedoppler-cadence share; each overrides its key of
    the config's [observations] section, whose defaults are turboSETI's."""
    options = [
        click.option(
            "--max-drift", type=float, default=None, help="Hz/s (observations.max_drift_hz)."
        ),
        click.option(
            "--snr", type=float, default=None, help="Hit threshold (observations.snr_threshold)."
        ),
        click.option(
            "--coarse-channels",
            type=int,
            default=None,
            help="Coarse channels per file, each searched with its own noise statistics "
            "(default: from the header's nfpc, else 2^20 fine channels each for BL "
            "high-resolution files, else 1).",
        ),
        click.option(
            "--bandpass-window",
            type=int,
            default=None,
            help="Channels of the median filter that flattens the bandpass first; 0: none.",
        ),
        click.option(
            "--noise",
            type=click.Choice(NOISE_STATISTICS),
            default=None,
            help="S/N scale: 1.4826 MAD, or turboSETI's std without the 5% tails.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return config_options(function)


def _observations_config(config_path, overrides, options: dict):
    """The [observations] settings: config, then --set, then the explicit options."""
    extra = [
        f"observations.{_FILE_OPTIONS[name]}={value!r}".replace("'", '"')
        for name, value in options.items()
        if value is not None
    ]
    return load(config_path, (*overrides, *extra)).observations


@cli.command("dedoppler-file")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="hits.csv", show_default=True)
@_file_search_options
def dedoppler_file(files, out, config_path, overrides, **options) -> None:
    """De-Doppler search of .h5/.fil filterbank files: one hits table (MHz, Hz/s, S/N)."""
    import pandas as pd
    from tqdm import tqdm

    from setibl.classical.files import HIT_COLUMNS, search_file_with
    from setibl.io import atomic_write_csv

    settings = _observations_config(config_path, overrides, options)
    tables = []
    for path in tqdm(files, desc="dedoppler-file", unit="file", disable=len(files) < 2):
        hits = search_file_with(path, settings)
        tables.append(hits.assign(file=str(path))[["file", *HIT_COLUMNS]])
    table = pd.concat(tables, ignore_index=True)
    click.echo(f"{len(table)} hit(s) in {len(files)} file(s) -> {atomic_write_csv(out, table)}")


@cli.command("dedoppler-cadence")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--on", "on_scans", default=None, help="ON file indices (default: data.on_scans).")
@click.option("--out", type=click.Path(dir_okay=False), default="events.csv", show_default=True)
@click.option(
    "--filter-level", type=click.IntRange(1, 3), default=None, help="observations.filter_level."
)
@click.option("--off-snr", type=float, default=None, help="OFF veto threshold.")
@_file_search_options
def dedoppler_cadence(
    files, on_scans, out, filter_level, off_snr, config_path, overrides, **options
) -> None:
    """turboSETI-style event search over a cadence of .h5/.fil files (in time order).

    Writes OUT (ON hits reaching --filter-level) and OUT.hits.csv (every hit, with its veto
    flag and level)."""
    from setibl.classical.files import search_cadence_with
    from setibl.io import atomic_write_csv

    extra = [] if off_snr is None else [f"observations.off_snr_threshold={off_snr!r}"]
    extra += [] if filter_level is None else [f"observations.filter_level={filter_level}"]
    config = load(config_path, (*overrides, *extra))
    on = config.data.on_scans
    if on_scans is not None:  # indices into FILES, which need not be six
        try:
            on = tuple(int(part) for part in on_scans.split(","))
        except ValueError:
            message = f"{on_scans!r} is not a list like 0,2,4"
            raise click.BadParameter(message, param_hint="--on") from None
    settings = _observations_config(config_path, (*overrides, *extra), options)
    hits = search_cadence_with(files, on, settings)
    events = hits[hits["level"] >= settings.filter_level]
    atomic_write_csv(Path(out).with_suffix(".hits.csv"), hits)
    written = atomic_write_csv(out, events)
    click.echo(f"{len(events)} event(s) at level >= {settings.filter_level} -> {written}")
