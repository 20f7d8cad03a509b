"""Learned-detector jobs: train on shards or a Kaggle folder, predict a new folder."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from setibl.config import Config
from setibl.errors import ConfigError
from setibl.jobs.data import is_records_folder, shard_data


def train_workflow(
    config: Config,
    source: str | os.PathLike,
    run: str | os.PathLike,
    resume: bool = False,
    multi_worker: bool = False,
    log=print,
) -> dict:
    """Train on shards, or on a Kaggle-layout folder sharded first into ``run/shards``."""
    from setibl.learned.devices import configure_precision, detect_hardware
    from setibl.learned.layouts import layout_params
    from setibl.learned.repro import seed_everything
    from setibl.learned.runs import initial_weights, weights_file_origin
    from setibl.learned.train import train_run

    weights = initial_weights(config)  # a model.init that cannot start this run fails first
    if (
        weights is not None
        and weights_file_origin(weights) is None
        and layout_params(config.records.layout)
    ):
        log(
            f"warning: model.init {config.model.init} is a bare weights file: whether its "
            f"model saw {config.records.layout} images made with this version's search "
            "settings cannot be checked (name its run folder to have it checked)"
        )
    if config.model.init not in ("none", "default"):  # the run's config names it from anywhere
        model = dataclasses.replace(config.model, init=str(Path(config.model.init).resolve()))
        config = dataclasses.replace(config, model=model)
    seed_everything(config.run.seed, config.run.deterministic)
    records = Path(source)
    if not is_records_folder(records):
        records = Path(run) / "shards"
        log(f"sharding {source} into {records}")
        shard_data(config, source, records)
    seen = init_overlap(config, records)
    if seen:
        log(
            f"warning: model.init {config.model.init} was trained on {seen} of this run's "
            "training cadences, so every fold starts from weights that saw its validation "
            "ids: the OOF AUC will be optimistic (judge it on held-out labels)"
        )
    hardware = detect_hardware(multi_worker=multi_worker)
    configure_precision(hardware, config.train.mixed_precision)
    metrics = train_run(config, records, run, hardware, resume=resume, log=log)
    if config.pseudo.rounds > 0:
        metrics = pseudo_workflow(run, config.pseudo.rounds, hardware=hardware, log=log)
    return metrics


def init_overlap(config: Config, records: Path) -> int:
    """How many training ids of ``records`` the weights named by ``model.init`` (fold 0 of a
    run, or the fold-K file named) trained on: its run's ``oof.csv`` ids outside that fold; 0
    for ``none``, a bare weights file, or a run without OOF predictions (the shipped model:
    trained on our synth only)."""
    from setibl.learned.records import INDEX_FILE
    from setibl.learned.runs import resolve_run, weights_file_origin

    if config.model.init == "none":
        return 0
    source, fold = resolve_run(config.model.init), 0
    if source.is_file():
        origin = weights_file_origin(source)
        if origin is None:
            return 0
        source, fold = origin
    oof = source / "oof.csv"
    index = records / INDEX_FILE
    if not (oof.is_file() and index.is_file()):
        return 0
    predictions = pd.read_csv(oof, dtype={"id": str}, usecols=["id", "fold"])
    trained = set(predictions.loc[predictions["fold"] != fold, "id"])  # it validated on these
    table = pd.read_csv(index, dtype={"id": str}, usecols=["id", "split"])
    return int(table.loc[table["split"] == "train", "id"].isin(trained).sum())


def pseudo_round_dir(run: str | os.PathLike, round_: int) -> Path:
    """Run folder of pseudo-labelling round ``round_`` (>= 1) of ``run`` (round 0)."""
    return Path(run) / f"pseudo-{round_}"


def pseudo_workflow(
    run: str | os.PathLike,
    rounds: int,
    records: str | os.PathLike | None = None,
    hardware=None,
    log=print,
) -> dict:
    """Pseudo-labelling rounds 1..``rounds`` after the finished run ``run`` (round 0).

    Round r labels the confident test predictions of round r - 1's submission (thresholds of
    the run's config), writes them to ``RUN/pseudo-r/pseudo_labels.csv`` and trains
    ``RUN/pseudo-r`` (a run folder of its own) with them on every fold's training side.
    Resumable: existing labels are reused, finished folds and rounds are skipped.
    """
    from setibl.config import load_config
    from setibl.learned.devices import configure_precision, detect_hardware
    from setibl.learned.pseudo import (
        PSEUDO_FILE,
        check_test_only,
        confident_labels,
        read_pseudo_labels,
        write_pseudo_labels,
    )
    from setibl.learned.records import INDEX_FILE
    from setibl.learned.train import RunError, train_run

    run = Path(run)
    config = load_config(run / "config.toml")
    state = run / "run.json"
    if not state.is_file():
        raise RunError(f"{state}: not found; is {run} a run folder?")
    if records is None:
        records = json.loads(state.read_text())["records"]
    if not is_records_folder(Path(records)):  # the Kaggle folder the run was sharded from
        records = json.loads(state.read_text())["records"]
        log(f"using the run's shards {records}")
    records = Path(records)
    if not (records / INDEX_FILE).is_file():
        raise RunError(f"{records}: no shards ({INDEX_FILE} missing); give the records folder")
    if hardware is None:
        hardware = detect_hardware()
        configure_precision(hardware, config.train.mixed_precision)  # as the run trained
    index = pd.read_csv(records / INDEX_FILE, dtype={"id": str})
    previous, metrics = run, {}
    for round_ in range(1, rounds + 1):
        folder = pseudo_round_dir(run, round_)
        labels_file = folder / PSEUDO_FILE
        if labels_file.is_file():
            labels = read_pseudo_labels(labels_file)
        else:
            submission = previous / "submission.csv"
            if not submission.is_file():
                raise RunError(f"{submission}: not found; round {round_ - 1} is unfinished")
            predictions = pd.read_csv(submission, dtype={"id": str})
            labels = confident_labels(predictions, config.pseudo, round_)
            folder.mkdir(parents=True, exist_ok=True)
            write_pseudo_labels(labels, labels_file)
        check_test_only(labels, index, str(labels_file))
        positives = int(labels["target"].sum())
        log(f"round {round_}: {len(labels)} pseudo labels ({positives} positive)")
        resume = (folder / "config.toml").is_file()
        metrics = train_run(
            config, records, folder, hardware, resume=resume, log=log, pseudo_labels=labels
        )
        previous = folder
    return metrics


PREDICT_KEYS = ("train.tta", "train.batch_size", "data.load_workers", "records.workers")


def check_predict_overrides(overrides: Sequence[str]) -> Sequence[str]:
    """``overrides`` if each sets one of :data:`PREDICT_KEYS`; any other key is fixed by the
    run's models (ConfigError naming it)."""
    from setibl.config import parse_override

    for override in overrides:
        section, key, _ = parse_override(override)
        if f"{section}.{key}" not in PREDICT_KEYS:
            raise ConfigError(
                f"config key '{section}.{key}': fixed by the run's models; predict changes only "
                f"{', '.join(PREDICT_KEYS)}"
            )
    return overrides


