"""The demo: synthesize, shard, train, predict, run the baseline, blend, report."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from setibl.config import Config
from setibl.errors import DataError
from setibl.jobs.classical import dedoppler_workflow
from setibl.jobs.data import is_records_folder, shard_data, synthesize


def auc_against_labels(submission: str | os.PathLike, labels: str | os.PathLike) -> float | None:
    """AUC of a submission against a labels CSV (id, target), joined on id."""
    from setibl.data.submission import safe_auc

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
    from setibl.measure.blend import blend_runs

    baseline = out / "dedoppler"
    for split in ("train", "test"):
        if not (baseline / f"{split}.csv").is_file():
            dedoppler_workflow(
                config, data, split, baseline / f"{split}.csv", filter_level=0, progress=False
            )
    member = f"{baseline / 'train.csv'}:{baseline / 'test.csv'}"
    summary = blend_runs(
        [run, member], out / "blend", seed=config.run.seed, samples=config.measure.blend_samples
    )
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

    from setibl.data.synth_dataset import TEST_LABELS_FILE
    from setibl.io import atomic_write_json
    from setibl.learned.devices import configure_precision, detect_hardware
    from setibl.learned.repro import seed_everything
    from setibl.learned.train import train_run

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
    from setibl.measure.report import build_report

    log(f"report: {build_report(run, data)}")
    return metrics
