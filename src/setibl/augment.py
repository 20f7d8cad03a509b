"""Batch augmentations (images: [batch, height, width, channels] float32), seeded and stateless.

Every random transform takes a ``seed`` tensor of shape [2] and draws with TensorFlow's
stateless ops, so the same seed gives the same batch eagerly and inside ``tf.data``, and a
pipeline is reproducible whatever its parallelism. Transforms act on whole batches: one
projective-transform kernel call for the affine part, broadcast arithmetic for the rest.

What they do to a needle (height = time, width = frequency):

- affine: shear and rotation change a line's drift rate, zoom changes drift and width, shift
  moves it in time and frequency. All channels move together, so in ``on3``/``all6``/``on_off``
  the ON/OFF alignment survives. In the ``stack`` layout (scans stacked vertically) a vertical
  shift pushes rows of one scan into its neighbour: keep ``affine`` off or the shift small there.
- left-right flip: reverses the sign of every drift; harmless physically.
- saturation blends every channel toward the channel mean. With ``all6``/``on_off`` that mixes
  ON and OFF scans (at saturation 0 they become identical) and erodes the very ON-only cue the
  model must learn; with ``on3`` it only mixes ON scans. Keep the switch off for those layouts.
- contrast/brightness: rescale and offset per image; z-scored data do not care much.
- coarse dropout: zeroes squares; a square can hide a faint needle completely in one scan, which
  turns a positive into an "only some ON scans" example but never into an OFF signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from setibl.config import AugmentConfig

Augmenter = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def _split(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=count)
    return [seeds[i] for i in range(count)]


def affine_transform(
    images: tf.Tensor,
    rotation_deg: tf.Tensor,
    shear_deg: tf.Tensor,
    zoom_h: tf.Tensor,
    zoom_w: tf.Tensor,
    shift_h: tf.Tensor,
    shift_w: tf.Tensor,
) -> tf.Tensor:
    """Per-image affine warp about the image centre, nearest-pixel sampling, zero fill.

    Parameters are [batch] tensors. Forward map of a point p = (x = column, y = row):
    ``p' = c + Z S R (p - c) + (shift_w, shift_h)``: a pixel at (row, col) goes to
    (row + shift_h, col + shift_w) when the other parameters are neutral.
    """
    images = tf.convert_to_tensor(images)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    rad = math.pi / 180.0
    rot = tf.cast(rotation_deg, tf.float32) * rad
    shr = tf.cast(shear_deg, tf.float32) * rad
    zero, one = tf.zeros_like(rot), tf.ones_like(rot)
    rotation = tf.reshape(tf.stack([tf.cos(rot), -tf.sin(rot), tf.sin(rot), tf.cos(rot)], 1),
                          [-1, 2, 2])
    shear = tf.reshape(tf.stack([one, tf.sin(shr), zero, tf.cos(shr)], 1), [-1, 2, 2])
    zoom = tf.reshape(tf.stack([tf.cast(zoom_w, tf.float32), zero, zero,
                                tf.cast(zoom_h, tf.float32)], 1), [-1, 2, 2])
    forward = zoom @ shear @ rotation
    inverse = tf.linalg.inv(forward)
    centre = tf.stack([tf.cast(width - 1, tf.float32) / 2.0,
                       tf.cast(height - 1, tf.float32) / 2.0])
    shift = tf.stack([tf.cast(shift_w, tf.float32), tf.cast(shift_h, tf.float32)], 1)
    # input = inverse @ (output - centre - shift) + centre
    offset = centre[None, :] - tf.linalg.matvec(inverse, centre[None, :] + shift)
    transforms = tf.stack(
        [inverse[:, 0, 0], inverse[:, 0, 1], offset[:, 0],
         inverse[:, 1, 0], inverse[:, 1, 1], offset[:, 1], zero, zero], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32), transforms=transforms,
        output_shape=tf.stack([height, width]), fill_value=0.0,
        interpolation="NEAREST", fill_mode="CONSTANT")
    return tf.cast(warped, images.dtype)


def random_affine(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """SPEC's affine: rotation, shear ~ N(0, sigma) deg, zoom 1 + N(0,1) sigma, shift N(0, px)."""
    batch = tf.shape(images)[0]
    draws = tf.random.stateless_normal([6, batch], seed=seed)
    return affine_transform(
        images,
        rotation_deg=config.rotation_deg * draws[0],
        shear_deg=config.shear_deg * draws[1],
        zoom_h=1.0 + config.zoom_sigma * draws[2],
        zoom_w=1.0 + config.zoom_sigma * draws[3],
        shift_h=config.shift_px * draws[4],
        shift_w=config.shift_px * draws[5],
    )


