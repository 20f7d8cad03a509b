"""Commands on observation files: scan cadences with both detectors, make test cadences."""

from __future__ import annotations

import click

from setibl.cli.base import cli, config_options, load


def _on_scans(text: str | None):
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list like 0,2,4", param_hint="--on") from None


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--cadences",
    "cadence_list",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of cadence,path rows (files of each cadence in time order) instead of FILES.",
)
@click.option(
    "--model",
    "run",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder whose fold models score the windows, or 'default' for the shipped model "
    "(without --model: classical only).",
)
@click.option("--on", "on_scans", default=None, help="ON file indices (default: data.on_scans).")
@click.option(
    "--backend",
    type=click.Choice(["serial", "processes", "ray"]),
    default=None,
    help="Where units run (scan.backend).",
)
@click.option("--workers", type=int, default=None, help="Workers (scan.workers).")
@click.option("--address", default=None, help="Ray cluster to join (scan.ray_address).")
@click.option(
    "--gpus-per-unit",
    type=float,
    default=None,
    help="GPUs each unit asks Ray for when --model scores windows (scan.gpus_per_unit).",
)
@click.option("--overwrite", is_flag=True, help="Replace the results of another scan in OUT.")
@config_options
def scan(
    files,
    out,
    cadence_list,
    run,
    on_scans,
    backend,
    workers,
    address,
    gpus_per_unit,
    overwrite,
    config_path,
    overrides,
) -> None:
    """Scan cadences of .h5/.fil files (FILES in time order, e.g. A B A C A D) with the
    classical search and, given --model, the learned detector; OUT/candidates.csv ranks
    both. An unfinished scan in OUT resumes."""
    from setibl.jobs.scan import scan_workflow
    from setibl.observations.cadences import read_cadence_list

    if bool(files) == bool(cadence_list):
        raise click.UsageError("give either FILES (one cadence) or --cadences LIST.csv")
    extra = [
        f"scan.{key}={value!r}".replace("'", '"')
        for key, value in (
            ("backend", backend),
            ("workers", workers),
            ("ray_address", address),
            ("gpus_per_unit", gpus_per_unit),
        )
        if value is not None
    ]
    config = load(config_path, (*overrides, *extra))
    cadences = read_cadence_list(cadence_list) if cadence_list else {"cadence": list(files)}
    table = scan_workflow(
        config,
        cadences,
        out,
        run,
        _on_scans(on_scans),
        overwrite,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(f"candidates -> {table}")


@cli.command("make-cadences")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--cadences", "count", type=int, default=1, show_default=True)
@click.option("--coarse-channels", type=int, default=None, help="Default: the resolution's.")
@click.option("--fine-channels", type=int, default=None, help="Default: the resolution's.")
@click.option("--time-steps", type=int, default=None, help="Default: the resolution's.")
@click.option("--needles", type=int, default=4, show_default=True)
@click.option("--rfi", type=int, default=4, show_default=True)
@click.option("--snr", type=(float, float), default=(25.0, 60.0), show_default=True)
@click.option("--drift-max", type=float, default=20.0, show_default=True, help="Hz/s.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["h5", "h5-bitshuffle", "fil"]),
    default="h5",
    show_default=True,
)
@click.option(
    "--resolution",
    type=click.Choice(["mid", "high"]),
    default="mid",
    show_default=True,
    help="BL's products: mid 16 x 1,024 channels of 2.86 kHz, 279 steps of 1.07 s; high "
    "1 x 2^20 channels of 2.79 Hz, 16 steps of 18.3 s.",
)
@click.option("--seed", type=int, default=None, help="Default: run.seed of the config.")
@config_options
def make_cadences_command(
    out,
    count,
    coarse_channels,
    fine_channels,
    time_steps,
    needles,
    rfi,
    snr,
    drift_max,
    file_format,
    resolution,
    seed,
    config_path,
    overrides,
) -> None:
    """Write setigen cadences (ABACAD) with known needles (ON only) and RFI (all scans) as
    filterbank files, with OUT/needles.csv and OUT/cadences.csv (for scan --cadences)."""
    import dataclasses

    from setibl.observations.make import HIGH_RESOLUTION, MID_RESOLUTION, make_cadences

    given = {
        "coarse_channels": coarse_channels,
        "fine_channels": fine_channels,
        "time_steps": time_steps,
    }
    grid = dataclasses.replace(
        MID_RESOLUTION if resolution == "mid" else HIGH_RESOLUTION,
        **{key: value for key, value in given.items() if value is not None},
    )
    seed = load(config_path, overrides).run.seed if seed is None else seed
    folder = make_cadences(out, count, grid, needles, rfi, seed, file_format, snr, drift_max)
    click.echo(f"{count} cadence(s) -> {folder}")