def predict_workflow(
    run: str | os.PathLike,
    source: str | os.PathLike,
    out: str | os.PathLike,
    batch: int | None = None,
    log=print,
    overrides: Sequence[str] = (),
) -> Path:
    """Score the test split of ``source`` (Kaggle folder or shards) with a finished run's
    fold models, with TTA or plain as the run submitted (``train.submit``); the submission is
    validated against the expected test ids. ``overrides`` (``section.key=value``) change the
    run's config where that leaves its models alone: :data:`PREDICT_KEYS`."""
    from setibl.config import load_config
    from setibl.learned.runs import check_layout_params, is_default_model, resolve_run
    from setibl.learned.train import RunError

    run = resolve_run(run)  # the word "default": the shipped default model
    if not (run / "config.toml").is_file():
        raise RunError(f"{run}: not a run folder (no config.toml); give the --out folder of train")
    config = load_config(run / "config.toml", check_predict_overrides(overrides))
    check_layout_params(run)
    # the run's own choice between TTA and plain predictions (train.submit), as it submitted
    summary = run / "metrics.json"
    if not summary.is_file():
        raise RunError(f"{summary}: not found; is the run finished?")
    submitted = json.loads(summary.read_text()).get("submitted", "tta")
    records = Path(source)
    with tempfile.TemporaryDirectory(prefix="setibl-predict-") as scratch:
        own = None if is_records_folder(records) else own_test_shards(run, config, source)
        if own is not None:
            records = own
            log(f"scoring the run's own shards of {source}'s test split in {records}")
        elif not is_records_folder(records):
            # shards are cached in the run folder; the shipped model's folder is left alone
            cache = Path(scratch) if is_default_model(run) else run / "predict-shards"
            records = cache / path_digest(Path(source).resolve())
            log(f"sharding the test split of {source} into {records}")
            shard_data(config, source, records, splits=("test",))
        return _predict_records(run, config, source, records, submitted, out, batch, log)


