"""K-fold training over train shards, best-AUC checkpoints, OOF and test predictions with TTA.

Run folder::

    RUN/config.toml  RUN/run.json                 resolved config, records path, hardware
    RUN/fold-K/last-eN.keras  state.json          last completed epoch (model + optimizer)
    RUN/fold-K/best.weights.h5  history.csv  tb/  best-validation-AUC weights, per-epoch log
    RUN/fold-K/oof.csv  test.csv  done.json        fold results; done.json marks a finished fold
    RUN/oof.csv  RUN/submission.csv  RUN/metrics.json

Every file is written atomically; a run killed anywhere resumes: finished folds are skipped,
an unfinished fold restarts from its last completed epoch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd
from sklearn.model_selection import KFold

from setibl.config import Config, config_to_toml
from setibl.data.submission import safe_auc, write_submission
from setibl.errors import RunError
from setibl.io import (
    atomic_path,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    remove_temporaries,
)
from setibl.learned.augment import check_scan_slots
from setibl.learned.devices import Hardware, available_memory, use_xla
from setibl.learned.layouts import image_shape, layout_params
from setibl.learned.mixup import MixupPlan
from setibl.learned.models import compile_model
from setibl.learned.pipeline import PipelineSpec, eval_dataset, pipeline_spec, train_dataset
from setibl.learned.predict import average_folds, fold_predictions, load_fold_model
from setibl.learned.pseudo import PseudoLabels
from setibl.learned.records import INDEX_FILE, load_manifest, shard_paths
from setibl.learned.repro import seed_everything
from setibl.learned.runs import BEST_WEIGHTS, build_initial_model, check_layout_params
from setibl.learned.schedule import epoch_learning_rate, peak_learning_rate


def fold_splits(files: list[str], folds: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """SPEC: KFold over the (sorted) train shard files, shuffled with ``seed``."""
    if len(files) < folds:
        raise RunError(f"{len(files)} train shards cannot make {folds} folds")
    files = sorted(files)
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        ([files[i] for i in train], [files[i] for i in valid])
        for train, valid in splitter.split(files)
    ]


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: the full model, best weights (by val AUC) and history, then state.json.

    Checkpoints carry their epoch in the name (``last-e3.keras``, ``best-e2.weights.h5``) and
    state.json names the ones that belong to it: writing it commits the epoch, and a kill before
    that leaves the previous epoch's files and state intact (see :func:`resume_point`).
    """

    def __init__(self, fold_dir: Path, state: dict, monitor: str = "val_auc"):
        super().__init__()
        self.fold_dir, self.state, self.monitor = fold_dir, state, monitor

    def _save(self, name: str, save: Callable[[str], None]) -> None:
        with atomic_path(self.fold_dir / name) as tmp:
            save(str(tmp))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        score = logs.get(self.monitor)
        row = {
            "epoch": epoch,
            "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
        }
        row.update({k: float(v) for k, v in logs.items() if k != "learning_rate"})
        history = self.state.setdefault("history", [])
        history.append(row)
        if score is not None and (
            self.state.get("best_auc") is None or score > self.state["best_auc"]
        ):
            best = f"best-e{epoch + 1}.weights.h5"
            self._save(best, self.model.save_weights)
            self.state.update(best_auc=float(score), best_epoch=epoch, best_file=best)
        last = f"last-e{epoch + 1}.keras"
        self._save(last, self.model.save)
        self.state.update(epochs_done=epoch + 1, last_file=last)
        atomic_write_csv(self.fold_dir / "history.csv", pd.DataFrame(history))
        atomic_write_json(self.fold_dir / "state.json", self.state)  # commits the epoch
        remove_stale_checkpoints(self.fold_dir, self.state)


def remove_stale_checkpoints(fold_dir: Path, state: dict) -> None:
    """Delete checkpoints that ``state`` does not name, and temporaries of a killed writer."""
    keep = {state.get("last_file"), state.get("best_file")}
    for path in [*fold_dir.glob("last-e*.keras"), *fold_dir.glob("best-e*.weights.h5")]:
        if path.name not in keep:
            path.unlink(missing_ok=True)
    remove_temporaries(fold_dir)


