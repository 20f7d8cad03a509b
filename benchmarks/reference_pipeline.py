"""The reference notebook's input approach, kept as the comparison case for benchmarks.

PNG records decoded one image at a time, an affine warp built from a 3x3 matrix and applied
with a per-image gather, per-image TensorFlow colour ops and a per-image dropout loop, then
batching. Written here only to be measured against setibl's pipeline.
"""

from __future__ import annotations

import math

import tensorflow as tf

from setibl.config import AugmentConfig
from setibl.learned.records import parse_single


def _matrix(rotation, shear, zoom_h, zoom_w, shift_h, shift_w):
    rotation, shear = math.pi * rotation / 180.0, math.pi * shear / 180.0
    one, zero = tf.constant([1.0]), tf.constant([0.0])
    c1, s1 = tf.math.cos(rotation), tf.math.sin(rotation)
    rot = tf.reshape(tf.concat([c1, s1, zero, -s1, c1, zero, zero, zero, one], 0), [3, 3])
    c2, s2 = tf.math.cos(shear), tf.math.sin(shear)
    shr = tf.reshape(tf.concat([one, s2, zero, zero, c2, zero, zero, zero, one], 0), [3, 3])
    zoom = tf.reshape(
        tf.concat([one / zoom_h, zero, zero, zero, one / zoom_w, zero, zero, zero, one], 0), [3, 3]
    )
    shift = tf.reshape(
        tf.concat([one, zero, shift_h, zero, one, shift_w, zero, zero, one], 0), [3, 3]
    )
    return rot @ shr @ zoom @ shift


def per_image_transform(image, height, width, config: AugmentConfig):
    m = _matrix(
        config.rotation_deg * tf.random.normal([1]),
        config.shear_deg * tf.random.normal([1]),
        1.0 + config.zoom_sigma * tf.random.normal([1]),
        1.0 + config.zoom_sigma * tf.random.normal([1]),
        config.shift_px * tf.random.normal([1]),
        config.shift_px * tf.random.normal([1]),
    )
    rows = tf.repeat(tf.range(height // 2, -height // 2, -1), width)
    cols = tf.tile(tf.range(-width // 2, width // 2), [height])
    index = tf.stack([rows, cols, tf.ones([height * width], tf.int32)])
    moved = tf.cast(m @ tf.cast(index, tf.float32), tf.int32)
    r = tf.clip_by_value(moved[0], -height // 2 + height % 2 + 1, height // 2)
    c = tf.clip_by_value(moved[1], -width // 2 + width % 2 + 1, width // 2)
    gathered = tf.gather_nd(image, tf.transpose(tf.stack([height // 2 - r, width // 2 - 1 + c])))
    return tf.reshape(gathered, [height, width, image.shape[-1]])


def per_image_dropout(image, height, width, config: AugmentConfig):
    if tf.random.uniform([]) > config.dropout_prob:
        return image
    side = max(1, int(config.dropout_size * min(height, width)))
    for _ in range(config.dropout_count):
        y = tf.random.uniform([], 0, height - side, tf.int32)
        x = tf.random.uniform([], 0, width - side, tf.int32)
        middle = tf.concat(
            [
                image[y : y + side, :x],
                tf.zeros([side, side, image.shape[-1]]),
                image[y : y + side, x + side :],
            ],
            axis=1,
        )
        image = tf.concat([image[:y], middle, image[y + side :]], axis=0)
    return image


def reference_train_dataset(files, image_shape, batch, config: AugmentConfig):
    height, width, _ = image_shape

    def load(serialized):
        image = parse_single(serialized, image_shape, "png8")["image"]
        target = tf.cast(parse_single(serialized, image_shape, "png8")["target"], tf.float32)
        image = per_image_transform(image, height, width, config)
        image = tf.image.random_flip_left_right(image)
        image = tf.image.random_saturation(image, *config.saturation)
        image = tf.image.random_contrast(image, *config.contrast)
        image = tf.image.random_brightness(image, config.brightness)
        image = per_image_dropout(image, height, width, config)
        return tf.reshape(image, image_shape), target

    dataset = tf.data.Dataset.from_tensor_slices(list(files)).interleave(
        tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.cache().repeat().shuffle(2048)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
