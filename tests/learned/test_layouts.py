import numpy as np
import pytest

from setibl.learned.layouts import LAYOUTS, get_layout


@pytest.fixture
def cadence():
    return np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)


def test_on3_is_channel_direction_alignment(cadence):
    image = get_layout("on3")(cadence)
    assert image.shape == (4, 5, 3)
    for channel, scan in enumerate((0, 2, 4)):
        np.testing.assert_array_equal(image[..., channel], cadence[scan])


def test_all6_keeps_cadence_order(cadence):
    image = get_layout("all6")(cadence)
    assert image.shape == (4, 5, 6)
    np.testing.assert_array_equal(image[..., 3], cadence[3])


def test_on_off_differences(cadence):
    image = get_layout("on_off")(cadence)
    assert image.shape == (4, 5, 6)
    np.testing.assert_array_equal(image[..., 1], cadence[2])
    np.testing.assert_array_equal(image[..., 4], cadence[2] - cadence[3])


def test_stack_is_vertical(cadence):
    image = get_layout("stack")(cadence)
    assert image.shape == (24, 5, 1)
    np.testing.assert_array_equal(image[8:12, :, 0], cadence[2])


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_declared_shape_matches_output(name, cadence):
    layout = get_layout(name)
    assert layout(cadence).shape == layout.output_shape(cadence.shape)
    batch = np.stack([cadence, cadence + 1])
    np.testing.assert_array_equal(layout(batch)[1], layout(cadence + 1))


def test_unknown_layout_lists_known():
    with pytest.raises(ValueError, match="on3"):
        get_layout("diagonal")


def test_config_knows_every_layout_by_name():
    from setibl.config import LAYOUT_NAMES

    assert set(LAYOUT_NAMES) == set(LAYOUTS)
