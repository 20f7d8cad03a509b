"""Blend several runs: simplex weights that maximise OOF AUC, applied to their test predictions.

Method: the weighted mean of the runs' predictions, weights on the simplex. Two runs: a grid
of 101 weights. More: every vertex (each run alone), the centre, and Dirichlet(1) samples,
then a local refinement around the best. The vertices are always candidates, so the blend's
OOF AUC is never below the best single run's. Because the weights are fit on the same OOF
predictions they are scored on, the blend is also cross-validated: weights fit on 4/5 of the
OOF rows, AUC measured on the other 1/5, averaged over 5 splits (``cv_auc``), next to each run
alone on the same splits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from setibl.data.submission import write_submission
from setibl.errors import BlendError
from setibl.io import atomic_write_csv, atomic_write_json


def load_run(run: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(oof: id, target, pred, fold) sorted by id, and the submission if present."""
    run = Path(run)
    oof_path = run / "oof.csv"
    if not oof_path.is_file():
        raise BlendError(f"{oof_path}: not found; is {run} a finished run?")
    oof = pd.read_csv(oof_path, dtype={"id": str}).sort_values("id").reset_index(drop=True)
    submission_path = run / "submission.csv"
    submission = (
        pd.read_csv(submission_path, dtype={"id": str}).sort_values("id").reset_index(drop=True)
        if submission_path.is_file()
        else None
    )
    return oof, submission


