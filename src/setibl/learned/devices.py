"""Hardware detection: TPU -> TPUStrategy, several GPUs -> MirroredStrategy, TF_CONFIG ->
MultiWorkerMirroredStrategy, else the default strategy. The caller says whether TF_CONFIG is
set (library code does not read the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf


@dataclass
class Hardware:
    strategy: tf.distribute.Strategy
    kind: str  # "tpu", "gpu", "multi-gpu", "multi-worker", "cpu"
    replicas: int

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def describe(self) -> str:
        return f"{self.kind} ({type(self.strategy).__name__}, {self.replicas} replica(s))"


def split_cpu(count: int) -> None:
    """Expose the CPU as ``count`` logical devices (must run before TensorFlow touches devices);
    lets MirroredStrategy be exercised without accelerators."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def _tpu() -> Hardware | None:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, RuntimeError):
        return None
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
    return Hardware(strategy, "tpu", strategy.num_replicas_in_sync)


def detect_hardware(
    multi_worker: bool = False, use_logical_cpus: bool = False, look_for_tpu: bool = True
) -> Hardware:
    """Pick the strategy for this machine.

    ``multi_worker``: TF_CONFIG describes a cluster (the CLI checks the environment).
    ``use_logical_cpus``: mirror over the logical CPU devices made by :func:`split_cpu`.
    """
    if multi_worker:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Hardware(strategy, "multi-worker", strategy.num_replicas_in_sync)
    if look_for_tpu:
        tpu = _tpu()
        if tpu is not None:
            return tpu
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy([g.name for g in gpus])
        return Hardware(strategy, "multi-gpu", strategy.num_replicas_in_sync)
    if len(gpus) == 1:
        return Hardware(tf.distribute.OneDeviceStrategy(gpus[0].name), "gpu", 1)
    cpus = tf.config.list_logical_devices("CPU")
    if use_logical_cpus and len(cpus) > 1:
        strategy = tf.distribute.MirroredStrategy([c.name for c in cpus])
        return Hardware(strategy, "cpu", strategy.num_replicas_in_sync)
    return Hardware(tf.distribute.get_strategy(), "cpu", 1)


def configure_precision(hardware: Hardware, mixed_precision: bool) -> str:
    """bfloat16 mixed precision on TPU/GPU when asked; float32 on CPU. Returns the policy."""
    import keras

    policy = "mixed_bfloat16" if mixed_precision and hardware.kind != "cpu" else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def use_xla(hardware: Hardware, requested: bool) -> bool:
    """XLA is several times slower than plain TensorFlow for these models on CPU: never there."""
    return requested and hardware.kind != "cpu"


def available_memory() -> int | None:
    """Bytes of memory free for new allocations now (MemAvailable; free pages elsewhere), or
    None where the system does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
