"""Metrics on any predictions CSV: AUC (overall, per fold, per group), ROC and PR curves, and
injection-recovery: recall at a fixed false-positive rate on the haystack (needle-free)
cadences, per S/N bin, per |drift| bin and per needle kind, with Clopper-Pearson 68% intervals
(one sigma) on each recall.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from setibl.data.submission import safe_auc
from setibl.errors import DataError

CONFIDENCE = 0.6827  # one sigma


def load_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """(id, pred[, fold]) from a submission (id, target), an oof.csv (id, target, pred, fold)
    or a de-Doppler predictions file."""
    frame = pd.read_csv(path, dtype={"id": str})
    if "id" not in frame:
        raise DataError(f"{path}: no 'id' column")
    if "pred" in frame:
        keep = ["id", "pred"] + (["fold"] if "fold" in frame else [])
        return frame[keep]
    if "target" in frame:
        return frame[["id", "target"]].rename(columns={"target": "pred"})
    raise DataError(f"{path}: needs a 'pred' or 'target' column")


def load_labels(path: str | os.PathLike) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"id": str})
    if not {"id", "target"} <= set(frame):
        raise DataError(f"{path}: labels need 'id' and 'target' columns")
    return frame[["id", "target"]]


def join(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Predictions with their labels; every labelled id must be predicted exactly once."""
    if predictions["id"].duplicated().any():
        raise DataError("predictions list an id more than once")
    merged = labels.merge(predictions, on="id", how="left")
    missing = merged["pred"].isna().sum()
    if missing:
        raise DataError(f"{missing} labelled id(s) have no prediction")
    return merged


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE):
    """Central binomial interval for successes / trials."""
    if trials == 0:
        return (np.nan, np.nan)
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else stats.beta.ppf(alpha / 2, successes, trials - successes + 1)
    high = (
        1.0
        if successes == trials
        else stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    )
    return (float(low), float(high))


def threshold_at_fpr(negatives: np.ndarray, fpr: float) -> float:
    """Smallest score above which at most ``fpr`` of the haystack cadences lie."""
    if len(negatives) == 0:
        raise DataError("no haystack (target 0) cadences to set a false-positive rate on")
    ordered = np.sort(np.asarray(negatives))[::-1]
    allowed = int(np.floor(fpr * len(ordered) + 1e-9))  # 0.29 x 100 is 28.999...
    return float(ordered[allowed]) if allowed < len(ordered) else float(ordered[-1])


def recall_table(detected: pd.DataFrame, column: str, edges: np.ndarray) -> pd.DataFrame:
    """Recall per bin of ``column`` ([low, high) bins over ``edges``) with intervals."""
    rows = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        last = high == edges[-1]
        inside = (detected[column] >= low) & (
            (detected[column] <= high) if last else (detected[column] < high)
        )
        part = detected[inside]
        hits, total = int(part["detected"].sum()), len(part)
        low_ci, high_ci = clopper_pearson(hits, total)
        rows.append(
            {
                "low": float(low),
                "high": float(high),
                "needles": total,
                "detected": hits,
                "recall": hits / total if total else np.nan,
                "recall_low": low_ci,
                "recall_high": high_ci,
            }
        )
    return pd.DataFrame(rows)