def load_predictions_member(spec: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``TRAIN.csv[:TEST.csv]``: a detector not trained on the labels (e.g. de-Doppler), whose
    predictions (id, target) on the train split stand in for OOF predictions."""
    train_csv, _, test_csv = spec.partition(":")
    frames = []
    for path in (train_csv, test_csv):
        if not path:
            frames.append(None)
            continue
        if not Path(path).is_file():
            raise BlendError(
                f"{path}: not found (a blend member is a run folder or "
                "TRAIN_PREDICTIONS.csv[:TEST_PREDICTIONS.csv])"
            )
        frame = pd.read_csv(path, dtype={"id": str})
        if not {"id", "target"} <= set(frame):
            raise BlendError(f"{path}: needs columns id, target")
        frames.append(frame[["id", "target"]].sort_values("id").reset_index(drop=True))
    train, test = frames
    return train.rename(columns={"target": "pred"}), test


def _as_oof(name: str, predictions: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Give a predictions-file member the reference run's targets and folds."""
    if (
        len(predictions) != len(reference)
        or not (predictions["id"].to_numpy() == reference["id"].to_numpy()).all()
    ):
        raise BlendError(f"{name}: predicted ids differ from the runs' OOF ids")
    return reference[["id", "target", "fold"]].assign(pred=predictions["pred"].to_numpy())


def check_compatible(names: Sequence[str], oofs: Sequence[pd.DataFrame]) -> None:
    reference = oofs[0]
    for name, oof in zip(names[1:], oofs[1:], strict=True):
        if len(oof) != len(reference) or not (oof["id"].to_numpy() == reference["id"]).all():
            raise BlendError(
                f"{name}: OOF ids differ from {names[0]}'s; blend runs trained on the same data"
            )
        if not (oof["fold"].to_numpy() == reference["fold"].to_numpy()).all():
            moved = int((oof["fold"].to_numpy() != reference["fold"].to_numpy()).sum())
            raise BlendError(
                f"{name}: {moved} id(s) sit in another fold than in {names[0]}; "
                "blend runs with the same folds (shards, train.folds, fold_seed)"
            )


def candidate_weights(runs: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    if runs == 1:
        return np.ones((1, 1))
    if runs == 2:
        grid = np.linspace(0, 1, 101)
        return np.stack([grid, 1 - grid], axis=1)
    return np.concatenate(
        [np.eye(runs), np.full((1, runs), 1 / runs), rng.dirichlet(np.ones(runs), samples)]
    )


def fit_weights(
    predictions: np.ndarray, targets: np.ndarray, seed: int = 0, samples: int = 2000
) -> tuple[np.ndarray, float]:
    """Simplex weights (runs,) maximising the AUC of ``predictions @ w`` ((rows, runs))."""
    rng = np.random.default_rng(seed)
    candidates = candidate_weights(predictions.shape[1], samples, rng)
    scores = [roc_auc_score(targets, predictions @ w) for w in candidates]
    best = int(np.argmax(scores))
    weights, score = candidates[best], scores[best]
    if predictions.shape[1] > 2:
        for scale in (0.1, 0.03, 0.01):
            for _ in range(100):
                trial = np.clip(weights + rng.normal(0, scale, len(weights)), 0, None)
                if trial.sum() == 0:
                    continue
                trial /= trial.sum()
                trial_score = roc_auc_score(targets, predictions @ trial)
                if trial_score > score:
                    weights, score = trial, trial_score
    return weights, float(score)


def cross_validated(
    predictions: np.ndarray,
    targets: np.ndarray,
    seed: int = 0,
    splits: int = 5,
    samples: int = 2000,
) -> dict:
    """Held-out AUC of weights fit on the other folds, and of each run alone on the same folds."""
    splitter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    blended, single = [], []
    for fit, held in splitter.split(predictions, targets):
        weights, _ = fit_weights(predictions[fit], targets[fit], seed, samples)
        blended.append(roc_auc_score(targets[held], predictions[held] @ weights))
        single.append(
            [
                roc_auc_score(targets[held], predictions[held, i])
                for i in range(predictions.shape[1])
            ]
        )
    return {"cv_auc": float(np.mean(blended)), "cv_auc_single": np.mean(single, axis=0).tolist()}


def blend_runs(
    runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    seed: int = 0,
    samples: int = 2000,
) -> dict:
    """Blend ``runs`` into ``out``: oof.csv, submission.csv (if every run has one), blend.json.

    A member is a run folder, or ``TRAIN.csv[:TEST.csv]`` predictions of a detector that never
    saw the labels (the de-Doppler search); at least one run folder supplies labels and folds.
    """
    names = [str(r) for r in runs]
    is_run = [Path(r).is_dir() for r in runs]
    if not any(is_run):
        raise BlendError("at least one member must be a run folder (it supplies labels, folds)")
    loaded = [
        load_run(r) if run else load_predictions_member(str(r))
        for r, run in zip(runs, is_run, strict=True)
    ]
    run_names = [n for n, run in zip(names, is_run, strict=True) if run]
    run_oofs = [oof for (oof, _), run in zip(loaded, is_run, strict=True) if run]
    check_compatible(run_names, run_oofs)
    oofs = [
        oof if run else _as_oof(name, oof, run_oofs[0])
        for name, (oof, _), run in zip(names, loaded, is_run, strict=True)
    ]
    targets = oofs[0]["target"].to_numpy()
    matrix = np.stack([oof["pred"].to_numpy() for oof in oofs], axis=1)
    weights, score = fit_weights(matrix, targets, seed, samples)
    single = [float(roc_auc_score(targets, matrix[:, i])) for i in range(len(runs))]
    summary = {
        "runs": names,
        "weights": weights.tolist(),
        "oof_auc": score,
        "oof_auc_single": single,
        **cross_validated(matrix, targets, seed, samples=samples),
    }
    out = Path(out)
    blended = oofs[0][["id", "target", "fold"]].assign(pred=matrix @ weights)
    atomic_write_csv(out / "oof.csv", blended[["id", "target", "pred", "fold"]])
    submissions = [s for _, s in loaded]
    if all(s is not None for s in submissions):
        ids = submissions[0]["id"]
        for name, submission in zip(names, submissions, strict=True):
            if not (submission["id"].to_numpy() == ids.to_numpy()).all():
                raise BlendError(f"{name}: submission ids differ from {names[0]}'s")
        test = np.stack([s["target"].to_numpy() for s in submissions], axis=1) @ weights
        write_submission(
            pd.DataFrame({"id": ids, "target": test}), out / "submission.csv", list(ids)
        )
    atomic_write_json(out / "blend.json", summary)
    return summary
