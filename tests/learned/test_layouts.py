import numpy as np
import pytest

from setibl.config import OFF_SCANS, ON_SCANS
from setibl.learned.drift_planes import drift_grid, drift_plane, drift_planes
from setibl.learned.layouts import LAYOUTS, get_layout, image_shape, resize_image
from tests.conftest import add_track, noise_cadence


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


def test_stack_on_stacks_the_on_scans(cadence):
    image = get_layout("stack_on")(cadence)
    assert image.shape == (12, 5, 1)
    for block, scan in enumerate(ON_SCANS):
        np.testing.assert_array_equal(image[4 * block : 4 * block + 4, :, 0], cadence[scan])


def test_kaggle_shapes_of_the_stacked_layouts():
    assert get_layout("stack").output_shape((6, 273, 256)) == (1638, 256, 1)
    assert get_layout("stack_on").output_shape((6, 273, 256)) == (819, 256, 1)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_metadata_agrees_with_what_the_layout_does(name, cadence):
    """needs_off: changing an OFF scan changes the image exactly when the layout says so;
    scan slots: every slot of the image belongs to exactly one unit."""
    layout = get_layout(name)
    changed = cadence.copy()
    changed[list(OFF_SCANS), :, 2] += 100.0  # a line in the OFF scans
    assert (not np.array_equal(layout(changed), layout(cadence))) == layout.needs_off
    slots = layout.scan_slots(6, ON_SCANS)
    shape = layout.output_shape(cadence.shape)
    assert (shape[2] if slots.axis == "channel" else shape[0] // 4) == slots.slots
    assigned = sorted(s for group in slots.groups for unit in group for s in unit)
    assert len(assigned) == len(set(assigned)) and set(assigned) <= set(range(slots.slots))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_slot_holds_the_scan_it_claims(name, cadence):
    """Units of the ON group hold ON scans: a needle put in one ON scan shows up in exactly
    the slots of one unit of that group."""
    layout = get_layout(name)
    slots = layout.scan_slots(6, ON_SCANS)
    marked = np.zeros_like(cadence)
    marked[ON_SCANS[1], 1, 2] = 1.0
    image = layout(marked)
    if slots.axis == "channel":
        lit = {k for k in range(image.shape[2]) if image[..., k].any()}
    else:
        block = image.shape[0] // slots.slots
        lit = {k for k in range(slots.slots) if image[k * block : (k + 1) * block].any()}
    assert lit in [set(unit) for unit in slots.groups[0]]


def test_drift6_turns_a_faint_line_into_a_peak():
    rng = np.random.default_rng(1)
    cadence = rng.standard_normal((6, 273, 256)).astype(np.float32)
    level = 8.0 / np.sqrt(273)  # S/N 8 over the scan: half a noise sigma per pixel
    for t in range(273):
        cadence[2, t, 60 + int(round(0.25 * t))] += level
    layout = get_layout("drift6")
    image = layout(cadence)
    assert image.shape == layout.output_shape(cadence.shape) == (273, 256, 6)
    row, column = np.unravel_index(np.argmax(image[..., 2]), image.shape[:2])
    assert drift_grid()[row] == pytest.approx(0.25, abs=1 / 136) and abs(column - 60) <= 1
    assert image[row, column, 2] > 6.5  # near its S/N of 8, in noise of unit spread
    assert 0.9 < image[..., 0].std() < 1.1 and image[..., 0].max() < 5.0  # noise-only scan


@pytest.mark.parametrize(("steps", "width", "drifts"), [(273, 256, 273), (41, 30, 21)])
def test_compiled_drift_planes_equal_the_numpy_gather(steps, width, drifts):
    batch = np.random.default_rng(5).standard_normal((2, 6, steps, width)).astype(np.float32)
    batch[1, 3, :, width // 3] += 40.0  # a strong line: sums far from zero must agree too
    planes = drift_planes(batch, drifts)
    assert planes.shape == (2, 6, drifts, width)
    for i in range(2):
        for scan in range(6):
            np.testing.assert_array_equal(planes[i, scan], drift_plane(batch[i, scan], drifts))


@pytest.mark.parametrize("name", sorted(name for name in LAYOUTS if LAYOUTS[name].flips))
def test_flip_axes_mirror_the_data(name):
    """Reversing a layout's flip axes gives the image of the frequency-mirrored cadence."""
    cadence = np.random.default_rng(2).standard_normal((6, 40, 24)).astype(np.float32)
    layout = get_layout(name)
    image = layout(cadence)
    flipped = image
    for axis in layout.flip_axes:
        flipped = np.flip(flipped, axis=axis - 1)  # flip_axes count the batch axis
    np.testing.assert_allclose(layout(cadence[:, :, ::-1].copy()), flipped, atol=1e-4)


def test_stored_image_shape_with_resize():
    assert image_shape("stack_on", (6, 273, 256)) == (819, 256, 1)
    assert image_shape("stack_on", (6, 273, 256), resize=(512, 512)) == (512, 512, 1)
    assert image_shape("all6", (6, 273, 256), resize=(384, 256)) == (384, 256, 6)


def test_resize_keeps_a_narrow_line():
    image = np.zeros((819, 256, 1), np.float32)
    image[:, 100, 0] = 1.0  # a one-channel-wide stationary line
    resized = resize_image(image, (512, 512))
    assert resized.shape == (512, 512, 1)
    profile = resized.mean(axis=0)[:, 0]
    assert 198 <= int(np.argmax(profile)) <= 202 and profile.sum() == pytest.approx(2.0, rel=0.02)


def test_unknown_layout_lists_known():
    with pytest.raises(ValueError, match="on3"):
        get_layout("diagonal")


def test_config_knows_every_layout_by_name():
    from setibl.config_rules import LAYOUT_NAMES

    assert set(LAYOUT_NAMES) == set(LAYOUTS)


def test_search_maps_hold_each_scans_best_snr_and_drift_per_start_channel():
    rng = np.random.default_rng(3)
    cadence = rng.standard_normal((6, 273, 256)).astype(np.float32)
    for t in range(273):  # S/N 20 in ON scan 2 from channel 60 at 0.25 channel per step
        cadence[2, t, 60 + int(round(0.25 * t))] += 20.0 / np.sqrt(273)
    layout = get_layout("search_maps")
    image = layout(cadence)
    assert image.shape == layout.output_shape(cadence.shape) == (2, 384, 6)
    column = int(np.argmax(image[0, :, 2]))
    assert abs(column - 64 - 60) <= 1  # column 0 is channel -64
    assert image[1, column, 2] == pytest.approx(0.25, abs=2 / 255)
    assert 15 < image[0, column, 2] < 25
    assert image[0, :, [0, 1, 3, 4, 5]].max() < 7  # noise only


def test_search_maps_stay_finite_in_float16():
    flat = np.zeros((6, 16, 20), np.float32)
    flat[0, :, 5] = 1.0  # a line on a scan without noise: S/N 1e6 before the cap
    image = get_layout("search_maps")(flat).astype(np.float16)
    assert np.isfinite(image).all() and image[0].max() == 1000.0


def test_search_maps_show_a_needle_beside_still_rfi_as_without_it():
    alone = noise_cadence(6)
    add_track(alone, 2, 60, 0.05, 25.0)  # crosses 14 channels, from 60 to 74
    beside = alone.copy()
    beside[:, :, 80] += 200.0 / np.sqrt(273)  # RFI of S/N 200 in every scan, 6 channels on
    layout = get_layout("search_maps")
    needle = layout(alone)[0, 64 + 58 : 64 + 63, 2].max()
    assert needle > 10  # the bandpass filter takes some of a line that drifts 14 channels
    image = layout(beside)
    assert image[0, 64 + 58 : 64 + 63, 2].max() == pytest.approx(needle, abs=1.5)
    # unblanked, the line's tracks reach S/N ~110 in the OFF scans, beside the needle
    assert image[0, :, list(OFF_SCANS)].max() < 7


def test_search_maps_pin_the_blanking_the_shipped_model_was_trained_with():
    from setibl.learned.layouts import layout_params

    params = layout_params("search_maps")
    assert params["version"] == 4
    blanking = {k: v for k, v in params.items() if k.startswith("off_lit_")}
    expected = {"core_sigma": 5.0, "extent_sigma": 3.0, "grow": 2, "detrend": 65}
    expected["mixed_ratio"] = 3.0
    assert blanking == {f"off_lit_{k}": v for k, v in expected.items()}


def test_params_change_names_only_what_differs():
    from setibl.learned.layouts import params_change

    now = {"version": 3, "grow": 2, "detrend": 65}
    made = {"version": 2, "grow": 2, "clip": 6.0}
    assert params_change(made, now) == "version 2 -> 3, detrend new, clip gone"
    assert params_change(None, now) == "settings that were not recorded"