def injection_recovery(
    merged: pd.DataFrame, needles: pd.DataFrame, fpr: float = 0.01, bins: int = 6
) -> dict:
    """Recall of injected needles at the score threshold giving ``fpr`` on haystack cadences."""
    threshold = threshold_at_fpr(merged.loc[merged["target"] == 0, "pred"].to_numpy(), fpr)
    rows = needles[needles["role"] == "needle"].merge(merged[["id", "pred"]], on="id")
    rows = rows.assign(detected=rows["pred"] > threshold, abs_drift=rows["drift_rate"].abs())
    result = {
        "fpr": fpr,
        "threshold": threshold,
        "needles": len(rows),
        "recall": float(rows["detected"].mean()) if len(rows) else None,
    }
    if len(rows):
        snr_edges = np.quantile(rows["snr"], np.linspace(0, 1, bins + 1))
        drift_edges = np.quantile(rows["abs_drift"], np.linspace(0, 1, bins + 1))
        result["by_snr"] = recall_table(rows, "snr", np.unique(snr_edges))
        result["by_drift"] = recall_table(rows, "abs_drift", np.unique(drift_edges))
        kinds = []
        for kind, part in rows.groupby("kind"):
            low, high = clopper_pearson(int(part["detected"].sum()), len(part))
            kinds.append(
                {
                    "kind": kind,
                    "needles": len(part),
                    "recall": part["detected"].mean(),
                    "recall_low": low,
                    "recall_high": high,
                }
            )
        result["by_kind"] = pd.DataFrame(kinds)
    return result


def evaluate(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    needles: pd.DataFrame | None = None,
    fpr: float = 0.01,
    bins: int = 6,
) -> dict:
    """Every metric of this module for one set of predictions; recall at ``fpr`` in ``bins``
    quantile bins of S/N and drift when ``needles`` are given."""
    merged = join(predictions, labels)
    y, p = merged["target"].to_numpy(), merged["pred"].to_numpy()
    result: dict = {"count": len(merged), "positives": int(y.sum()), "auc": safe_auc(y, p)}
    if len(np.unique(y)) == 2:
        result["average_precision"] = float(average_precision_score(y, p))
        fpr_curve, tpr_curve, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        result["roc"] = {"fpr": fpr_curve.tolist(), "tpr": tpr_curve.tolist()}
        result["pr"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    if "fold" in merged:
        result["auc_by_fold"] = {
            int(f): safe_auc(g["target"], g["pred"]) for f, g in merged.groupby("fold")
        }
    result["auc_by_group"] = {
        g: safe_auc(part["target"], part["pred"]) for g, part in merged.groupby(merged["id"].str[0])
    }
    if needles is not None:
        result["injection_recovery"] = injection_recovery(merged, needles, fpr, bins)
    return result


def summary_lines(result: dict) -> list[str]:
    """Human-readable report of :func:`evaluate`'s result."""
    lines = [
        f"cadences {result['count']}, positives {result['positives']}, AUC {_fmt(result['auc'])}"
    ]
    if "auc_by_fold" in result:
        lines.append(
            "AUC by fold: " + ", ".join(f"{k}: {_fmt(v)}" for k, v in result["auc_by_fold"].items())
        )
    recovery = result.get("injection_recovery")
    if recovery and "by_snr" in recovery:
        lines.append(
            f"recall at FPR {recovery['fpr']:.2%} (threshold "
            f"{recovery['threshold']:.4g}): {recovery['recall']:.3f} of "
            f"{recovery['needles']} needles"
        )
        for name, table in (("S/N", recovery["by_snr"]), ("|drift| Hz/s", recovery["by_drift"])):
            lines.append(f"  by {name}:")
            for row in table.itertuples():
                lines.append(
                    f"    {row.low:8.3f} - {row.high:8.3f}: {row.recall:.3f} "
                    f"[{row.recall_low:.3f}, {row.recall_high:.3f}] "
                    f"({row.detected}/{row.needles})"
                )
        lines.append(
            "  by kind: "
            + ", ".join(
                f"{r.kind} {r.recall:.3f} ({r.needles})" for r in recovery["by_kind"].itertuples()
            )
        )
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def to_jsonable(result: dict) -> dict:
    """DataFrames to lists of records, for metrics files."""
    out = {}
    for key, value in result.items():
        if isinstance(value, pd.DataFrame):
            out[key] = value.to_dict(orient="records")
        elif isinstance(value, dict):
            out[key] = to_jsonable(value)
        else:
            out[key] = value
    return out


def needles_path_for(labels: str | os.PathLike) -> Path | None:
    """needles.csv beside a labels file, if there is one."""
    candidate = Path(labels).parent / "needles.csv"
    return candidate if candidate.is_file() else None
