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
- left-right flip: reverses the sign of every drift; harmless physically. In drift-plane
  layouts (rows are drift rates) the same mirror of the data flips rows and columns
  (``flip_axes`` = (1, 2)): the plane of a mirrored scan is the plane turned by 180 degrees.
- saturation blends every channel toward the channel mean. With ``all6``/``on_off`` that mixes
  ON and OFF scans (at saturation 0 they become identical) and erodes the very ON-only cue the
  model must learn; with ``on3`` it only mixes ON scans. Keep the switch off for those layouts.
- contrast/brightness: rescale and offset per image; z-scored data do not care much.
- scan order (off by default): reorders the ON scans among themselves and the OFF scans among
  themselves, per image, wherever the layout put them (channels or vertical blocks). A needle
  stays ON-only, RFI stays everywhere; a drifting needle's track no longer continues from one
  ON scan to the next, which the model then cannot rely on. Runs before the affine warp,
  whose vertical shift would otherwise mix blocks of stacked layouts.
- coarse dropout: zeroes squares, one mask shared by every channel: in ``on3``/``all6``/
  ``on_off`` a square hides the same time-frequency patch in every scan, ON and OFF alike, so it
  can shorten or cut a needle's track but never makes one scan differ from another. Only in
  ``stack`` (scans stacked vertically in one channel) does a square fall in one scan (or across
  the boundary of two), and can hide a needle there alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from setibl.config import AugmentConfig
from setibl.errors import ConfigError
from setibl.learned.layouts import ScanSlots

Augmenter = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
# One named algorithm, so draws agree eagerly, in tf.data and under XLA ("auto_select" may not).
ALG = "philox"


def _split(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=count, alg=ALG)
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

    Parameters are [batch] tensors; points outside the input become 0. Forward map of a
    point p = (x = column, y = row):
    ``p' = c + Z S R (p - c) + (shift_w, shift_h)``: a pixel at (row, col) goes to
    (row + shift_h, col + shift_w) when the other parameters are neutral.
    """
    images = tf.convert_to_tensor(images)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    rad = math.pi / 180.0
    rot = tf.cast(rotation_deg, tf.float32) * rad
    shr = tf.cast(shear_deg, tf.float32) * rad
    zero, one = tf.zeros_like(rot), tf.ones_like(rot)
    rotation = tf.reshape(
        tf.stack([tf.cos(rot), -tf.sin(rot), tf.sin(rot), tf.cos(rot)], 1), [-1, 2, 2]
    )
    shear = tf.reshape(tf.stack([one, tf.sin(shr), zero, tf.cos(shr)], 1), [-1, 2, 2])
    zoom = tf.reshape(
        tf.stack([tf.cast(zoom_w, tf.float32), zero, zero, tf.cast(zoom_h, tf.float32)], 1),
        [-1, 2, 2],
    )
    forward = zoom @ shear @ rotation
    inverse = tf.linalg.inv(forward)
    centre = tf.stack([tf.cast(width - 1, tf.float32) / 2.0, tf.cast(height - 1, tf.float32) / 2.0])
    shift = tf.stack([tf.cast(shift_w, tf.float32), tf.cast(shift_h, tf.float32)], 1)
    # input = inverse @ (output - centre - shift) + centre
    offset = centre[None, :] - tf.linalg.matvec(inverse, centre[None, :] + shift)
    # Map every output pixel to its nearest input pixel once per image, then move all
    # channels with one gather (cheaper than a per-channel projective-transform kernel).
    batch = tf.shape(images)[0]
    rows = tf.cast(tf.repeat(tf.range(height), width), tf.float32)[None, :]
    cols = tf.cast(tf.tile(tf.range(width), [height]), tf.float32)[None, :]
    source_x = inverse[:, 0, 0:1] * cols + inverse[:, 0, 1:2] * rows + offset[:, 0:1]
    source_y = inverse[:, 1, 0:1] * cols + inverse[:, 1, 1:2] * rows + offset[:, 1:2]
    ix = tf.cast(tf.floor(source_x + 0.5), tf.int32)
    iy = tf.cast(tf.floor(source_y + 0.5), tf.int32)
    inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    base = tf.range(batch)[:, None] * (height * width)
    index = tf.where(inside, base + iy * width + ix, 0)
    channels = tf.shape(images)[3]
    pixels = tf.reshape(images, [-1, channels])
    moved = tf.gather(pixels, index) * tf.cast(inside, images.dtype)[..., None]
    return tf.reshape(moved, tf.shape(images))


def draw_affine(batch: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> dict:
    """SPEC's affine: rotation, shear ~ N(0, sigma) deg, zoom 1 + N(0,1) sigma, shift N(0, px)."""
    draws = tf.random.stateless_normal([6, batch], seed=seed, alg=ALG)
    return {
        "rotation_deg": config.rotation_deg * draws[0],
        "shear_deg": config.shear_deg * draws[1],
        "zoom_h": 1.0 + config.zoom_sigma * draws[2],
        "zoom_w": 1.0 + config.zoom_sigma * draws[3],
        "shift_h": config.shift_px * draws[4],
        "shift_w": config.shift_px * draws[5],
    }


