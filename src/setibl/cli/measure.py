"""Commands that measure detectors: evaluate, blend, report."""

from __future__ import annotations

import click

from setibl.cli.base import cli, config_options, echo_json, load


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
    default=None,
    help="False-positive rate on haystack cadences for the recall figures (measure.fpr).",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Metrics JSON.")
@config_options
def evaluate(predictions, labels, needles, fpr, out, config_path, overrides) -> None:
    """AUC, per-fold/group AUC and recall vs S/N and drift for any predictions CSV."""
    import pandas as pd

    from setibl.io import atomic_write_json
    from setibl.measure.evaluate import evaluate as run_evaluate
    from setibl.measure.evaluate import (
        load_labels,
        load_predictions,
        needles_path_for,
        summary_lines,
        to_jsonable,
    )

    extra = [] if fpr is None else [f"measure.fpr={fpr!r}"]
    settings = load(config_path, (*overrides, *extra)).measure
    needles = needles or needles_path_for(labels)
    table = pd.read_csv(needles, dtype={"id": str, "scans": str}) if needles else None
    result = run_evaluate(
        load_predictions(predictions),
        load_labels(labels),
        table,
        settings.fpr,
        settings.recall_bins,
    )
    for line in summary_lines(result):
        click.echo(line)
    if out:
        atomic_write_json(out, to_jsonable(result))


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@config_options
def blend(runs, out, config_path, overrides) -> None:
    """Blend RUNS with simplex weights maximising OOF AUC (cross-validated); write OUT.

    Each member is a run folder or TRAIN.csv[:TEST.csv], predictions of a detector that never
    saw the labels (e.g. setibl dedoppler --split train / --split test).
    """
    from setibl.measure.blend import blend_runs

    config = load(config_path, overrides)
    summary = blend_runs(runs, out, seed=config.run.seed, samples=config.measure.blend_samples)
    echo_json(summary)


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
@config_options
def report(run, data, out, config_path, overrides) -> None:
    """Write a self-contained HTML report of RUN (pictures embedded)."""
    from setibl.measure.report import build_report

    settings = load(config_path, overrides).measure
    click.echo(str(build_report(run, data, out, settings.fpr, settings.recall_bins)))
