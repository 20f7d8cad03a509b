"""tf.data input pipelines over TFRecord shards: training, evaluation, prediction and TTA.

Training: parallel interleaved reads -> cache (serialized records) -> repeat -> shuffle ->
batch -> vectorised parse/decode -> batch augmentation -> prefetch. Augmentation draws from a
seed derived from (pipeline seed, batch index), so results depend only on the seed.
Evaluation and prediction keep file order, so ids line up across TTA passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

from setibl.config import AugmentConfig, Config
from setibl.learned.augment import make_augmenter
from setibl.learned.layouts import ScanSlots, get_layout
from setibl.learned.mixup import MixupPlan, random_mixup
from setibl.learned.pseudo import PseudoLabels
from setibl.learned.records import parse_batch, parse_single

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class PipelineSpec:
    """What every pipeline needs to know about the records it reads."""

    image_shape: tuple[int, int, int]
    encoding: str = "float16"
    deterministic: bool = False
    scan_slots: ScanSlots | None = None  # where the layout put the scans (scan-order aug)
    flip_axes: tuple[int, ...] = (2,)  # image axes a frequency flip reverses (the layout's)


def pipeline_spec(config: Config, manifest: dict) -> PipelineSpec:
    """The spec of a run's records: stored image shape and encoding, the layout's scan slots."""
    layout = get_layout(manifest["layout"])
    slots = layout.scan_slots(config.data.scans, config.data.on_scans)
    return PipelineSpec(
        tuple(manifest["image_shape"]),
        manifest["encoding"],
        config.run.deterministic,
        slots,
        layout.flip_axes,
    )


def _records(
    files: Sequence[str],
    spec: PipelineSpec,
    shuffle_files: bool,
    seed: int,
    pseudo: PseudoLabels | None = None,
):
    """Serialized records of ``files`` (all) and of ``pseudo.files`` (the listed ids only)."""
    extra = list(pseudo.files) if pseudo is not None else []
    flags = [False] * len(files) + [True] * len(extra)
    dataset = tf.data.Dataset.from_tensor_slices((list(files) + extra, flags))
    if shuffle_files:
        dataset = dataset.shuffle(len(flags), seed=seed, reshuffle_each_iteration=True)

    def read(file: tf.Tensor, is_pseudo: tf.Tensor) -> tf.data.Dataset:
        records = tf.data.TFRecordDataset(file)
        if pseudo is None:
            return records
        return records.filter(lambda record: tf.logical_or(~is_pseudo, pseudo.holds(record)))

    return dataset.interleave(
        read,
        cycle_length=min(len(flags), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=spec.deterministic or not shuffle_files,
    )


def _batched(
    dataset: tf.data.Dataset,
    spec: PipelineSpec,
    batch: int,
    drop: bool,
    dtype: tf.DType = tf.float32,
):
    """Batch serialized records and decode them: yields dicts (image, id, target).

    ``dtype=float16`` leaves the cast to float32 to the (compiled) augmentation.
    """
    if spec.encoding == "float16":
        dataset = dataset.batch(batch, drop_remainder=drop)
        return dataset.map(
            lambda s: parse_batch(s, spec.image_shape, dtype),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    dataset = dataset.map(
        lambda s: parse_single(s, spec.image_shape, spec.encoding),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(batch, drop_remainder=drop)


def _augmented(
    dataset: tf.data.Dataset,
    augment_config: AugmentConfig,
    seed: int,
    stream: int,
    spec: PipelineSpec,
):
    """Augment batch i with the stateless seed (seed, stream * 2**32 + i); the layout's scan
    slots and flip axes come with ``spec``."""
    augment = make_augmenter(
        augment_config,
        jit_compile=augment_config.jit_compile,
        scan_slots=spec.scan_slots,
        flip_axes=spec.flip_axes,
    )

    def apply(index: tf.Tensor, batch: dict) -> dict:
        batch_seed = tf.stack(
            [tf.constant(seed, tf.int64), tf.constant(stream, tf.int64) * (2**32) + index]
        )
        return {**batch, "image": augment(batch["image"], batch_seed)}

    return dataset.enumerate().map(apply, num_parallel_calls=AUTOTUNE, deterministic=True)


def _options(spec: PipelineSpec) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = spec.deterministic
    return options


def train_dataset(
    files: Sequence[str],
    spec: PipelineSpec,
    global_batch: int,
    augment_config: AugmentConfig,
    seed: int = 42,
    shuffle_buffer: int = 2048,
    cache: bool = True,
    augment: bool = True,
    mixup: MixupPlan | None = None,
    pseudo: PseudoLabels | None = None,
) -> tf.data.Dataset:
    """Endless (images, targets) batches for ``model.fit``; targets float32 [batch].

    ``pseudo``: records of other shards (test) that join training with pseudo labels; only the
    ids it lists are read from its files, with its labels. ``mixup``: when batches are mixed.
    """
    dataset = _records(files, spec, shuffle_files=True, seed=seed, pseudo=pseudo)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = _batched(
        dataset, spec, global_batch, drop=True, dtype=tf.float16 if augment else tf.float32
    )
    if pseudo is not None:
        dataset = dataset.map(pseudo.relabel, num_parallel_calls=AUTOTUNE, deterministic=True)
    if augment:
        dataset = _augmented(dataset, augment_config, seed, stream=0, spec=spec)
    dataset = dataset.map(lambda b: (b["image"], tf.cast(b["target"], tf.float32)))
    if mixup is not None and mixup.config.enabled:
        dataset = _mixed(dataset, mixup, seed)
    return dataset.prefetch(AUTOTUNE).with_options(_options(spec))


def _mixed(dataset: tf.data.Dataset, plan: MixupPlan, seed: int) -> tf.data.Dataset:
    """Mixup of batch i with the stateless seed (seed, -1 - i), while the plan has it on."""

    def apply(index: tf.Tensor, images: tf.Tensor, targets: tf.Tensor):
        batch_seed = tf.stack([tf.constant(seed, tf.int64), -1 - index])
        return tf.cond(
            plan.active(index),
            lambda: random_mixup(images, targets, batch_seed, plan.config),
            lambda: (images, targets),
        )

    return dataset.enumerate().map(
        lambda i, batch: apply(i, *batch), num_parallel_calls=AUTOTUNE, deterministic=True
    )


def eval_dataset(
    files: Sequence[str],
    spec: PipelineSpec,
    batch: int,
    cache: bool = False,
) -> tf.data.Dataset:
    """One pass of (images, targets) in file order, no augmentation (validation in fit)."""
    dataset = _records(files, spec, shuffle_files=False, seed=0)
    if cache:
        dataset = dataset.cache()
    dataset = _batched(dataset, spec, batch, drop=False)
    dataset = dataset.map(lambda b: (b["image"], tf.cast(b["target"], tf.float32)))
    return dataset.prefetch(AUTOTUNE)


def predict_dataset(
    files: Sequence[str],
    spec: PipelineSpec,
    batch: int,
    augment_config: AugmentConfig | None = None,
    seed: int = 42,
    tta_pass: int = 0,
) -> tf.data.Dataset:
    """One pass of dicts (image, id, target) in file order; augmented when ``augment_config``.

    TTA pass ``k`` uses augmentation stream ``k + 1`` so passes differ from each other and
    from training, while each pass is repeatable.
    """
    dataset = _records(files, spec, shuffle_files=False, seed=0)
    dataset = _batched(
        dataset,
        spec,
        batch,
        drop=False,
        dtype=tf.float16 if augment_config is not None else tf.float32,
    )
    if augment_config is not None:
        dataset = _augmented(dataset, augment_config, seed, stream=tta_pass + 1, spec=spec)
    return dataset.prefetch(AUTOTUNE)


def labelled_examples(
    files: Sequence[str], spec: PipelineSpec, batch: int, pseudo: PseudoLabels | None = None
) -> tf.data.Dataset:
    """One pass of the dicts (image, id, target) a fold trains on, in file order, before
    augmentation: every record of ``files`` and the pseudo-labelled ones of ``pseudo``."""
    dataset = _batched(_records(files, spec, False, 0, pseudo=pseudo), spec, batch, drop=False)
    if pseudo is not None:
        dataset = dataset.map(pseudo.relabel)
    return dataset
