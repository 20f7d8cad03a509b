"""Commands of the learned detector: augview, train, pseudo, predict, demo, backbones."""

from __future__ import annotations

import json
from pathlib import Path

import click

from setibl.cli.base import cli, config_options, load


@cli.command()
@click.argument("records", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="augmented.png", show_default=True)
@click.option("--samples", type=int, default=3, show_default=True)
@config_options
def augview(records, out, samples, config_path, overrides) -> None:
    """Draw a batch of augmented training samples (rows) and their scans (columns) as PNG."""
    from setibl.measure.report import augmented_batch_picture

    config = load(config_path, overrides)
    path = augmented_batch_picture(config, records, out, samples)
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

    from setibl.jobs.learned import train_workflow

    if resume_run:
        run = resume_run
        state = Path(run) / "run.json"
        if not state.is_file():
            raise click.UsageError(f"{run} holds no run to resume")
        config = load(str(Path(run) / "config.toml"), overrides)
        records = json.loads(state.read_text())["records"]
        given = [a for a in (config_file, source) if a]
        if len(given) > 1 or (given and Path(given[0]).resolve() != Path(records).resolve()):
            raise click.UsageError(
                f"--resume {run} continues with the run's own config and records ({records}); "
                f"drop {' '.join(given)}, or start a new run with --out"
            )
        source = records
    else:
        if not (config_file and source and run):
            raise click.UsageError("give CONFIG_FILE SOURCE --out RUN, or --resume RUN")
        config = load(config_file, overrides)
    train_workflow(
        config,
        source,
        run,
        resume=bool(resume_run),
        multi_worker=bool(os.environ.get("TF_CONFIG")),
        log=click.echo,
    )


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("records", type=click.Path(file_okay=False), required=False)
@click.option("--rounds", type=int, default=None, help="Rounds (default: the run's pseudo.rounds).")
def pseudo(run, records, rounds) -> None:
    """Pseudo-labelling rounds after the finished RUN: confident test predictions join training.

    Round r trains RUN/pseudo-r on the run's records (or RECORDS, shards of the same data),
    with RUN/pseudo-r/pseudo_labels.csv; rerunning resumes.
    """
    from setibl.jobs.learned import pseudo_workflow

    config = load(str(Path(run) / "config.toml"), ())
    count = config.pseudo.rounds if rounds is None else rounds
    if count < 1:
        raise click.UsageError("no rounds: give --rounds N or set pseudo.rounds in the config")
    pseudo_workflow(run, count, records=records, log=click.echo)


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="submission.csv", show_default=True)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Change the run's config where the models stay as trained: train.tta, train.batch_size, "
    "data.load_workers, records.workers.",
)
def predict(run, source, out, overrides) -> None:
    """Score SOURCE's test split with RUN's fold models (TTA or plain, as RUN submitted), with
    RUN's own config. RUN 'default' is the model shipped with setibl (trained on our synth)."""
    from setibl.jobs.learned import predict_workflow

    path = predict_workflow(run, source, out, log=click.echo, overrides=overrides)
    click.echo(str(path))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@config_options
def demo(out, config_path, overrides) -> None:
    """Synthesize a small set, shard, train (configs/demo.toml), predict and report AUCs."""
    from setibl.config import find_config
    from setibl.jobs.demo import demo_workflow

    config = load(config_path or str(find_config("demo")), overrides)
    demo_workflow(config, out, log=click.echo)


@cli.command()
def backbones() -> None:
    """List the model backbones by name."""
    from setibl.learned.models import list_backbones

    for name in list_backbones():
        click.echo(name)
