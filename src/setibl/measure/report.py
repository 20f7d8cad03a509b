"""One self-contained HTML report of a run: config, data, folds, pictures, sensitivity."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd

from setibl.config import Config, config_to_toml, load_config
from setibl.data.kaggle import load_snippet, snippet_path
from setibl.io import atomic_write_text
from setibl.learned.records import load_manifest
from setibl.learned.schedule import schedule_table
from setibl.measure import plots
from setibl.measure.evaluate import evaluate, load_labels, load_predictions, to_jsonable
from setibl.measure.page import IMAGE_CHECK, STYLE, embedded_image, html_table

GALLERY_SIZE = 4


def _auc_text(auc: float | None) -> str:
    """An AUC for the page; "n/a" where it is undefined (one class only)."""
    return "n/a" if auc is None else f"{auc:.4f}"


def _gallery(run_config: Config, data: Path, oof: pd.DataFrame, folder: Path) -> list[Path]:
    """Most confident false positives and most missed needles, six scans each."""
    pictures = []
    negatives = oof[oof["target"] == 0].nlargest(GALLERY_SIZE, "pred")
    positives = oof[oof["target"] == 1].nsmallest(GALLERY_SIZE, "pred")
    for frame, name, heading in (
        (negatives, "false_positives", "most confident false positives"),
        (positives, "missed_needles", "needles scored lowest"),
    ):
        if frame.empty:
            continue
        cadences = [
            load_snippet(snippet_path(data, "train", i), run_config.cadence_shape)
            for i in frame["id"]
        ]
        titles = [f"{i}\np={p:.3f}" for i, p in zip(frame["id"], frame["pred"], strict=True)]
        pictures.append(plots.plot_gallery(cadences, titles, folder / f"{name}.png", heading))
    return pictures


def augmented_batch_picture(
    config: Config,
    records: str | os.PathLike,
    out: str | os.PathLike,
    samples: int = 3,
    split: str = "train",
) -> Path:
    """PNG of ``samples`` augmented training images (first three channels each)."""
    from setibl.learned.pipeline import pipeline_spec, predict_dataset
    from setibl.learned.records import load_manifest, shard_paths
    from setibl.measure.plots import plot_augmented_batch

    manifest = load_manifest(records, config.records.layout)
    spec = pipeline_spec(config, manifest)
    files = shard_paths(records, manifest, split)
    batch = next(iter(predict_dataset(files, spec, samples, config.augment, config.run.seed)))
    ids = [i.decode() for i in batch["id"].numpy()]
    return plot_augmented_batch(batch["image"].numpy(), out, ids)


def build_report(
    run: str | os.PathLike,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    fpr: float = 0.01,
    bins: int = 6,
) -> Path:
    """Write ``run/report.html`` (or ``out``) with every picture embedded; returns its path.
    Recall figures are taken at ``fpr`` on haystack cadences, in ``bins`` quantile bins.

    ``data``: the Kaggle-layout folder the run was trained on, for the gallery, the test
    labels (test AUC) and needles.csv (injection-recovery), when it has them.
    """
    run = Path(run)
    config = load_config(run / "config.toml")
    metrics = json.loads((run / "metrics.json").read_text())
    run_info = json.loads((run / "run.json").read_text())
    folder = run / "report"
    folder.mkdir(exist_ok=True)
    oof = pd.read_csv(run / "oof.csv", dtype={"id": str})
    sections: list[str] = []
    images: list[tuple[Path, str]] = []

    fold_rows = pd.DataFrame(
        [
            {
                "fold": f["fold"],
                "best epoch": f["best_epoch"],
                "AUC": f["auc"],
                "AUC with TTA": f["auc_tta"],
                "cadences": f["count"],
            }
            for f in metrics["folds"]
        ]
    )
    summary = [
        f"OOF AUC {_auc_text(metrics['oof_auc'])} (without TTA "
        f"{_auc_text(metrics['oof_auc_plain'])}), TTA passes {metrics['tta']}"
    ]
    if metrics.get("test_auc") is not None:
        summary.append(f"test AUC {metrics['test_auc']:.4f}")
    sections.append(f"<h2>Results</h2><p>{'; '.join(summary)}</p>{html_table(fold_rows)}")

    records = Path(run_info["records"])
    if (records / "manifest.json").is_file():
        manifest = load_manifest(records)
        counts = (
            pd.DataFrame(manifest["shards"])
            .groupby("split")
            .agg(shards=("file", "count"), cadences=("count", "sum"))
            .reset_index()
        )
        sections.append(
            f"<h2>Data</h2><p>records {html.escape(str(records))}: layout "
            f"{manifest['layout']}, encoding {manifest['encoding']}, image "
            f"{tuple(manifest['image_shape'])}</p>{html_table(counts)}"
        )
        images.append(
            (
                augmented_batch_picture(config, records, folder / "augmented.png"),
                "augmented training samples",
            )
        )
    images.append(
        (plots.plot_class_distribution(oof["target"], folder / "classes.png"), "class distribution")
    )
    images.append(
        (
            plots.plot_schedule(
                schedule_table(  # the rates the run used: they scale with replicas x batch
                    config.schedule,
                    config.train.epochs,
                    int(run_info.get("replicas", 1)),
                    config.train.batch_size,
                ),
                folder / "schedule.png",
            ),
            "learning-rate schedule",
        )
    )
    histories = {
        f["fold"]: pd.read_csv(run / f"fold-{f['fold']}" / "history.csv") for f in metrics["folds"]
    }
    images.append((plots.plot_training_curves(histories, folder / "curves.png"), "training curves"))
    curves = {}
    needles = Path(data) / "needles.csv" if data else None
    table = (
        pd.read_csv(needles, dtype={"id": str, "scans": str})
        if needles is not None and needles.is_file()
        else None
    )
    oof_eval = evaluate(oof[["id", "pred", "fold"]], oof[["id", "target"]], table, fpr, bins)
    if "roc" in oof_eval:
        curves["OOF"] = {**oof_eval["roc"], "auc": oof_eval["auc"]}
    if (run / "submission.csv").is_file():
        submission = pd.read_csv(run / "submission.csv", dtype={"id": str})
        images.append(
            (
                plots.plot_histogram(submission["target"], folder / "test_hist.png"),
                "histogram of test predictions",
            )
        )
        test_labels = Path(data) / "test_labels.csv" if data else None
        if test_labels is not None and test_labels.is_file():
            test_eval = evaluate(load_predictions(run / "submission.csv"), load_labels(test_labels))
            if "roc" in test_eval:
                curves["test"] = {**test_eval["roc"], "auc": test_eval["auc"]}
    if curves:
        images.append((plots.plot_roc(curves, folder / "roc.png"), "ROC"))
    if table is not None:
        recovery = oof_eval["injection_recovery"]
        if "by_snr" in recovery:
            fpr = recovery["fpr"]
            images.append(
                (
                    plots.plot_recall(
                        {"OOF": recovery["by_snr"]}, folder / "recall_snr.png", "S/N", fpr
                    ),
                    "recall vs S/N",
                )
            )
            images.append(
                (
                    plots.plot_recall(
                        {"OOF": recovery["by_drift"]},
                        folder / "recall_drift.png",
                        "|drift rate| Hz/s",
                        fpr,
                    ),
                    "recall vs drift",
                )
            )
            sections.append(
                f"<h2>Sensitivity (injection-recovery, OOF)</h2><p>recall "
                f"{recovery['recall']:.3f} of {recovery['needles']} needles at a false-positive"
                f" rate of {fpr:.0%} on haystack cadences</p>"
                f"<h3>by S/N</h3>{html_table(recovery['by_snr'])}"
                f"<h3>by |drift rate| (Hz/s)</h3>{html_table(recovery['by_drift'])}"
                f"<h3>by needle kind</h3>{html_table(recovery['by_kind'])}"
            )
            atomic_write_text(
                folder / "sensitivity.json",
                json.dumps(to_jsonable(recovery), indent=2, default=float),
            )
    if data is not None and (Path(data) / "train").is_dir():
        for path in _gallery(config, Path(data), oof, folder):
            images.append((path, path.stem.replace("_", " ")))
    body = (
        "\n".join(sections)
        + "<h2>Pictures</h2>"
        + "\n".join(
            f"<h3>{html.escape(alt)}</h3>{embedded_image(path, alt)}" for path, alt in images
        )
    )
    body += f"<h2>Config</h2><pre>{html.escape(config_to_toml(config))}</pre>"
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>setibl report: "
        f"{html.escape(run.name)}</title>{STYLE}</head><body><h1>setibl run report: "
        f"{html.escape(str(run))}</h1>{body}{IMAGE_CHECK}</body></html>"
    )
    return atomic_write_text(Path(out) if out else run / "report.html", page)
