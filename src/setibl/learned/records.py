"""TFRecord shards: the record schema (writer and parser side by side), sharding, manifest.

Encodings:

- ``float16`` (default, lossless for Kaggle data): the image's raw float16 bytes, (H, W, C).
- ``png8`` (the reference's, lossy): each image mapped to 0..255 between its own minimum and
  maximum (kept in the record, so decoding restores the value range), channels stacked
  vertically into one grayscale PNG. 8 bits lose the faintest needles' contrast.

Shard files are named ``{split}-{index:02d}-of-{total:02d}-n{count}.tfrec``; ``manifest.json``
holds layout, encoding, shapes, and per shard its count, positives and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from setibl.data.kaggle import load_snippet
from setibl.errors import RecordsError
from setibl.io import atomic_path, atomic_write_csv, atomic_write_json, remove_temporaries
from setibl.learned.layouts import (
    get_layout,
    image_shape,
    layout_params,
    params_change,
    resize_image,
)

MANIFEST_FILE = "manifest.json"
PLAN_FILE = "plan.json"
INDEX_FILE = "index.csv"
ENCODINGS = ("float16", "png8")
NO_TARGET = -1


# ---- schema: writer and parser side by side -------------------------------------------------

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "id": tf.io.FixedLenFeature([], tf.string),
    "target": tf.io.FixedLenFeature([], tf.int64, default_value=NO_TARGET),
    "range": tf.io.FixedLenFeature([2], tf.float32, default_value=[0.0, 1.0]),
}


def encode_image(image: np.ndarray, encoding: str) -> tuple[bytes, tuple[float, float]]:
    """Bytes of one (H, W, C) image and the (low, high) range png8 needs to decode it."""
    if encoding == "float16":
        return np.ascontiguousarray(image, dtype=np.float16).tobytes(), (0.0, 1.0)
    if encoding == "png8":
        low, high = float(image.min()), float(image.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        quantised = np.round((image - low) * scale).astype(np.uint8)
        height, width, channels = image.shape
        stacked = np.moveaxis(quantised, -1, 0).reshape(channels * height, width, 1)
        return tf.io.encode_png(stacked).numpy(), (low, high)
    raise RecordsError(f"unknown encoding {encoding!r}; known: {ENCODINGS}")


def serialize_example(image: np.ndarray, snippet_id: str, target: int, encoding: str) -> bytes:
    data, value_range = encode_image(image, encoding)
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[snippet_id.encode()])),
        "target": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(target)])),
        "range": tf.train.Feature(float_list=tf.train.FloatList(value=list(value_range))),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_batch(
    serialized: tf.Tensor, image_shape: Sequence[int], dtype: tf.DType = tf.float32
) -> dict[str, tf.Tensor]:
    """Parse a batch of float16 records: image [B, H, W, C] (``dtype``), id, target."""
    parsed = tf.io.parse_example(serialized, FEATURES)
    raw = tf.io.decode_raw(parsed["image"], tf.float16)
    image = tf.cast(tf.reshape(raw, [-1, *image_shape]), dtype)
    return {"image": image, "id": parsed["id"], "target": parsed["target"]}


def parse_single(serialized: tf.Tensor, image_shape: Sequence[int], encoding: str):
    """Parse one record of either encoding: image [H, W, C] float32, id, target."""
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    height, width, channels = image_shape
    if encoding == "float16":
        raw = tf.io.decode_raw(parsed["image"], tf.float16)
        image = tf.reshape(tf.cast(raw, tf.float32), [height, width, channels])
    else:
        pixels = tf.io.decode_png(parsed["image"], channels=1)
        stacked = tf.reshape(tf.cast(pixels, tf.float32), [channels, height, width])
        low, high = parsed["range"][0], parsed["range"][1]
        image = tf.transpose(stacked, [1, 2, 0]) * ((high - low) / 255.0) + low
    return {"image": image, "id": parsed["id"], "target": parsed["target"]}


# ---- sharding -------------------------------------------------------------------------------


def shard_name(split: str, index: int, total: int, count: int) -> str:
    return f"{split}-{index:02d}-of-{total:02d}-n{count}.tfrec"


def assign_shards(table: pd.DataFrame, n_shards: int, seed: int) -> list[list[int]]:
    """Row indices per shard, stratified by target x group (group alone without targets).

    Each stratum is shuffled by the seed and dealt round-robin, continuing where the previous
    stratum stopped, so shard sizes differ by at most one and every stratum is spread evenly.
    """
    if len(table) < n_shards:
        raise RecordsError(f"{len(table)} snippets cannot fill {n_shards} shards")
    keys = ["target", "group"] if "target" in table else ["group"]
    rng = np.random.default_rng(seed)
    shards: list[list[int]] = [[] for _ in range(n_shards)]
    position = 0
    for _, stratum in table.groupby(keys, sort=True):
        for row in rng.permutation(stratum.index.to_numpy()):
            shards[position % n_shards].append(int(row))
            position += 1
    return [sorted(rows) for rows in shards]


@dataclass(frozen=True)
class ShardSpec:
    """Everything needed to write the records of one data set."""

    layout: str
    encoding: str
    cadence_shape: tuple[int, int, int]
    on_scans: tuple[int, ...]
    resize: tuple[int, ...] = ()  # (height, width) of the stored images; (): the layout's

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return image_shape(self.layout, self.cadence_shape, self.on_scans, self.resize)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_shard(path: Path, rows: pd.DataFrame, spec: ShardSpec) -> None:
    layout = get_layout(spec.layout)
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for row in rows.itertuples(index=False):
            cadence = load_snippet(row.path, spec.cadence_shape)
            image = layout(cadence, spec.on_scans)
            if spec.resize:
                image = resize_image(image, spec.resize)
            target = int(row.target) if hasattr(row, "target") else NO_TARGET
            writer.write(serialize_example(image, row.id, target, spec.encoding))


def write_split(
    table: pd.DataFrame,
    out: str | os.PathLike,
    split: str,
    n_shards: int,
    spec: ShardSpec,
    seed: int = 42,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Write one split's shards (finished ones are kept) and return their manifest entries."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assignment = assign_shards(table, n_shards, seed)
    plans = []
    for index, rows in enumerate(assignment):
        name = shard_name(split, index, n_shards, len(rows))
        plans.append((out / name, table.loc[rows]))

    def write(plan: tuple[Path, pd.DataFrame]) -> dict:
        path, rows = plan
        if not path.is_file():  # finished shards were renamed into place whole: keep them
            _write_shard(path, rows, spec)
        if progress is not None:
            progress(len(rows))
        positives = int(rows["target"].sum()) if "target" in rows else None
        return {
            "file": path.name,
            "split": split,
            "count": len(rows),
            "positives": positives,
            "sha256": _sha256(path),
            "ids": list(rows["id"]),
        }

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(write, plans))


def source_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 over every snippet's id, target, file size and modification time: shards are
    reused only while their sources are the very same files."""
    digest = hashlib.sha256()
    targets = table["target"] if "target" in table else [NO_TARGET] * len(table)
    for ident, target, path in zip(table["id"], targets, table["path"], strict=True):
        stat = os.stat(path)
        digest.update(f"{ident},{int(target)},{stat.st_size},{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def write_records(
    tables: dict[str, pd.DataFrame],
    out: str | os.PathLike,
    spec: ShardSpec,
    shard_counts: dict[str, int],
    seed: int = 42,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Shard every split in ``tables``; resumable; writes index.csv and manifest.json last."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = layout_params(spec.layout)
    plan = {
        "layout": spec.layout,
        **({"layout_params": params} if params else {}),
        "encoding": spec.encoding,
        "seed": seed,
        "cadence_shape": list(spec.cadence_shape),
        "on_scans": list(spec.on_scans),
        "shards": shard_counts,
        **({"resize": list(spec.resize)} if spec.resize else {}),
        "sources": {split: source_fingerprint(t) for split, t in tables.items()},
    }
    plan_path = out / PLAN_FILE
    if plan_path.is_file() and json.loads(plan_path.read_text()) != plan:
        raise RecordsError(
            f"{plan_path}: this folder holds shards of a different plan (ids, labels or snippet "
            "files, layout or its settings, encoding or shard counts changed); use another "
            "folder or delete it"
        )
    atomic_write_json(plan_path, plan)
    remove_temporaries(out)  # half-written shards of a killed run
    entries = []
    for split, table in tables.items():
        entries += write_split(
            table.reset_index(drop=True),
            out,
            split,
            shard_counts[split],
            spec,
            seed,
            workers,
            progress,
        )
    index = pd.DataFrame(
        [(i, e["split"], e["file"]) for e in entries for i in e["ids"]],
        columns=["id", "split", "file"],
    )
    atomic_write_csv(out / INDEX_FILE, index)
    manifest = {
        "layout": spec.layout,
        **({"layout_params": params} if params else {}),
        "encoding": spec.encoding,
        "cadence_shape": list(spec.cadence_shape),
        "on_scans": list(spec.on_scans),
        "image_shape": list(spec.image_shape),
        "resize": list(spec.resize),
        "seed": seed,
        "shards": [{k: v for k, v in e.items() if k != "ids"} for e in entries],
    }
    atomic_write_json(out / MANIFEST_FILE, manifest)
    return manifest


def load_manifest(
    records: str | os.PathLike,
    layout: str | None = None,
    image_shape: Sequence[int] | None = None,
    verify: bool = False,
) -> dict:
    """Read manifest.json; check it agrees with the expected layout and image shape."""
    path = Path(records) / MANIFEST_FILE
    if not path.is_file():
        raise RecordsError(f"{path}: no manifest; the shards are missing or unfinished")
    manifest = json.loads(path.read_text())
    if layout is not None and manifest["layout"] != layout:
        raise RecordsError(
            f"{path}: shards use layout '{manifest['layout']}' but the config asks for "
            f"'{layout}'; reshard or set records.layout={manifest['layout']}"
        )
    try:
        now = layout_params(manifest["layout"])
    except ValueError as err:  # a layout this version does not know
        raise RecordsError(f"{path}: {err}") from None
    made = manifest.get("layout_params", {})
    if made != now:
        raise RecordsError(
            f"{path}: shards of layout '{manifest['layout']}' were made otherwise than this "
            f"version makes them ({params_change(made, now)}); delete them and shard again"
        )
    if image_shape is not None and tuple(manifest["image_shape"]) != tuple(image_shape):
        raise RecordsError(
            f"{path}: shards hold images of shape {tuple(manifest['image_shape'])}, the config "
            f"expects {tuple(image_shape)}"
        )
    for shard in manifest["shards"]:
        file = Path(records) / shard["file"]
        if not file.is_file():
            raise RecordsError(f"{file}: listed in the manifest but missing")
        if verify and _sha256(file) != shard["sha256"]:
            raise RecordsError(f"{file}: checksum differs from the manifest (corrupt shard)")
    return manifest


def shard_paths(records: str | os.PathLike, manifest: dict, split: str) -> list[str]:
    return [str(Path(records) / s["file"]) for s in manifest["shards"] if s["split"] == split]
