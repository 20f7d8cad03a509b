import pytest

from setibl.config import ScheduleConfig
from setibl.learned.schedule import learning_rate, peak_learning_rate, schedule_table

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