def flip_left_right(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Mirror the frequency axis of the images where ``flip`` ([batch] bool) is true."""
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=seed) < 0.5
    return flip_left_right(images, flip)


def adjust_saturation(images: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Blend each pixel toward its channel mean: ``gray + factor * (x - gray)`` per image."""
    gray = tf.reduce_mean(images, axis=-1, keepdims=True)
    return gray + factor[:, None, None, None] * (images - gray)


def adjust_contrast(images: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """tf.image.adjust_contrast per image: ``mean + factor * (x - mean)``, mean per channel."""
    mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    return mean + factor[:, None, None, None] * (images - mean)


def adjust_brightness(images: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
    return images + delta[:, None, None, None]


def color_transform(
    images: tf.Tensor, saturation: tf.Tensor, contrast: tf.Tensor, brightness: tf.Tensor
) -> tf.Tensor:
    """Saturation, then contrast, then brightness, fused into one per-image channel mix.

    Equals ``adjust_brightness(adjust_contrast(adjust_saturation(x, s), c), b)``: with g the
    channel mean, that is ``c s x + c (1 - s) g + (1 - c) m + b`` (m: the saturated image's
    spatial mean per channel), computed as one batched matrix product over channels.
    """
    channels = images.shape[-1]
    s = saturation[:, None, None]
    c = contrast[:, None, None]
    eye = tf.eye(channels, batch_shape=[1])
    mix = c * s * eye + c * (1.0 - s) / channels * tf.ones_like(eye)  # [batch, C, C]
    spatial_mean = tf.reduce_mean(images, axis=[1, 2])  # [batch, C]
    saturated_mean = tf.linalg.matvec(
        s * eye + (1.0 - s) / channels * tf.ones_like(eye), spatial_mean)
    offset = (1.0 - contrast)[:, None] * saturated_mean + brightness[:, None]  # [batch, C]
    shape = tf.shape(images)
    flat = tf.reshape(images, [shape[0], -1, channels])
    mixed = tf.matmul(flat, mix, transpose_b=True) + offset[:, None, :]
    return tf.reshape(mixed, shape)


def random_color(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Saturation, contrast, brightness in the reference's order, factors uniform per image."""
    batch = tf.shape(images)[0]
    draws = tf.random.stateless_uniform([3, batch], seed=seed)
    low, high = config.saturation
    saturation = low + (high - low) * draws[0]
    low, high = config.contrast
    contrast = low + (high - low) * draws[1]
    brightness = config.brightness * (2.0 * draws[2] - 1.0)
    return color_transform(images, saturation, contrast, brightness)


def dropout_side(height: int, width: int, size: float) -> int:
    """Side of a dropout square in pixels (the reference truncates: int(size * min side))."""
    return max(1, int(size * min(height, width)))


def dropout_mask(
    batch: int, height: int, width: int, top: tf.Tensor, left: tf.Tensor, side: int,
    apply: tf.Tensor,
) -> tf.Tensor:
    """[batch, height, width, 1] mask, 0 inside the squares (top/left: [batch, count])."""
    rows = tf.range(height)[None, None, :]
    cols = tf.range(width)[None, None, :]
    in_rows = tf.cast((rows >= top[..., None]) & (rows < top[..., None] + side), tf.float32)
    in_cols = tf.cast((cols >= left[..., None]) & (cols < left[..., None] + side), tf.float32)
    covered = tf.einsum("bkh,bkw->bhw", in_rows, in_cols) > 0
    covered = covered & apply[:, None, None]
    return tf.cast(~covered, tf.float32)[..., None]


def random_dropout(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """With probability p per image, zero ``count`` squares placed wholly inside the image."""
    shape = tf.shape(images)
    batch = shape[0]
    height, width = images.shape[1], images.shape[2]
    side = dropout_side(height, width, config.dropout_size)
    seeds = _split(seed, 3)
    apply = tf.random.stateless_uniform([batch], seed=seeds[0]) < config.dropout_prob
    count = config.dropout_count
    top = tf.random.stateless_uniform([batch, count], seed=seeds[1], minval=0,
                                      maxval=height - side + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch, count], seed=seeds[2], minval=0,
                                       maxval=width - side + 1, dtype=tf.int32)
    mask = dropout_mask(batch, height, width, top, left, side, apply)
    return images * tf.cast(mask, images.dtype)


def make_augmenter(config: AugmentConfig) -> Augmenter:
    """Compose the enabled transforms into ``augment(images, seed) -> images``."""

    def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        images = tf.cast(images, tf.float32)
        seeds = _split(seed, 4)
        if config.affine:
            images = random_affine(images, seeds[0], config)
        if config.flip_lr:
            images = random_flip(images, seeds[1])
        if config.color:
            images = random_color(images, seeds[2], config)
        if config.dropout:
            images = random_dropout(images, seeds[3], config)
        return images

    return augment
