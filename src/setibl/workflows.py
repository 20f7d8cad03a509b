"""Multi-step jobs behind the CLI, with progress bars; the CLI only parses and calls these."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm import tqdm

from setibl.cadence import DataError, load_snippet, snippet_path
from setibl.config import Config

if TYPE_CHECKING:  # the heavy modules load where they are used: `dedoppler` starts fast
    from setibl.synth import CadenceGeometry


def geometry_from_config(config: Config) -> CadenceGeometry:
    from setibl.synth import CadenceGeometry

    return CadenceGeometry(
        scans=config.data.scans,
        height=config.data.height,
        width=config.data.width,
        gap_steps=config.synth.gap_steps,
    )


def synthesize(
    config: Config,
    out: str | os.PathLike,
    n_train: int,
    n_test: int,
    seed: int,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Write a synthetic Kaggle-layout set with a progress bar; returns the counts."""
    from setibl.synth_dataset import write_dataset

    with tqdm(total=n_train + n_test, desc="synth", unit="cadence", disable=not progress) as bar:
        return write_dataset(
            out,
            n_train,
            n_test,
            config.synth,
            geometry_from_config(config),
            seed=seed,
            workers=workers,
            overwrite=overwrite,
            progress=bar.update,
        )


def find_split(data: str | os.PathLike, snippet_id: str) -> str:
    for split in ("train", "test"):
        if snippet_path(data, split, snippet_id).is_file():
            return split
    raise DataError(f"{data}: no snippet with id {snippet_id} in train/ or test/")


def show_cadence(
    config: Config,
    data: str | os.PathLike,
    snippet_id: str,
    out: str | os.PathLike,
    split: str | None = None,
) -> Path:
    """PNG of one cadence's six scans, titled with its label and injected signals if known."""
    from setibl.plots import plot_cadence
    from setibl.synth_dataset import NEEDLES_FILE

    split = split or find_split(data, snippet_id)
    cadence = load_snippet(snippet_path(data, split, snippet_id), config.image_shape)
    notes = []
    needles = Path(data) / NEEDLES_FILE
    if needles.is_file():
        table = pd.read_csv(needles, dtype={"id": str, "scans": str})
        for _, row in table[table["id"] == snippet_id].iterrows():
            notes.append(
                f"{row['role']} {row['kind']}: scans {row['scans']}, snr {row['snr']:.1f}, "
                f"drift {row['drift_rate']:.3f} Hz/s, {row['profile']}"
            )
    return plot_cadence(cadence, out, title=f"{snippet_id} ({split})", notes=notes)


def shard_data(
    config: Config,
    data: str | os.PathLike,
    out: str | os.PathLike,
    skip_bad: bool = False,
    progress: bool = True,
    splits: tuple[str, ...] = ("train", "test"),
) -> dict:
    """Validate a Kaggle-layout folder, then write its train and test shards into ``out``.

    A bad snippet stops the run unless ``skip_bad``; then what was dropped is listed in
    ``out/dropped.csv``. Without ``skip_bad`` each file is read once: ids, labels, headers and
    sizes are checked first, NaN/Inf values while writing (the error names the file; finished
    shards are kept, so a rerun resumes). With it, every value is checked before writing.
    """
    from setibl.cadence import validate
    from setibl.io import atomic_write_csv
    from setibl.records import ShardSpec, write_records

    report = validate(
        data,
        config.image_shape,
        splits=splits,
        workers=config.data.load_workers,
        values=skip_bad,
    )
    if report.problems:
        if not skip_bad:
            listing = "\n".join(str(p) for p in report.problems[:20])
            raise DataError(f"{len(report.problems)} problem(s) in {data}:\n{listing}")
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_csv(Path(out) / "dropped.csv", report.dropped_table())
    spec = ShardSpec(
        config.records.layout, config.records.encoding, config.image_shape, config.data.on_scans
    )
    tables = dict(report.tables)
    counts = {"train": config.records.train_shards, "test": config.records.test_shards}
    total = sum(len(t) for t in tables.values())
    with tqdm(total=total, desc="shard", unit="cadence", disable=not progress) as bar:
        return write_records(
            tables,
            out,
            spec,
            counts,
            seed=config.run.seed,
            workers=config.records.workers,
            progress=bar.update,
        )


def augmented_batch_picture(
    config: Config,
    records: str | os.PathLike,
    out: str | os.PathLike,
    samples: int = 3,
    split: str = "train",
) -> Path:
    """PNG of ``samples`` augmented training images (first three channels each)."""
    from setibl.pipeline import PipelineSpec, predict_dataset
    from setibl.plots import plot_augmented_batch
    from setibl.records import load_manifest, shard_paths

    manifest = load_manifest(records, config.records.layout)
    spec = PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"])
    files = shard_paths(records, manifest, split)
    batch = next(iter(predict_dataset(files, spec, samples, config.augment, config.run.seed)))
    ids = [i.decode() for i in batch["id"].numpy()]
    return plot_augmented_batch(batch["image"].numpy(), out, ids)