def resume_point(fold_dir: Path) -> tuple[dict, Path | None]:
    """The committed state of a fold and the model to continue from (None: start afresh)."""
    state_file = fold_dir / "state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    remove_stale_checkpoints(fold_dir, state)
    last = fold_dir / state.get("last_file", "last.keras")
    if not state.get("epochs_done") or not last.is_file():
        return {}, None
    return state, last


def cache_in_memory(
    requested: bool, shard_bytes: int, available_bytes: int | None
) -> tuple[bool, str]:
    """Whether a fold caches its records in memory, and why, for the log.

    The cache holds the serialized records, about the size of the shard files (on the full
    Kaggle set ~20 GB per fold for on3, ~40 GB for all6). It is used when asked and when it
    takes at most half the memory free now; otherwise every epoch reads the shards from disk.
    """
    size = f"{shard_bytes / 1e9:.2f} GB"
    if not requested:
        return False, f"reading {size} of shards from disk each epoch (train.cache off)"
    if available_bytes is None:
        return True, f"caching {size} of shards in memory (free memory unknown)"
    if shard_bytes > available_bytes // 2:
        return False, (
            f"not caching: the fold's shards ({size}) exceed half the free memory "
            f"({available_bytes / 1e9:.2f} GB); reading them from disk each epoch"
        )
    return True, f"caching {size} of shards in memory ({available_bytes / 1e9:.2f} GB free)"


@dataclass
class TrainingContext:
    config: Config
    records: Path
    run: Path
    hardware: Hardware
    manifest: dict
    spec: PipelineSpec
    verbose: int
    pseudo: PseudoLabels | None = None


