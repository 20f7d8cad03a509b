"""Commands on Kaggle-layout data sets: validate, synth, show, shard."""

from __future__ import annotations

import click

from setibl.cli.base import cli, config_options, echo_json, load
from setibl.config_rules import LAYOUT_NAMES, layout_companions


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
@config_options
def validate(data: str, skip_bad: bool, dropped: str, config_path, overrides) -> None:
    """Check a Kaggle-layout DATA folder: counts, positives, groups and every problem."""
    from setibl.data.kaggle import validate as run_validate
    from setibl.io import atomic_write_csv

    config = load(config_path, overrides)
    report = run_validate(data, config.cadence_shape, workers=config.data.load_workers)
    echo_json(report.summary())
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
@click.option(
    "--background",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of cadence,path rows: cut the snippets from these files (real backgrounds) and "
    "inject needles into them, instead of simulating the noise.",
)
@click.option(
    "--split-by",
    type=click.Choice(["cadence", "window"]),
    default="cadence",
    show_default=True,
    help="With --background: train and test windows from different cadences, or mixed "
    "(neighbouring windows share background and RFI across the splits).",
)
@config_options
def synth(
    out,
    n_train,
    n_test,
    needle_fraction,
    seed,
    workers,
    overwrite,
    background,
    split_by,
    config_path,
    overrides,
) -> None:
    """Write a synthetic data set in the Kaggle layout, with test labels and needles.csv."""
    from setibl.jobs.data import synthesize, synthesize_background

    extra = [] if needle_fraction is None else [f"synth.needle_fraction={needle_fraction}"]
    config = load(config_path, (*overrides, *extra))
    if background is not None:
        counts = synthesize_background(
            config,
            background,
            out,
            config.synth.n_train if n_train is None else n_train,
            config.synth.n_test if n_test is None else n_test,
            seed=config.run.seed if seed is None else seed,
            overwrite=overwrite,
            split_by=split_by,
        )
        echo_json(counts)
        return
    counts = synthesize(
        config,
        out,
        config.synth.n_train if n_train is None else n_train,
        config.synth.n_test if n_test is None else n_test,
        seed=config.run.seed if seed is None else seed,
        workers=workers,
        overwrite=overwrite,
    )
    echo_json(counts)


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.argument("snippet_id")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="PNG path (default: <id>.png)."
)
@click.option("--split", type=click.Choice(["train", "test"]), default=None)
@config_options
def show(data, snippet_id, out, split, config_path, overrides) -> None:
    """Draw the six scans of one cadence as a column of waterfalls."""
    from setibl.jobs.data import show_cadence

    config = load(config_path, overrides)
    path = show_cadence(config, data, snippet_id, out or f"{snippet_id}.png", split)
    click.echo(str(path))


@cli.command()
@click.argument("data", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Shard folder.")
@click.option(
    "--layout",
    default=None,
    help=f"{' | '.join(LAYOUT_NAMES)} (records.layout; search_maps also sets what its rules "
    "ask of the model sections: map_cnn, weights none, no model resize, no pixel augmentation, "
    "no mixup; the shard counts still come from the config: configs/cpu.toml's for its "
    "folds).",
)
@click.option("--encoding", type=click.Choice(["float16", "png8"]), default=None)
@click.option("--skip-bad", is_flag=True, help="Drop bad snippets (listed in OUT/dropped.csv).")
@config_options
def shard(data, out, layout, encoding, skip_bad, config_path, overrides) -> None:
    """Write TFRecord shards (train stratified by target x group, and test) with a manifest."""
    from setibl.jobs.data import shard_data

    extra = [f'records.layout="{layout}"'] if layout else []
    extra += [f'records.encoding="{encoding}"'] if encoding else []
    # the layout's companions first, so that an explicit --set still wins (and is checked)
    companions = layout_companions(layout) if layout else ()
    config = load(config_path, (*companions, *overrides, *extra))
    manifest = shard_data(config, data, out, skip_bad=skip_bad)
    counts = {}
    for entry in manifest["shards"]:
        counts[entry["split"]] = counts.get(entry["split"], 0) + entry["count"]
    echo_json(
        {
            "out": out,
            "layout": manifest["layout"],
            "encoding": manifest["encoding"],
            "image_shape": manifest["image_shape"],
            "records": counts,
        }
    )
