"""Command line: each command parses its arguments, loads the config and calls the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from setibl import __version__
from setibl.config import Config, ConfigError, load_config


def _config_options(function):
    function = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="SECTION.KEY=VALUE",
        help="Override one config value (repeatable).",
    )(function)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config (default: the reference recipe).",
    )(function)


def _load(config_path: str | None, overrides: tuple[str, ...]) -> Config:
    try:
        return load_config(config_path, overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="setibl")
def cli() -> None:
    """setibl: find narrow-band, drifting, ON-only signals in Breakthrough Listen cadences."""


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--skip-bad", is_flag=True, help="Drop bad snippets (listed in --dropped).")
@click.option(
    "--dropped",
    type=click.Path(dir_okay=False),
    default="dropped.csv",
    show_default=True,
    help="Where --skip-bad writes what it dropped.",
)
@_config_options
def validate(data: str, skip_bad: bool, dropped: str, config_path, overrides) -> None:
    """Check a Kaggle-layout DATA folder: counts, positives, groups and every problem."""
    from setibl.cadence import DataError
    from setibl.cadence import validate as run_validate
    from setibl.io import atomic_write_csv

    config = _load(config_path, overrides)
    try:
        report = run_validate(data, config.image_shape, workers=config.data.load_workers)
    except DataError as err:
        raise click.ClickException(str(err)) from None
    _echo_json(report.summary())
    for problem in report.problems:
        click.echo(str(problem), err=True)
    if report.problems:
        if skip_bad:
            atomic_write_csv(dropped, report.dropped_table())
            click.echo(f"dropped {len(report.problems)} problem(s); list written to {dropped}")
        else:
            raise click.ClickException(
                f"{len(report.problems)} problem(s) in {data}; fix them or pass --skip-bad"
            )


@cli.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n-train", type=int, default=None, help="Default: synth.n_train (2000).")
@click.option("--n-test", type=int, default=None, help="Default: synth.n_test (500).")
@click.option("--needle-fraction", type=float, default=None, help="Default: synth config.")
@click.option("--seed", type=int, default=None, help="Default: run.seed of the config.")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace data already in OUT.")
@_config_options
def synth(
    out, n_train, n_test, needle_fraction, seed, workers, overwrite, config_path, overrides
) -> None:
    """Write a synthetic data set in the Kaggle layout, with test labels and needles.csv."""
    from setibl.synth_dataset import OutputExistsError
    from setibl.workflows import synthesize

    extra = [] if needle_fraction is None else [f"synth.needle_fraction={needle_fraction}"]
    config = _load(config_path, (*overrides, *extra))
    try:
        counts = synthesize(
            config,
            out,
            n_train,
            n_test,
            seed=config.run.seed if seed is None else seed,
            workers=workers,
            overwrite=overwrite,
        )
    except OutputExistsError as err:
        raise click.ClickException(str(err)) from None
    _echo_json(counts)


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.argument("snippet_id")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="PNG path (default: <id>.png)."
)
@click.option("--split", type=click.Choice(["train", "test"]), default=None)
@_config_options
def show(data, snippet_id, out, split, config_path, overrides) -> None:
    """Draw the six scans of one cadence as a column of waterfalls."""
    from setibl.cadence import DataError
    from setibl.workflows import show_cadence

    config = _load(config_path, overrides)
    try:
        path = show_cadence(config, data, snippet_id, out or f"{snippet_id}.png", split)
    except DataError as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Shard folder.")
@click.option("--layout", default=None, help="on3 | all6 | on_off | stack (records.layout).")
@click.option("--encoding", type=click.Choice(["float16", "png8"]), default=None)
@click.option("--skip-bad", is_flag=True, help="Drop bad snippets (listed in OUT/dropped.csv).")
@_config_options
def shard(data, out, layout, encoding, skip_bad, config_path, overrides) -> None:
    """Write TFRecord shards (train stratified by target x group, and test) with a manifest."""
    from setibl.cadence import DataError
    from setibl.records import RecordsError
    from setibl.workflows import shard_data

    extra = [f'records.layout="{layout}"'] if layout else []
    extra += [f'records.encoding="{encoding}"'] if encoding else []
    config = _load(config_path, (*overrides, *extra))
    try:
        manifest = shard_data(config, data, out, skip_bad=skip_bad)
    except (DataError, RecordsError) as err:
        raise click.ClickException(str(err)) from None
    counts = {}
    for entry in manifest["shards"]:
        counts[entry["split"]] = counts.get(entry["split"], 0) + entry["count"]
    _echo_json(
        {
            "out": out,
            "layout": manifest["layout"],
            "encoding": manifest["encoding"],
            "image_shape": manifest["image_shape"],
            "records": counts,
        }
    )


@cli.command()
@click.argument("records", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="augmented.png", show_default=True)
@click.option("--samples", type=int, default=3, show_default=True)
@_config_options
def augview(records, out, samples, config_path, overrides) -> None:
    """Draw a batch of augmented training samples (rows) and their scans (columns) as PNG."""
    from setibl.records import RecordsError
    from setibl.workflows import augmented_batch_picture

    config = _load(config_path, overrides)
    try:
        path = augmented_batch_picture(config, records, out, samples)
    except RecordsError as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False), required=False)
@click.argument("source", type=click.Path(file_okay=False), required=False)
@click.option(
    "--out",
    "run",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder (required unless --resume RUN).",
)
@click.option(
    "--resume",
    "resume_run",
    type=click.Path(file_okay=False),
    default=None,
    help="Continue the run in this folder with its own config.",
)
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE")
def train(config_file, source, run, resume_run, overrides) -> None:
    """Train CONFIG_FILE on SOURCE (shards, or a Kaggle-layout folder sharded first).

    K-fold over train shards, best-AUC weights per fold, OOF and test predictions with TTA.
    Multi-worker training: set TF_CONFIG on every worker and run the same command.
    """
    import os

    from setibl.cadence import DataError
    from setibl.records import RecordsError
    from setibl.train import RunError
    from setibl.workflows import train_workflow

    if resume_run:
        run = resume_run
        state = Path(run) / "run.json"
        if not state.is_file():
            raise click.UsageError(f"{run} holds no run to resume")
        config = _load(str(Path(run) / "config.toml"), overrides)
        source = source or json.loads(state.read_text())["records"]
    else:
        if not (config_file and source and run):
            raise click.UsageError("give CONFIG_FILE SOURCE --out RUN, or --resume RUN")
        config = _load(config_file, overrides)
    try:
        train_workflow(
            config,
            source,
            run,
            resume=bool(resume_run),
            multi_worker=bool(os.environ.get("TF_CONFIG")),
            log=click.echo,
        )
    except (DataError, RecordsError, RunError) as err:
        raise click.ClickException(str(err)) from None


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="submission.csv", show_default=True)
def predict(run, source, out) -> None:
    """Score SOURCE's test split with RUN's fold models (TTA or plain, as RUN submitted)."""
    from setibl.cadence import DataError
    from setibl.records import RecordsError
    from setibl.submission import SubmissionError
    from setibl.train import RunError
    from setibl.workflows import predict_workflow

    try:
        path = predict_workflow(run, source, out, log=click.echo)
    except (DataError, RecordsError, RunError, SubmissionError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@_config_options
def demo(out, config_path, overrides) -> None:
    """Synthesize a small set, shard, train (configs/demo.toml), predict and report AUCs."""
    from setibl.config import find_config
    from setibl.workflows import demo_workflow

    config = _load(config_path or str(find_config("demo")), overrides)
    demo_workflow(config, out, log=click.echo)


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
@_config_options
def dedoppler(data, split, out, filter_level, workers, max_drift, config_path, overrides) -> None:
    """Classical de-Doppler search with ON-OFF filtering; predictions + hits table."""
    from setibl.cadence import DataError
    from setibl.dedoppler import parse_drift
    from setibl.workflows import dedoppler_workflow

    config = _load(config_path, overrides)
    if max_drift is not None:
        try:
            drift = parse_drift(max_drift, config.synth.df_hz, config.synth.dt_s)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--max-drift") from None
        config = _load(config_path, (*overrides, f"dedoppler.max_drift={drift!r}"))
    try:
        predictions, hits = dedoppler_workflow(config, data, split, out, filter_level, workers)
    except DataError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{predictions}\n{hits}")


def _file_search_options(function):
    """The search options dedoppler-file and dedoppler-cadence share."""
    options = [
        click.option("--max-drift", type=float, default=4.0, show_default=True, help="Hz/s."),
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
            default=0,
            show_default=True,
            help="Channels of the median filter that flattens the bandpass first; 0: none.",
        ),
        click.option(
            "--noise",
            type=click.Choice(["mad", "turboseti"]),
            default="mad",
            show_default=True,
            help="S/N scale: 1.4826 MAD, or turboSETI's std without the 5% tails.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@cli.command("dedoppler-file")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="hits.csv", show_default=True)
@click.option("--snr", type=float, default=10.0, show_default=True, help="Hit threshold.")
@_file_search_options
def dedoppler_file(files, out, max_drift, snr, coarse_channels, bandpass_window, noise) -> None:
    """De-Doppler search of .h5/.fil filterbank files: one hits table (MHz, Hz/s, S/N)."""
    import pandas as pd
    from tqdm import tqdm

    from setibl.cadence import DataError
    from setibl.io import atomic_write_csv
    from setibl.observation import HIT_COLUMNS, search_file

    tables = []
    for path in tqdm(files, desc="dedoppler-file", unit="file", disable=len(files) < 2):
        try:
            hits = search_file(path, max_drift, snr, coarse_channels, None, bandpass_window, noise)
        except (DataError, ValueError) as err:
            raise click.ClickException(str(err)) from None
        tables.append(hits.assign(file=str(path))[["file", *HIT_COLUMNS]])
    table = pd.concat(tables, ignore_index=True)
    click.echo(f"{len(table)} hit(s) in {len(files)} file(s) -> {atomic_write_csv(out, table)}")


@cli.command("dedoppler-cadence")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--on", "on_scans", default="0,2,4", show_default=True, help="ON file indices.")
@click.option("--out", type=click.Path(dir_okay=False), default="events.csv", show_default=True)
@click.option("--filter-level", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--snr", type=float, default=10.0, show_default=True, help="ON hit threshold.")
@click.option("--off-snr", type=float, default=6.0, show_default=True, help="OFF veto threshold.")
@_file_search_options
def dedoppler_cadence(
    files,
    on_scans,
    out,
    filter_level,
    max_drift,
    snr,
    off_snr,
    coarse_channels,
    bandpass_window,
    noise,
) -> None:
    """turboSETI-style event search over a cadence of .h5/.fil files (in time order).

    Writes OUT (ON hits reaching --filter-level) and OUT.hits.csv (every hit, with its veto
    flag and level)."""
    from pathlib import Path

    from setibl.cadence import DataError
    from setibl.io import atomic_write_csv
    from setibl.observation import search_cadence_files

    try:
        on = tuple(int(part) for part in on_scans.split(","))
    except ValueError:
        message = f"{on_scans!r} is not a list like 0,2,4"
        raise click.BadParameter(message, param_hint="--on") from None
    try:
        hits = search_cadence_files(
            files,
            on,
            max_drift,
            snr,
            off_snr,
            coarse_channels=coarse_channels,
            bandpass_window=bandpass_window,
            noise=noise,
        )
    except (DataError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    events = hits[hits["level"] >= filter_level]
    atomic_write_csv(Path(out).with_suffix(".hits.csv"), hits)
    written = atomic_write_csv(out, events)
    click.echo(f"{len(events)} event(s) at level >= {filter_level} -> {written}")


@cli.command()
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.argument("labels", type=click.Path(dir_okay=False))
@click.option(
    "--needles",
    type=click.Path(dir_okay=False),
    default=None,
    help="needles.csv for injection-recovery (default: beside LABELS, if there).",
)
@click.option(
    "--fpr",
    type=float,
    default=0.01,
    show_default=True,
    help="False-positive rate on haystack cadences for the recall figures.",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Metrics JSON.")
def evaluate(predictions, labels, needles, fpr, out) -> None:
    """AUC, per-fold/group AUC and recall vs S/N and drift for any predictions CSV."""
    import pandas as pd

    from setibl.cadence import DataError
    from setibl.evaluate import evaluate as run_evaluate
    from setibl.evaluate import (
        load_labels,
        load_predictions,
        needles_path_for,
        summary_lines,
        to_jsonable,
    )
    from setibl.io import atomic_write_json

    needles = needles or needles_path_for(labels)
    try:
        table = pd.read_csv(needles, dtype={"id": str, "scans": str}) if needles else None
        result = run_evaluate(load_predictions(predictions), load_labels(labels), table, fpr)
    except DataError as err:
        raise click.ClickException(str(err)) from None
    for line in summary_lines(result):
        click.echo(line)
    if out:
        atomic_write_json(out, to_jsonable(result))


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
def blend(runs, out) -> None:
    """Blend RUNS with simplex weights maximising OOF AUC (cross-validated); write OUT.

    Each member is a run folder or TRAIN.csv[:TEST.csv], predictions of a detector that never
    saw the labels (e.g. setibl dedoppler --split train / --split test).
    """
    from setibl.blend import BlendError, blend_runs

    try:
        summary = blend_runs(runs, out)
    except BlendError as err:
        raise click.ClickException(str(err)) from None
    _echo_json(summary)


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    default=None,
    help="The run's data folder: gallery, test labels, needles.csv.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Default: RUN/report.html."
)
def report(run, data, out) -> None:
    """Write a self-contained HTML report of RUN (pictures embedded)."""
    from setibl.report import build_report

    click.echo(str(build_report(run, data, out)))


@cli.command()
def backbones() -> None:
    """List the model backbones by name."""
    from setibl.models import list_backbones

    for name in list_backbones():
        click.echo(name)


def main() -> None:
    """Console entry point."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        click.echo("interrupted", err=True)
        sys.exit(130)
