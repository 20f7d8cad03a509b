"""One seed for Python, NumPy, TensorFlow and hashing."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed every random source we use; with ``deterministic`` also force deterministic TF ops.

    PYTHONHASHSEED only affects interpreters started after this call (worker processes),
    which is where hashing order can leak into results.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import tensorflow as tf

    tf.random.set_seed(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # pragma: no cover - keras ships with tensorflow
        pass
    if deterministic:
        tf.config.experimental.enable_op_determinism()
