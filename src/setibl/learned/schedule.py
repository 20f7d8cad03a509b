"""The reference learning-rate schedule: linear ramp, optional sustain, exponential decay."""

from __future__ import annotations

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
    return [learning_rate(e, config, replicas, batch_size) for e in range(epochs)]
