"""Pseudo-labelling: confident test predictions join the training of a new round.

Round r (r >= 1) reads the submission of round r - 1, keeps the test ids predicted at or above
``positive_threshold`` (label 1) or at or below ``negative_threshold`` (label 0), writes them
to ``pseudo_labels.csv`` and trains every fold anew on its training shards plus those test
records. Pseudo labels are only ever given to TEST ids (checked against the records' index)
and only join the training side of a fold; no validation id is ever seen with a pseudo label.
They come from the fold-averaged submission of round r - 1, though, whose other folds' models
were trained on this fold's validation ids: what they learnt reaches this fold through the
labels, so a pseudo round's OOF AUC is optimistic (more so where test cadences resemble
validation ones); judge rounds on held-out labels, as the Kaggle solutions judged them on the
leaderboard. Per-fold labels (fold k labelled by fold k's own model) would close that path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import tensorflow as tf

from setibl.config import PseudoConfig
from setibl.errors import RunError
from setibl.io import atomic_write_csv

PSEUDO_FILE = "pseudo_labels.csv"
COLUMNS = ["id", "target", "pred", "round"]
_ID_FEATURE = {"id": tf.io.FixedLenFeature([], tf.string)}


def confident_labels(predictions: pd.DataFrame, config: PseudoConfig, round_: int) -> pd.DataFrame:
    """Rows of ``predictions`` (id, target = P(needle)) confident enough to label.

    Returns (id, target 0/1, pred, round) sorted by id.
    """
    pred = predictions["target"].astype(float)
    positive = pred >= config.positive_threshold
    negative = pred <= config.negative_threshold
    chosen = predictions.loc[positive | negative, ["id"]].assign(
        target=positive[positive | negative].astype(int).to_numpy(),
        pred=pred[positive | negative].to_numpy(),
        round=round_,
    )
    return chosen.sort_values("id", kind="stable").reset_index(drop=True)[COLUMNS]


def check_test_only(labels: pd.DataFrame, index: pd.DataFrame, source: str) -> None:
    """Pseudo labels may name test ids only (index: id, split); anything else is an error."""
    test_ids = set(index.loc[index["split"] == "test", "id"])
    foreign = sorted(set(labels["id"]) - test_ids)
    if foreign:
        raise RunError(
            f"{source}: {len(foreign)} pseudo-labelled ids are not test ids of the records "
            f"(first: {foreign[0]}); pseudo labels never replace a train or validation label"
        )


def write_pseudo_labels(labels: pd.DataFrame, path: str | os.PathLike) -> Path:
    return atomic_write_csv(Path(path), labels[COLUMNS])


def read_pseudo_labels(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    try:
        labels = pd.read_csv(path, dtype={"id": str})
    except FileNotFoundError:
        raise RunError(f"{path}: no pseudo labels") from None
    missing = [c for c in COLUMNS if c not in labels]
    if missing:
        raise RunError(f"{path}: missing columns {missing}")
    if not labels["target"].isin([0, 1]).all():
        raise RunError(f"{path}: column 'target' must hold 0 or 1")
    return labels


@dataclass
class PseudoLabels:
    """Test records that join training: the shard ``files`` to read and the labels by id."""

    files: Sequence[str]
    ids: Sequence[str]
    targets: Sequence[int]
    table: tf.lookup.StaticHashTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # built eagerly: a table first made inside a tf.data function would belong to its graph
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(self.ids), tf.string), tf.constant(list(self.targets), tf.int64)
        )
        self.table = tf.lookup.StaticHashTable(initializer, default_value=-1)

    @classmethod
    def from_frame(cls, files: Sequence[str], labels: pd.DataFrame) -> PseudoLabels:
        return cls(list(files), list(labels["id"]), [int(t) for t in labels["target"]])

    def __len__(self) -> int:
        return len(self.ids)

    def holds(self, record: tf.Tensor) -> tf.Tensor:
        """Whether a serialized record's id has a pseudo label."""
        ident = tf.io.parse_single_example(record, _ID_FEATURE)["id"]
        return self.table.lookup(ident) >= 0

    def relabel(self, batch: dict) -> dict:
        """Give the batch's pseudo-labelled ids their labels; other targets stay."""
        label = self.table.lookup(batch["id"])
        return {**batch, "target": tf.where(label >= 0, label, batch["target"])}