def random_affine(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    return affine_transform(images, **draw_affine(tf.shape(images)[0], seed, config))


def flip_left_right(images: tf.Tensor, flip: tf.Tensor, axes: tuple[int, ...] = (2,)) -> tf.Tensor:
    """Mirror the frequency axis of the images where ``flip`` ([batch] bool) is true;
    ``axes``: the image axes that mirror the data's frequency axis (the layout's)."""
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=list(axes)), images)


def draw_flip(batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform([batch], seed=seed, alg=ALG) < 0.5


def random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    return flip_left_right(images, draw_flip(tf.shape(images)[0], seed))


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
    """Saturation, then contrast, then brightness, fused into one affine map per image.

    Equals ``adjust_brightness(adjust_contrast(adjust_saturation(x, s), c), b)``: with g the
    channel mean of a pixel and m the spatial mean per channel of the saturated image, that is
    ``c s x + c (1 - s) g + (1 - c) m + b``.
    """
    s = saturation[:, None, None, None]
    c = contrast[:, None, None, None]
    gray = tf.reduce_mean(images, axis=-1, keepdims=True)
    spatial = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    spatial_gray = tf.reduce_mean(spatial, axis=-1, keepdims=True)
    saturated_mean = spatial_gray + s * (spatial - spatial_gray)
    offset = (1.0 - c) * saturated_mean + brightness[:, None, None, None]
    return (c * s) * images + (c * (1.0 - s)) * gray + offset


def draw_color(batch: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> dict:
    """Saturation, contrast and brightness factors, uniform per image."""
    draws = tf.random.stateless_uniform([3, batch], seed=seed, alg=ALG)
    (s_low, s_high), (c_low, c_high) = config.saturation, config.contrast
    return {
        "saturation": s_low + (s_high - s_low) * draws[0],
        "contrast": c_low + (c_high - c_low) * draws[1],
        "brightness": config.brightness * (2.0 * draws[2] - 1.0),
    }


def random_color(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Saturation, contrast, brightness in the reference's order."""
    return color_transform(images, **draw_color(tf.shape(images)[0], seed, config))


def dropout_side(height: int, width: int, size: float) -> int:
    """Side of a dropout square in pixels (the reference truncates: int(size * min side))."""
    return max(1, int(size * min(height, width)))


def dropout_mask(
    batch: int,
    height: int,
    width: int,
    top: tf.Tensor,
    left: tf.Tensor,
    side: int,
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


def draw_dropout(
    batch: tf.Tensor, height: int, width: int, seed: tf.Tensor, config: AugmentConfig
) -> dict:
    """Which images get squares (probability p) and the squares' top-left corners."""
    side = dropout_side(height, width, config.dropout_size)
    seeds = _split(seed, 3)
    count = config.dropout_count
    return {
        "apply": tf.random.stateless_uniform([batch], seed=seeds[0], alg=ALG) < config.dropout_prob,
        "top": tf.random.stateless_uniform(
            [batch, count],
            seed=seeds[1],
            alg=ALG,
            minval=0,
            maxval=height - side + 1,
            dtype=tf.int32,
        ),
        "left": tf.random.stateless_uniform(
            [batch, count],
            seed=seeds[2],
            alg=ALG,
            minval=0,
            maxval=width - side + 1,
            dtype=tf.int32,
        ),
    }


def apply_dropout(images: tf.Tensor, top, left, apply, size: float) -> tf.Tensor:
    height, width = images.shape[1], images.shape[2]
    side = dropout_side(height, width, size)
    mask = dropout_mask(tf.shape(images)[0], height, width, top, left, side, apply)
    return images * tf.cast(mask, images.dtype)


def random_dropout(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """With probability p per image, zero ``count`` squares placed wholly inside the image."""
    params = draw_dropout(tf.shape(images)[0], images.shape[1], images.shape[2], seed, config)
    return apply_dropout(images, **params, size=config.dropout_size)


def permute_scans(images: tf.Tensor, order: tf.Tensor, slots: ScanSlots) -> tf.Tensor:
    """Reorder scan slots per image: output slot k of image b is input slot ``order[b, k]``.

    images [batch, height, width, channels]; order [batch, slots] int32. Slots are channels
    (``slots.axis == "channel"``) or equal vertical blocks (``"height"``).
    """
    if slots.axis == "channel":
        return tf.gather(images, order, axis=3, batch_dims=1)
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    blocks = tf.reshape(images, [-1, slots.slots, height // slots.slots, width, channels])
    moved = tf.gather(blocks, order, axis=1, batch_dims=1)
    return tf.reshape(moved, tf.shape(images))


def draw_scan_order(batch: tf.Tensor, seed: tf.Tensor, slots: ScanSlots) -> tf.Tensor:
    """[batch, slots] source slot of every slot: each group's units shuffled per image."""
    columns = [tf.fill([batch], k) for k in range(slots.slots)]
    for seed_k, units in zip(_split(seed, len(slots.groups)), slots.groups, strict=True):
        keys = tf.random.stateless_uniform([batch, len(units)], seed=seed_k, alg=ALG)
        source_unit = tf.argsort(keys, axis=1)  # [batch, units]
        table = tf.constant(units, tf.int32)  # [units, slots per unit]
        for u, unit in enumerate(units):
            for m, destination in enumerate(unit):
                columns[destination] = tf.gather(table[:, m], source_unit[:, u])
    return tf.stack(columns, axis=1)


def check_scan_slots(image_shape: tuple[int, ...], slots: ScanSlots | None) -> None:
    """``augment.scan_order`` needs to know where the scans are, as whole slots."""
    if slots is None:
        raise ConfigError("config key 'augment.scan_order': the layout's scan slots are unknown")
    size = image_shape[2] if slots.axis == "channel" else image_shape[0]
    if size % slots.slots or (slots.axis == "channel" and size != slots.slots):
        raise ConfigError(
            f"config key 'augment.scan_order': images of shape {tuple(image_shape)} do not "
            f"split into {slots.slots} scan slots along {slots.axis}; resize in the model "
            "(model.resize), not in the records (records.resize)"
        )


def make_augmenter(
    config: AugmentConfig,
    jit_compile: bool = False,
    scan_slots: ScanSlots | None = None,
    flip_axes: tuple[int, ...] = (2,),
) -> Augmenter:
    """Compose the enabled transforms into ``augment(images, seed) -> images``.

    Random parameters are drawn first, in plain TensorFlow; the image arithmetic that uses
    them can be compiled with XLA (``jit_compile``), which fuses its element-wise passes over
    the batch: about twice as fast on CPU, where they are memory-bound. XLA draws different
    random numbers than TensorFlow's kernels, hence the split. Compiled and plain results
    agree to float rounding. ``scan_slots`` (the layout's) is needed by ``scan_order``.
    """
    if config.scan_order and scan_slots is None:
        raise ConfigError("config key 'augment.scan_order': the layout's scan slots are unknown")

    def draw(images: tf.Tensor, seed: tf.Tensor) -> dict:
        batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        seeds = _split(seed, 5)
        params = {}
        if config.scan_order:
            params["scan_order"] = draw_scan_order(batch, seeds[4], scan_slots)
        if config.affine:
            params["affine"] = draw_affine(batch, seeds[0], config)
        if config.flip_lr:
            params["flip"] = draw_flip(batch, seeds[1])
        if config.color:
            params["color"] = draw_color(batch, seeds[2], config)
        if config.dropout:
            params["dropout"] = draw_dropout(batch, height, width, seeds[3], config)
        return params

    def apply(images: tf.Tensor, params: dict) -> tf.Tensor:
        images = tf.cast(images, tf.float32)  # inside the compiled region: fused, no extra pass
        if "scan_order" in params:
            images = permute_scans(images, params["scan_order"], scan_slots)
        if "affine" in params:
            images = affine_transform(images, **params["affine"])
        if "flip" in params:
            images = flip_left_right(images, params["flip"], flip_axes)
        if "color" in params:
            images = color_transform(images, **params["color"])
        if "dropout" in params:
            images = apply_dropout(images, **params["dropout"], size=config.dropout_size)
        return images

    compiled = tf.function(apply, jit_compile=True) if jit_compile else apply

    def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return compiled(images, draw(images, seed))

    return augment
