"""Learning-rate schedules and optimizers.

The reference: Adam with a linear ramp, optional sustain, exponential decay per epoch. Beside
it: a cosine decay after the same ramp, and AdamW (decoupled weight decay).
"""

from __future__ import annotations

import math

from setibl.config import ScheduleConfig


def peak_learning_rate(config: ScheduleConfig, replicas: int, batch_size: int) -> float:
    """Peak rate = lr_max_per_sample x replicas x per-replica batch (1.25e-6 x 8 x 32 on a v3-8)."""
    return config.lr_max_per_sample * replicas * batch_size


def learning_rate(
    epoch: int, config: ScheduleConfig, replicas: int = 1, batch_size: int = 32
) -> float:
    """Rate for ``epoch`` (0-based): ramp from lr_start to the peak over ``ramp_epochs``, hold
    for ``sustain_epochs``, then ``(peak - lr_min) * decay**k + lr_min``."""
    peak = peak_learning_rate(config, replicas, batch_size)
    if epoch < config.ramp_epochs:
        return (peak - config.lr_start) / config.ramp_epochs * epoch + config.lr_start
    if epoch < config.ramp_epochs + config.sustain_epochs:
        return peak
    decay_steps = epoch - config.ramp_epochs - config.sustain_epochs
    return (peak - config.lr_min) * config.decay**decay_steps + config.lr_min


def schedule_table(
    config: ScheduleConfig, epochs: int, replicas: int = 1, batch_size: int = 32
) -> list[float]:
    return [epoch_learning_rate(e, epochs, config, replicas, batch_size) for e in range(epochs)]


def cosine_learning_rate(
    epoch: int, epochs: int, config: ScheduleConfig, replicas: int = 1, batch_size: int = 32
) -> float:
    """The reference ramp over ``ramp_epochs``, then half a cosine from the peak to lr_min,
    reaching lr_min at the last of ``epochs`` epochs."""
    peak = peak_learning_rate(config, replicas, batch_size)
    if epoch < config.ramp_epochs:
        return (peak - config.lr_start) / config.ramp_epochs * epoch + config.lr_start
    span = max(1, epochs - 1 - config.ramp_epochs)
    progress = min(1.0, (epoch - config.ramp_epochs) / span)
    return config.lr_min + 0.5 * (peak - config.lr_min) * (1.0 + math.cos(math.pi * progress))


def epoch_learning_rate(
    epoch: int, epochs: int, config: ScheduleConfig, replicas: int = 1, batch_size: int = 32
) -> float:
    """The configured schedule (``schedule.kind``) at ``epoch`` of ``epochs``."""
    if config.kind == "cosine":
        return cosine_learning_rate(epoch, epochs, config, replicas, batch_size)
    return learning_rate(epoch, config, replicas, batch_size)


def make_optimizer(config: ScheduleConfig, learning_rate: float):
    """Adam (reference) or AdamW with decoupled weight decay ``weight_decay``."""
    import keras

    if config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=config.weight_decay
        )
        # decay shrinks weights, not GeM's exponent, biases or normalisation scales and shifts
        # (patterns match whole variable names: "p" alone would match "depthwise_kernel")
        optimizer.exclude_from_weight_decay(var_names=["^bias$", "^gamma$", "^beta$", "^p$"])
        return optimizer
    return keras.optimizers.Adam(learning_rate=learning_rate)