def is_records_folder(path: str | os.PathLike) -> bool:
    from setibl.records import MANIFEST_FILE

    return (Path(path) / MANIFEST_FILE).is_file()


def train_workflow(
    config: Config,
    source: str | os.PathLike,
    run: str | os.PathLike,
    resume: bool = False,
    multi_worker: bool = False,
    log=print,
) -> dict:
    """Train on shards, or on a Kaggle-layout folder sharded first into ``run/shards``."""
    from setibl.devices import configure_precision, detect_hardware
    from setibl.repro import seed_everything
    from setibl.train import train_run

    seed_everything(config.run.seed, config.run.deterministic)
    records = Path(source)
    if not is_records_folder(records):
        records = Path(run) / "shards"
        log(f"sharding {source} into {records}")
        shard_data(config, source, records)
    hardware = detect_hardware(multi_worker=multi_worker)
    configure_precision(hardware, config.train.mixed_precision)
    return train_run(config, records, run, hardware, resume=resume, log=log)


def predict_workflow(
    run: str | os.PathLike,
    source: str | os.PathLike,
    out: str | os.PathLike,
    batch: int | None = None,
    log=print,
) -> Path:
    """Score the test split of ``source`` (Kaggle folder or shards) with a finished run's
    fold models, with TTA or plain as the run submitted (``train.submit``); the submission is
    validated against the expected test ids."""
    from setibl.cadence import SUBMISSION_FILE
    from setibl.config import load_config
    from setibl.layouts import get_layout
    from setibl.pipeline import PipelineSpec
    from setibl.predict import average_folds, fold_predictions, load_fold_model
    from setibl.records import INDEX_FILE, load_manifest, shard_paths
    from setibl.submission import write_submission
    from setibl.train import RunError, fold_model_paths

    run = Path(run)
    config = load_config(run / "config.toml")
    records = Path(source)
    if not is_records_folder(records):
        digest = path_digest(Path(source).resolve())
        records = run / "predict-shards" / digest
        log(f"sharding the test split of {source} into {records}")
        shard_data(config, source, records, splits=("test",))
    image_shape = get_layout(config.records.layout).output_shape(
        config.image_shape, config.data.on_scans
    )
    manifest = load_manifest(records, config.records.layout, image_shape)
    spec = PipelineSpec(image_shape, manifest["encoding"])
    files = shard_paths(records, manifest, "test")
    # the run's own choice between TTA and plain predictions (train.submit), as it submitted
    summary = run / "metrics.json"
    if not summary.is_file():
        raise RunError(f"{summary}: not found; is the run finished?")
    submitted = json.loads(summary.read_text()).get("submitted", "tta")
    frames = []
    for fold, weights in enumerate(fold_model_paths(run, config.train.folds)):
        model = load_fold_model(config.model, image_shape, weights)
        result = fold_predictions(
            model, files, spec, batch or config.train.batch_size, config, fold
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


def path_digest(path: Path) -> str:
    """Short stable name for a folder path (cache folders)."""
    import hashlib

    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def auc_against_labels(submission: str | os.PathLike, labels: str | os.PathLike) -> float | None:
    """AUC of a submission against a labels CSV (id, target), joined on id."""
    from setibl.submission import safe_auc

    preds = pd.read_csv(submission, dtype={"id": str})
    truth = pd.read_csv(labels, dtype={"id": str})
    merged = truth.merge(preds, on="id", suffixes=("", "_pred"), validate="one_to_one")
    if len(merged) != len(truth):
        raise DataError(f"{submission}: {len(truth) - len(merged)} labelled id(s) missing")
    return safe_auc(merged["target"].to_numpy(), merged["target_pred"].to_numpy())


def _auc_text(auc: float | None) -> str:
    return "n/a" if auc is None else f"{auc:.4f}"


def _demo_baseline_and_blend(
    config: Config, data: Path, run: Path, out: Path, labels: Path
) -> dict:
    """The de-Doppler search on both splits, its blend with the trained run, test AUCs."""
    from setibl.blend import blend_runs

    baseline = out / "dedoppler"
    for split in ("train", "test"):
        if not (baseline / f"{split}.csv").is_file():
            dedoppler_workflow(
                config, data, split, baseline / f"{split}.csv", filter_level=0, progress=False
            )
    member = f"{baseline / 'train.csv'}:{baseline / 'test.csv'}"
    summary = blend_runs([run, member], out / "blend", seed=config.run.seed)
    return {
        "dedoppler_test_auc": auc_against_labels(baseline / "test.csv", labels),
        "blend_test_auc": auc_against_labels(out / "blend" / "submission.csv", labels),
        "blend_weights": [round(w, 3) for w in summary["weights"]],
    }


def demo_workflow(config: Config, out: str | os.PathLike, log=print) -> dict:
    """Synthesize (if absent), shard, train with TTA, predict the test split; then the
    de-Doppler baseline and its blend with the run; print the three test AUCs.

    Every stage resumes: run it again after an interruption and it continues.
    """
    import time

    from setibl.devices import configure_precision, detect_hardware
    from setibl.io import atomic_write_json
    from setibl.repro import seed_everything
    from setibl.synth_dataset import TEST_LABELS_FILE
    from setibl.train import train_run

    started = time.perf_counter()
    out = Path(out)
    data, records, run = out / "data", out / "shards", out / "run"
    if not (data / "train_labels.csv").is_file():
        log(f"synthesizing {config.synth.n_train} + {config.synth.n_test} cadences into {data}")
        synthesize(
            config,
            data,
            config.synth.n_train,
            config.synth.n_test,
            config.run.seed,
            workers=config.records.workers,
            overwrite=True,
        )
    if not is_records_folder(records):
        shard_data(config, data, records)
    seed_everything(config.run.seed, config.run.deterministic)
    hardware = detect_hardware(look_for_tpu=False)
    configure_precision(hardware, config.train.mixed_precision)
    metrics = train_run(
        config, records, run, hardware, resume=(run / "config.toml").is_file(), log=log
    )
    labels = data / TEST_LABELS_FILE
    metrics["test_auc"] = auc_against_labels(run / "submission.csv", labels)
    metrics.update(_demo_baseline_and_blend(config, data, run, out, labels))
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_json(run / "metrics.json", metrics)
    log(
        f"test AUC against {labels}: CNN {_auc_text(metrics['test_auc'])}, de-Doppler "
        f"{_auc_text(metrics['dedoppler_test_auc'])}, blend {_auc_text(metrics['blend_test_auc'])}"
        f" (weights {metrics['blend_weights']}); {metrics['seconds']:.0f} s in all; run {run}"
    )
    from setibl.report import build_report

    log(f"report: {build_report(run, data)}")
    return metrics


def _dedoppler_chunk(job: tuple) -> tuple[list[dict], list[dict]]:
    from setibl.cadence import load_many
    from setibl.dedoppler import run_search

    paths, ids, shape, rules, settings, filter_level = job
    cadences = load_many(paths, shape, workers=1)
    return run_search(cadences, ids, rules, settings, filter_level)


def dedoppler_workflow(
    config: Config,
    data: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    filter_level: int | None = None,
    workers: int | None = None,
    chunk: int = 16,
    progress: bool = True,
) -> tuple[Path, Path]:
    """De-Doppler search over a split: ``out`` (id, target) plus ``<out>.hits.csv`` (every hit;
    drifts also in Hz/s with ``synth.df_hz`` / ``synth.dt_s`` as the data's resolution) and
    ``<out>.events.csv`` (id, level, score)."""
    import multiprocessing as mp

    from setibl.cadence import discover
    from setibl.dedoppler import EventRules
    from setibl.io import atomic_write_csv
    from setibl.submission import write_submission
    from setibl.taylor import compile_kernel

    settings = config.dedoppler
    level = settings.filter_level if filter_level is None else filter_level
    workers = settings.workers if workers is None else workers
    table = discover(data, split)
    rules = EventRules(
        snr_threshold=settings.snr_threshold,
        off_snr_threshold=settings.off_snr_threshold,
        hit_window=settings.hit_window,
        top_hits=settings.top_hits,
        off_tolerance=settings.off_tolerance,
        on_scans=config.data.on_scans,
        scan_period=config.data.height + config.synth.gap_steps,
    )
    jobs = [
        (
            list(table["path"][i : i + chunk]),
            list(table["id"][i : i + chunk]),
            config.image_shape,
            rules,
            settings,
            level,
        )
        for i in range(0, len(table), chunk)
    ]
    compile_kernel()  # once here, inherited by forked workers
    predictions, hits = [], []
    with tqdm(total=len(table), desc="dedoppler", unit="cadence", disable=not progress) as bar:
        if workers <= 1:
            results = map(_dedoppler_chunk, jobs)
            pool = None
        else:
            pool = mp.get_context("fork").Pool(workers)
            results = pool.imap(_dedoppler_chunk, jobs)
        try:
            for chunk_predictions, chunk_hits in results:
                predictions += chunk_predictions
                hits += chunk_hits
                bar.update(len(chunk_predictions))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    out = Path(out)
    frame = pd.DataFrame(predictions)
    write_submission(frame[["id", "target"]], out, list(table["id"]))
    stem = out.with_suffix("")
    hit_columns = ["id", "scan", "channel", "drift_ch_per_step", "snr", "vetoed", "level"]
    hit_table = pd.DataFrame(hits, columns=hit_columns)
    hit_table.insert(
        4, "drift_hz_per_s", hit_table["drift_ch_per_step"] * config.synth.df_hz / config.synth.dt_s
    )
    hits_path = atomic_write_csv(f"{stem}.hits.csv", hit_table)
    atomic_write_csv(f"{stem}.events.csv", frame[["id", "level", "score"]])
    return out, hits_path