def _predict_records(
    run: Path,
    config: Config,
    source: str | os.PathLike,
    records: Path,
    submitted: str,
    out: str | os.PathLike,
    batch: int | None,
    log,
) -> Path:
    """Score the test shards in ``records`` with ``run``'s fold models; write the submission."""
    from setibl.data.kaggle import SUBMISSION_FILE
    from setibl.data.submission import write_submission
    from setibl.errors import DataError
    from setibl.learned.layouts import image_shape as stored_image_shape
    from setibl.learned.pipeline import pipeline_spec
    from setibl.learned.predict import average_folds, fold_predictions, load_fold_model
    from setibl.learned.records import INDEX_FILE, load_manifest, shard_paths
    from setibl.learned.runs import fold_model_paths

    image_shape = stored_image_shape(
        config.records.layout, config.cadence_shape, config.data.on_scans, config.records.resize
    )
    manifest = load_manifest(records, config.records.layout, image_shape)
    spec = pipeline_spec(config, manifest)
    files = shard_paths(records, manifest, "test")
    if not files:
        raise DataError(f"{source}: no test cadences to score")
    frames = []
    for fold, weights in enumerate(fold_model_paths(run, config.train.folds)):
        model = load_fold_model(config.model, image_shape, weights)
        result = fold_predictions(
            model, files, spec, batch or training_batch(run, config), config, fold
        )
        chosen = result.plain if submitted == "plain" else result.tta
        frames.append(pd.DataFrame({"id": result.ids, "pred": chosen}))
        log(f"fold {fold}: scored {len(result.ids)} cadences")
    submission = average_folds(frames, config.fold_weight_list())
    sample = Path(source) / SUBMISSION_FILE
    if sample.is_file():
        expected = list(pd.read_csv(sample, dtype={"id": str})["id"])
    else:
        index = pd.read_csv(records / INDEX_FILE, dtype={"id": str})
        expected = list(index.loc[index["split"] == "test", "id"])
    return write_submission(submission, out, expected)


def own_test_shards(run: Path, config: Config, source: str | os.PathLike) -> Path | None:
    """The shards ``run`` trained from, when they hold ``source``'s test split as it is now
    (same files, same layout and encoding): a run scoring the folder it was trained on need not
    shard its test split again. None otherwise."""
    from setibl.data.kaggle import validate
    from setibl.learned.layouts import layout_params
    from setibl.learned.records import MANIFEST_FILE, PLAN_FILE, source_fingerprint

    info = run / "run.json"
    if not info.is_file():
        return None
    records = Path(json.loads(info.read_text()).get("records", ""))
    plan_file = records / PLAN_FILE
    if not (plan_file.is_file() and (records / MANIFEST_FILE).is_file()):
        return None
    plan = json.loads(plan_file.read_text())
    same_spec = (
        plan.get("layout") == config.records.layout
        and plan.get("layout_params", {}) == layout_params(config.records.layout)
        and plan.get("encoding") == config.records.encoding
        and plan.get("resize", []) == list(config.records.resize)
    )
    if not same_spec or "test" not in plan.get("sources", {}):
        return None
    report = validate(
        source,
        config.cadence_shape,
        splits=("test",),
        workers=config.data.load_workers,
        values=False,  # as shard_data reads it: ids, labels, headers, sizes
    )
    test = report.tables.get("test")
    if report.problems or test is None or not len(test):
        return None
    return records if source_fingerprint(test) == plan["sources"]["test"] else None


def training_batch(run: str | os.PathLike, config: Config) -> int:
    """The global batch the run trained and predicted with (per-replica batch x replicas): TTA
    draws one augmentation per batch, so predict must batch alike to reproduce the run."""
    info = Path(run) / "run.json"
    replicas = json.loads(info.read_text()).get("replicas", 1) if info.is_file() else 1
    return config.train.batch_size * int(replicas)


def path_digest(path: Path) -> str:
    """Short stable name for a folder path (cache folders)."""
    import hashlib

    return hashlib.sha256(str(path).encode()).hexdigest()[:12]
