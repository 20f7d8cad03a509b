"""Training losses: binary cross-entropy (reference) and binary focal loss.

Focal loss (Lin et al. 2017) weights each example's cross-entropy by ``(1 - p_t)^gamma``,
where ``p_t`` is the probability the model gives the true class: easy examples (most of the
90% negatives once learned) count less, hard ones more. ``gamma = 0`` is cross-entropy.
Both apply the same label smoothing, ``y -> y (1 - s) + s / 2``.
"""

from __future__ import annotations

import keras
import numpy as np

from setibl.config import ModelConfig


def make_loss(config: ModelConfig) -> keras.losses.Loss:
    """The configured loss over P(needle) outputs (probabilities, not logits)."""
    if config.loss == "focal":
        return keras.losses.BinaryFocalCrossentropy(
            gamma=config.focal_gamma, label_smoothing=config.label_smoothing
        )
    return keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)


def focal_loss_reference(
    targets: np.ndarray, probabilities: np.ndarray, gamma: float, smoothing: float = 0.0
) -> float:
    """Mean focal loss written out in NumPy, for checking: with y smoothed and p the output,
    ``-(y (1 - p)^gamma log p + (1 - y) p^gamma log(1 - p))``."""
    y = np.asarray(targets, np.float64) * (1.0 - smoothing) + 0.5 * smoothing
    p = np.asarray(probabilities, np.float64)
    # keras weights by (1 - p_t)^gamma with p_t = y p + (1 - y)(1 - p), the same for hard labels
    p_t = y * p + (1.0 - y) * (1.0 - p)
    weight = (1.0 - p_t) ** gamma
    cross_entropy = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return float(np.mean(weight * cross_entropy))
