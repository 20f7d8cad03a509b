"""Predictions of fold models with test-time augmentation, and fold averaging."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from setibl.config import AugmentConfig, Config, ModelConfig
from setibl.data.submission import SubmissionError
from setibl.learned.models import build_model
from setibl.learned.pipeline import PipelineSpec, predict_dataset


@dataclass
class Predictions:
    """Per-record predictions of one model over some shards, in file order."""

    ids: np.ndarray  # str
    targets: np.ndarray  # int, -1 where unknown
    plain: np.ndarray  # no augmentation
    tta: np.ndarray  # mean over the TTA passes (equal to plain when there are none)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"id": self.ids, "target": self.targets, "pred_plain": self.plain, "pred": self.tta}
        )


def inference_function(model: keras.Model):
    """``images [B, H, W, C] -> P(needle) [B, 1]``, one traced function per model, kept on it:
    every plain and TTA pass reuses its traces (a new function per pass would retrace each).

    A plain compiled call, not predict_on_batch: under MirroredStrategy the latter splits (and
    can pad) the batch across replicas; inference needs no distribution here.
    """
    infer = getattr(model, "_setibl_inference", None)
    if infer is None:
        infer = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
        model._setibl_inference = infer
    return infer


def _one_pass(model: keras.Model, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    infer = inference_function(model)
    ids, targets, preds = [], [], []
    for batch in dataset:
        preds.append(np.asarray(infer(batch["image"])).reshape(-1))
        ids.append(batch["id"].numpy())
        targets.append(batch["target"].numpy())
    if not ids:
        return np.array([], str), np.array([], int), np.array([], np.float32)
    decoded = np.array([i.decode() for i in np.concatenate(ids)])
    return decoded, np.concatenate(targets), np.concatenate(preds)


def predict_records(
    model: keras.Model,
    files: Sequence[str],
    spec: PipelineSpec,
    batch: int,
    augment_config: AugmentConfig,
    tta: int,
    seed: int,
) -> Predictions:
    """One plain pass and ``tta`` augmented passes over ``files``; TTA = mean of the passes."""
    ids, targets, plain = _one_pass(model, predict_dataset(files, spec, batch))
    if tta <= 0:
        return Predictions(ids, targets, plain, plain.copy())
    total = np.zeros_like(plain, dtype=np.float64)
    for tta_pass in range(tta):
        dataset = predict_dataset(files, spec, batch, augment_config, seed, tta_pass)
        pass_ids, _, preds = _one_pass(model, dataset)
        if not np.array_equal(pass_ids, ids):
            raise RuntimeError("TTA pass read records in a different order; cannot average")
        total += preds
    return Predictions(ids, targets, plain, (total / tta).astype(np.float32))


def average_folds(frames: Sequence[pd.DataFrame], weights: Sequence[float]) -> pd.DataFrame:
    """Weighted sum of per-fold test predictions (id, pred) -> (id, target) sorted by id."""
    if len(frames) != len(weights):
        raise ValueError(f"{len(frames)} fold predictions but {len(weights)} weights")
    merged = None
    for fold, (frame, weight) in enumerate(zip(frames, weights, strict=True)):
        part = frame.set_index("id")["pred"].rename(f"fold{fold}") * weight
        merged = part.to_frame() if merged is None else merged.join(part, how="outer")
    if merged.isna().any().any():
        raise SubmissionError("folds predicted different sets of test ids")
    total = merged.sum(axis=1)
    result = total.rename("target").reset_index().sort_values("id", kind="stable")
    return result.reset_index(drop=True)


def fold_seed(run_seed: int, fold: int) -> int:
    """Augmentation seed of one fold's TTA: the same at the end of training and in predict."""
    return run_seed + 7919 * (fold + 1)


def load_fold_model(
    model_config: ModelConfig, image_shape: tuple[int, int, int], weights: str | os.PathLike
) -> keras.Model:
    """A fold's trained model: built without ImageNet weights (the trained ones replace them)."""
    model = build_model(dataclasses.replace(model_config, weights="none"), image_shape)
    model.load_weights(weights)
    return model


def fold_predictions(
    model: keras.Model,
    files: Sequence[str],
    spec: PipelineSpec,
    batch: int,
    config: Config,
    fold: int,
) -> Predictions:
    """Plain and TTA predictions of one fold's model over some shards."""
    seed = fold_seed(config.run.seed, fold)
    return predict_records(model, files, spec, batch, config.augment, config.train.tta, seed)