def _prepare_run(
    config: Config, records: Path, run: Path, hardware: Hardware, resume: bool
) -> None:
    config_file = run / "config.toml"
    if config_file.is_file():
        if not resume:
            raise RunError(f"{run} already holds a run; continue it with --resume")
        if config_file.read_text() != config_to_toml(config):
            raise RunError(
                f"{config_file} differs from the config given; resume with the run's own config"
            )
    elif resume:
        raise RunError(f"{run} holds no run to resume")
    if resume and (run / "run.json").is_file():
        check_layout_params(run)  # finished folds saw the images this run recorded
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_file, config_to_toml(config))
    atomic_write_json(
        run / "run.json",
        {
            "records": str(records.resolve()),
            "layout_params": layout_params(config.records.layout),  # what its images are
            "hardware": hardware.describe(),
            "replicas": hardware.replicas,
            "tensorflow": __import__("tensorflow").__version__,
            "keras": keras.__version__,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def _fit_fold(
    ctx: TrainingContext,
    fold: int,
    train_files: list[str],
    valid_files: list[str],
    fold_dir: Path,
    log: Callable[[str], None],
) -> None:
    config, hardware = ctx.config, ctx.hardware
    state, last = resume_point(fold_dir)
    done = int(state.get("epochs_done", 0))
    if done >= config.train.epochs:
        return
    seed_everything(config.run.seed + fold + 1000 * done, config.run.deterministic)
    batch = config.train.batch_size
    global_batch = hardware.global_batch(batch)
    counts = {s["file"]: s["count"] for s in ctx.manifest["shards"]}
    train_count = sum(counts[Path(f).name] for f in train_files)
    valid_count = sum(counts[Path(f).name] for f in valid_files)
    if ctx.pseudo is not None:
        train_count += len(ctx.pseudo)
    steps = max(1, train_count // global_batch)
    shard_bytes = sum(Path(f).stat().st_size for f in [*train_files, *valid_files])
    cache, reason = cache_in_memory(config.train.cache, shard_bytes, available_memory())
    log(f"fold {fold}: {reason}")
    train_data = train_dataset(
        train_files,
        ctx.spec,
        global_batch,
        config.augment,
        seed=config.run.seed + fold + 1000 * done,
        shuffle_buffer=config.train.shuffle_buffer,
        cache=cache,
        mixup=MixupPlan(config.mixup, config.train.epochs, steps, first_epoch=done),
        pseudo=ctx.pseudo,
    )
    valid_data = eval_dataset(valid_files, ctx.spec, global_batch, cache=cache)
    jit = use_xla(hardware, config.train.jit_compile)
    with hardware.strategy.scope():
        if last is not None:
            log(f"fold {fold}: resuming after epoch {done}")
            model = keras.saving.load_model(last)
        else:
            model = build_initial_model(config, ctx.spec.image_shape)  # model.init's weights
            compile_model(
                model,
                config.model,
                config.schedule.lr_start,
                jit_compile=jit,
                schedule=config.schedule,
            )
    epochs = config.train.epochs
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.LearningRateScheduler(
            lambda epoch: epoch_learning_rate(
                epoch, epochs, config.schedule, hardware.replicas, batch
            )
        ),
        EpochCheckpoint(fold_dir, state),
    ]
    if config.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(fold_dir / "tb")))
    model.fit(
        train_data,
        validation_data=valid_data,
        validation_steps=-(-valid_count // global_batch),
        epochs=config.train.epochs,
        initial_epoch=done,
        steps_per_epoch=steps,
        callbacks=callbacks,
        shuffle=False,
        verbose=ctx.verbose,
    )


def _finish_fold(
    ctx: TrainingContext, fold: int, valid_files: list[str], test_files: list[str], fold_dir: Path
) -> dict:
    """Reload the best weights; OOF and test predictions; fold metrics; done.json last."""
    config = ctx.config
    state = json.loads((fold_dir / "state.json").read_text())
    best = fold_dir / state.get("best_file", BEST_WEIGHTS)
    if best.is_file():
        os.replace(best, fold_dir / BEST_WEIGHTS)
    if not (fold_dir / BEST_WEIGHTS).is_file():
        raise RunError(f"{fold_dir}: no best weights (no epoch reported a validation AUC)")
    with ctx.hardware.strategy.scope():
        model = load_fold_model(config.model, ctx.spec.image_shape, fold_dir / BEST_WEIGHTS)
    batch = ctx.hardware.global_batch(config.train.batch_size)
    oof = fold_predictions(model, valid_files, ctx.spec, batch, config, fold)
    oof_frame = oof.frame().assign(fold=fold)
    atomic_write_csv(fold_dir / "oof.csv", oof_frame)
    if test_files:
        test = fold_predictions(model, test_files, ctx.spec, batch, config, fold)
        atomic_write_csv(fold_dir / "test.csv", test.frame()[["id", "pred", "pred_plain"]])
    metrics = {
        "fold": fold,
        "best_epoch": state.get("best_epoch"),
        "best_val_auc": state.get("best_auc"),
        "auc": safe_auc(oof.targets, oof.plain),
        "auc_tta": safe_auc(oof.targets, oof.tta),
        "valid_shards": [Path(f).name for f in valid_files],
        "count": len(oof.ids),
    }
    atomic_write_json(fold_dir / "done.json", metrics)
    (fold_dir / state.get("last_file", "last.keras")).unlink(missing_ok=True)  # large, done
    return metrics


def train_run(
    config: Config,
    records: str | os.PathLike,
    run: str | os.PathLike,
    hardware: Hardware,
    resume: bool = False,
    log: Callable[[str], None] = print,
    pseudo_labels: pd.DataFrame | None = None,
) -> dict:
    """Train every fold (skipping finished ones), then write oof.csv, submission.csv, metrics.

    ``pseudo_labels`` (id, target): test records that join every fold's training side.
    """
    records, run = Path(records), Path(run)
    shape = image_shape(
        config.records.layout, config.cadence_shape, config.data.on_scans, config.records.resize
    )
    manifest = load_manifest(records, config.records.layout, shape)
    spec = pipeline_spec(config, manifest)
    if config.augment.scan_order:
        check_scan_slots(shape, spec.scan_slots)
    _prepare_run(config, records, run, hardware, resume)
    train_files = shard_paths(records, manifest, "train")
    test_files = shard_paths(records, manifest, "test")
    pseudo = None
    if pseudo_labels is not None and len(pseudo_labels):
        pseudo = PseudoLabels.from_frame(test_files, pseudo_labels)
        log(f"pseudo labels: {len(pseudo)} test cadences join every fold's training")
    ctx = TrainingContext(
        config, records, run, hardware, manifest, spec, config.train.verbose, pseudo
    )
    log(
        f"hardware: {hardware.describe()}; peak lr "
        f"{peak_learning_rate(config.schedule, hardware.replicas, config.train.batch_size):.3g}"
    )
    fold_metrics = []
    for fold, (fit_files, valid_files) in enumerate(
        fold_splits(train_files, config.train.folds, config.train.fold_seed)
    ):
        fold_dir = run / f"fold-{fold}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        if (fold_dir / "done.json").is_file():
            fold_metrics.append(json.loads((fold_dir / "done.json").read_text()))
            log(f"fold {fold}: finished earlier, skipped")
            continue
        started = time.perf_counter()
        _fit_fold(ctx, fold, fit_files, valid_files, fold_dir, log)
        metrics = _finish_fold(ctx, fold, valid_files, test_files, fold_dir)
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        fold_metrics.append(metrics)
        log(
            f"fold {fold}: AUC {_fmt(metrics['auc'])}, with TTA {_fmt(metrics['auc_tta'])} "
            f"(best epoch {metrics['best_epoch']})"
        )
    return summarise_run(config, records, run, fold_metrics, log)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summarise_run(
    config: Config,
    records: Path,
    run: Path,
    fold_metrics: list[dict],
    log: Callable[[str], None] = print,
) -> dict:
    folds = config.train.folds
    oof = pd.concat(
        [pd.read_csv(run / f"fold-{k}" / "oof.csv", dtype={"id": str}) for k in range(folds)]
    )
    oof = oof.sort_values("id", kind="stable").reset_index(drop=True)
    if oof["id"].duplicated().any():
        raise RunError("an id appears in more than one fold's OOF predictions")
    metrics = {
        "folds": fold_metrics,
        "oof_auc": safe_auc(oof["target"], oof["pred"]),
        "oof_auc_plain": safe_auc(oof["target"], oof["pred_plain"]),
        "tta": config.train.tta,
        "oof_count": len(oof),
    }
    metrics["submitted"] = submitted_predictions(
        config.train.submit, metrics["oof_auc"], metrics["oof_auc_plain"]
    )
    column = PREDICTION_COLUMNS[metrics["submitted"]]
    oof = oof.assign(pred=oof[column])  # oof.csv holds what the submission is made of
    atomic_write_csv(run / "oof.csv", oof[["id", "target", "pred", "fold"]])
    test_frames = [
        pd.read_csv(run / f"fold-{k}" / "test.csv", dtype={"id": str})
        .loc[:, ["id", column]]
        .rename(columns={column: "pred"})
        for k in range(folds)
        if (run / f"fold-{k}" / "test.csv").is_file()
    ]
    if len(test_frames) == folds:
        submission = average_folds(test_frames, config.fold_weight_list())
        index = pd.read_csv(records / INDEX_FILE, dtype={"id": str})
        expected = index.loc[index["split"] == "test", "id"]
        write_submission(submission, run / "submission.csv", list(expected))
        metrics["test_count"] = len(submission)
    atomic_write_json(run / "metrics.json", metrics)
    log(
        f"OOF AUC {_fmt(metrics['oof_auc'])} (without TTA {_fmt(metrics['oof_auc_plain'])}); "
        f"submitting the {metrics['submitted']} predictions"
    )
    return metrics


PREDICTION_COLUMNS = {"tta": "pred", "plain": "pred_plain"}


def submitted_predictions(rule: str, oof_auc_tta: float | None, oof_auc_plain: float | None) -> str:
    """ "tta" or "plain": as the rule says, or for "auto" whichever had the higher OOF AUC (TTA
    on a tie or when an AUC is undefined)."""
    if rule != "auto":
        return rule
    if oof_auc_tta is None or oof_auc_plain is None:
        return "tta"
    return "plain" if oof_auc_plain > oof_auc_tta else "tta"
