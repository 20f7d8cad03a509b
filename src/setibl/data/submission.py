"""Submissions: the (id, target) CSV every detector writes, checked before it is written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from setibl.errors import SubmissionError
from setibl.io import atomic_write_csv


def safe_auc(targets: np.ndarray, preds: np.ndarray) -> float | None:
    """ROC AUC, or None where only one class is present."""
    from sklearn.metrics import roc_auc_score  # not at import: the classical CLI starts faster

    targets = np.asarray(targets)
    if len(np.unique(targets)) < 2:
        return None
    return float(roc_auc_score(targets, preds))


def validate_submission(frame: pd.DataFrame, expected_ids: Sequence[str] | None) -> None:
    """Every expected id exactly once, no other id, values finite and in [0, 1]."""
    if list(frame.columns) != ["id", "target"]:
        raise SubmissionError(f"columns must be ['id', 'target'], got {list(frame.columns)}")
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise SubmissionError(f"duplicate id(s): {list(duplicated[:5])}")
    values = frame["target"].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise SubmissionError(f"{int((~np.isfinite(values)).sum())} NaN/Inf prediction(s)")
    if (values < 0).any() or (values > 1).any():
        raise SubmissionError("predictions outside [0, 1]")
    if expected_ids is not None:
        expected, got = set(expected_ids), set(frame["id"])
        missing, extra = sorted(expected - got), sorted(got - expected)
        if missing or extra:
            raise SubmissionError(
                f"ids differ from the expected test ids: {len(missing)} missing "
                f"{missing[:5]}, {len(extra)} unexpected {extra[:5]}"
            )


def write_submission(
    frame: pd.DataFrame, path: str | os.PathLike, expected_ids: Sequence[str] | None
) -> Path:
    """Validate, sort by id and write atomically."""
    frame = frame[["id", "target"]].sort_values("id", kind="stable").reset_index(drop=True)
    validate_submission(frame, expected_ids)
    return atomic_write_csv(path, frame)
