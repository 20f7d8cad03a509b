"""Mixup of training batches, with the OR label every top SETI Kaggle solution used.

Image i of a batch is blended with a partner image j (a random permutation of the batch):
``x = lam x_i + (1 - lam) x_j``, ``lam ~ Beta(alpha, alpha)`` per image, folded to
``lam >= 0.5`` so the image keeps most of itself. The label says whether the blend holds a
needle:

- ``or``: ``y_i + y_j - y_i y_j``; a needle faded to half its S/N is still a needle (stays 0 or
  1 for hard labels, so AUC metrics and label smoothing work unchanged);
- ``blend``: ``lam y_i + (1 - lam) y_j``, the original mixup.

Only a fraction ``prob`` of the images get a partner; the rest pass through unchanged
(``lam = 1``). Draws are stateless: the same seed gives the same batch eagerly and in tf.data.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from setibl.config import MixupConfig

ALG = "philox"


def sample_beta(shape, alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """Beta(alpha, alpha) draws as G1 / (G1 + G2) of two stateless gamma draws."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2, alg=ALG)
    first = tf.random.stateless_gamma(shape, seeds[0], alpha=alpha)
    second = tf.random.stateless_gamma(shape, seeds[1], alpha=alpha)
    return first / tf.maximum(first + second, 1e-12)


def mix(
    images: tf.Tensor,
    targets: tf.Tensor,
    partner: tf.Tensor,
    lam: tf.Tensor,
    label: str = "or",
) -> tuple[tf.Tensor, tf.Tensor]:
    """Blend image i with image ``partner[i]`` by weight ``lam[i]`` ([batch] each).

    images [batch, height, width, channels] float; targets [batch] float in [0, 1].
    """
    targets = tf.cast(targets, tf.float32)
    lam = tf.cast(lam, tf.float32)
    other_images = tf.gather(images, partner)
    other_targets = tf.gather(targets, partner)
    weight = tf.cast(lam[:, None, None, None], images.dtype)
    mixed = weight * images + (1 - weight) * other_images
    mixed_by = tf.cast(lam < 1.0, tf.float32)  # an image left alone keeps its own label
    if label == "or":
        combined = targets + other_targets - targets * other_targets
    else:
        combined = lam * targets + (1.0 - lam) * other_targets
    return mixed, mixed_by * combined + (1.0 - mixed_by) * targets


def draw_mixup(batch: tf.Tensor, seed: tf.Tensor, config: MixupConfig) -> dict:
    """Partner index and weight per image: ``partner`` [batch] int, ``lam`` [batch] float."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3, alg=ALG)
    order = tf.argsort(tf.random.stateless_uniform([batch], seeds[0], alg=ALG))
    lam = sample_beta([batch], config.alpha, seeds[1])
    lam = tf.maximum(lam, 1.0 - lam)
    chosen = tf.random.stateless_uniform([batch], seeds[2], alg=ALG) < config.prob
    return {"partner": order, "lam": tf.where(chosen, lam, tf.ones_like(lam))}


def random_mixup(
    images: tf.Tensor, targets: tf.Tensor, seed: tf.Tensor, config: MixupConfig
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mix a batch as ``config`` says; see the module notes."""
    params = draw_mixup(tf.shape(images)[0], seed, config)
    return mix(images, targets, params["partner"], params["lam"], config.label)


def mixup_active(epoch: tf.Tensor, epochs: int, config: MixupConfig) -> tf.Tensor:
    """Whether mixup applies in ``epoch`` (0-based): on, except for the last
    ``off_last_epochs`` epochs of ``epochs``."""
    if not config.enabled:
        return tf.constant(False)
    return tf.cast(epoch, tf.int64) < epochs - config.off_last_epochs


@dataclass(frozen=True)
class MixupPlan:
    """When a training pipeline mixes: its batch i belongs to epoch
    ``first_epoch + i // steps_per_epoch`` (a resumed fold starts its pipeline anew)."""

    config: MixupConfig
    epochs: int
    steps_per_epoch: int
    first_epoch: int = 0

    def active(self, batch_index: tf.Tensor) -> tf.Tensor:
        epoch = self.first_epoch + tf.cast(batch_index, tf.int64) // self.steps_per_epoch
        return mixup_active(epoch, self.epochs, self.config)
