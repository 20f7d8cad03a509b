import pytest

from setibl.config import ScheduleConfig
from setibl.learned.schedule import (
    cosine_learning_rate,
    learning_rate,
    make_optimizer,
    peak_learning_rate,
    schedule_table,
)

REFERENCE = ScheduleConfig()


def test_reference_peak_scales_with_replicas_and_batch():
    assert peak_learning_rate(REFERENCE, 1, 32) == pytest.approx(4e-5)
    assert peak_learning_rate(REFERENCE, 8, 32) == pytest.approx(3.2e-4)  # TPU v3-8


def test_reference_schedule_values():
    table = schedule_table(REFERENCE, 12, replicas=8, batch_size=32)
    peak = 3.2e-4
    assert table[0] == pytest.approx(5e-6)
    assert table[1] == pytest.approx(5e-6 + (peak - 5e-6) / 5)
    assert table[4] == pytest.approx(5e-6 + 4 * (peak - 5e-6) / 5)
    assert table[5] == pytest.approx(peak)  # no sustain: decay starts at k = 0
    assert table[6] == pytest.approx((peak - 1e-6) * 0.8 + 1e-6)
    assert table[11] == pytest.approx((peak - 1e-6) * 0.8**6 + 1e-6)
    assert max(table) == pytest.approx(peak)


def test_sustain_holds_the_peak():
    config = ScheduleConfig(sustain_epochs=2)
    peak = peak_learning_rate(config, 1, 32)
    assert [learning_rate(e, config) for e in (5, 6)] == [pytest.approx(peak)] * 2
    assert learning_rate(7, config) == pytest.approx(peak)
    assert learning_rate(8, config) == pytest.approx((peak - 1e-6) * 0.8 + 1e-6)


def test_cosine_follows_the_ramp_then_falls_to_lr_min():
    config = ScheduleConfig(kind="cosine", ramp_epochs=2)
    table = schedule_table(config, 10)
    peak = peak_learning_rate(config, 1, 32)
    reference = schedule_table(ScheduleConfig(ramp_epochs=2), 10)
    assert table[:2] == reference[:2]  # the same ramp
    assert table[2] == pytest.approx(peak)
    assert table[-1] == pytest.approx(config.lr_min)
    middle = 2 + (10 - 1 - 2) / 2  # halfway through the cosine: the mean of peak and floor
    assert cosine_learning_rate(middle, 10, config) == pytest.approx((peak + config.lr_min) / 2)
    assert all(a >= b for a, b in zip(table[2:], table[3:], strict=False))


def test_optimizers():
    import keras

    assert type(make_optimizer(ScheduleConfig(), 1e-3)) is keras.optimizers.Adam
    adamw = make_optimizer(ScheduleConfig(optimizer="adamw", weight_decay=0.05), 1e-3)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)


def test_adamw_decays_weights_without_gradient():
    """A weight with zero gradient shrinks by lr x weight_decay per step under AdamW only."""
    import keras
    import numpy as np

    for optimizer, expected in (("adam", 1.0), ("adamw", 1.0 - 0.1 * 0.5)):
        variable = keras.Variable(np.ones(3, "float32"))
        config = ScheduleConfig(
            optimizer=optimizer, weight_decay=0.5 if optimizer == "adamw" else 0
        )
        make_optimizer(config, 0.1).apply_gradients([(np.zeros(3, "float32"), variable)])
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)


def test_adamw_decays_kernels_but_not_gem_p_biases_or_norms():
    import keras

    from setibl.config import ScheduleConfig
    from setibl.learned.schedule import make_optimizer

    optimizer = make_optimizer(ScheduleConfig(optimizer="adamw", weight_decay=0.1), 1e-3)
    names = ["kernel", "depthwise_kernel", "bias", "gamma", "beta", "p"]
    variables = [keras.Variable(1.0, name=name) for name in names]
    decayed = {v.name: optimizer._use_weight_decay(v) for v in variables}
    assert decayed == {
        "kernel": True,
        "depthwise_kernel": True,
        "bias": False,
        "gamma": False,
        "beta": False,
        "p": False,
    }
