import dataclasses
import itertools

import numpy as np
import pytest
import tensorflow as tf

from setibl.config import OFF_SCANS, ON_SCANS, AugmentConfig
from setibl.errors import ConfigError
from setibl.learned.augment import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    affine_transform,
    check_scan_slots,
    color_transform,
    dropout_side,
    flip_left_right,
    make_augmenter,
    random_affine,
    random_dropout,
)
from setibl.learned.layouts import LAYOUTS, get_layout

H, W = 20, 30  # non-square on purpose
SEED = tf.constant([1, 2], tf.int64)


def _images(batch=2, channels=3, seed=0):
    return tf.constant(
        np.random.default_rng(seed).standard_normal((batch, H, W, channels)), tf.float32
    )


def _affine(images, rotation=0.0, shear=0.0, zoom_h=1.0, zoom_w=1.0, shift_h=0.0, shift_w=0.0):
    batch = images.shape[0]
    full = [tf.fill([batch], float(v)) for v in (rotation, shear, zoom_h, zoom_w, shift_h, shift_w)]
    return affine_transform(images, *full).numpy()


def test_affine_identity_at_zero_strength():
    images = _images()
    np.testing.assert_array_equal(_affine(images), images.numpy())
    config = AugmentConfig(rotation_deg=0, shear_deg=0, zoom_sigma=0, shift_px=0)
    np.testing.assert_array_equal(random_affine(images, SEED, config).numpy(), images.numpy())


def test_shift_moves_a_known_pixel():
    image = np.zeros((1, H, W, 1), np.float32)
    image[0, 5, 7, 0] = 1.0
    moved = _affine(tf.constant(image), shift_h=3, shift_w=-2)
    assert moved.sum() == 1.0 and moved[0, 8, 5, 0] == 1.0


def test_zoom_scales_distance_from_centre():
    image = np.zeros((1, 21, 31, 1), np.float32)  # odd sides: an exact centre pixel (10, 15)
    image[0, 10, 18, 0] = 1.0
    zoomed = affine_transform(
        tf.constant(image), *[tf.constant([v]) for v in (0.0, 0.0, 1.0, 2.0, 0.0, 0.0)]
    ).numpy()
    assert zoomed[0, 10, 21, 0] == 1.0  # 3 px right of centre -> 6 px


def test_rotation_by_90_degrees():
    image = np.zeros((1, 21, 21, 1), np.float32)
    image[0, 10, 14, 0] = 1.0  # 4 px right of centre (x = column, y = row, y down)
    turned = affine_transform(
        tf.constant(image), *[tf.constant([v]) for v in (90.0, 0.0, 1.0, 1.0, 0.0, 0.0)]
    ).numpy()
    assert turned[0, 14, 10, 0] == 1.0  # x -> y: 4 px below centre


def test_affine_uses_nearest_pixels_only():
    images = _images()
    warped = _affine(images, rotation=7, shear=3, zoom_h=1.1, zoom_w=0.9, shift_h=1.5)
    values = set(np.unique(images.numpy())) | {0.0}
    assert set(np.unique(warped)) <= values


def test_flip_twice_is_identity_and_mirrors_columns():
    images = _images()
    flip = tf.constant([True, False])
    once = flip_left_right(images, flip).numpy()
    np.testing.assert_array_equal(once[0, :, 0], images.numpy()[0, :, W - 1])
    np.testing.assert_array_equal(once[1], images.numpy()[1])
    np.testing.assert_array_equal(flip_left_right(tf.constant(once), flip).numpy(), images.numpy())


def test_color_identity_and_definitions():
    images = _images()
    ones, zeros = tf.ones([2]), tf.zeros([2])
    np.testing.assert_allclose(
        color_transform(images, ones, ones, zeros).numpy(), images.numpy(), atol=1e-5
    )
    gray = adjust_saturation(images, zeros).numpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)
    contrast = adjust_contrast(images, tf.constant([0.8, 1.2])).numpy()
    reference = [tf.image.adjust_contrast(images[i], f).numpy() for i, f in enumerate([0.8, 1.2])]
    np.testing.assert_allclose(contrast, np.stack(reference), atol=1e-5)
    shifted = adjust_brightness(images, tf.constant([0.1, -0.1])).numpy()
    np.testing.assert_allclose(shifted[1] - images.numpy()[1], -0.1, atol=1e-6)


def test_fused_color_equals_sequential():
    images = _images(channels=6)
    s, c, b = tf.constant([0.7, 1.3]), tf.constant([1.2, 0.8]), tf.constant([0.05, -0.1])
    sequential = adjust_brightness(adjust_contrast(adjust_saturation(images, s), c), b)
    np.testing.assert_allclose(
        color_transform(images, s, c, b).numpy(), sequential.numpy(), atol=1e-5
    )


def test_dropout_zeroes_the_stated_area():
    images = tf.ones([4, H, W, 3])
    config = AugmentConfig(dropout_prob=1.0, dropout_count=1, dropout_size=0.25)
    side = dropout_side(H, W, 0.25)
    assert side == 5
    dropped = random_dropout(images, SEED, config).numpy()
    for image in dropped:
        assert (image[..., 0] == 0).sum() == side * side
        np.testing.assert_array_equal(image[..., 0], image[..., 2])
    never = random_dropout(images, SEED, dataclasses.replace(config, dropout_prob=0.0))
    np.testing.assert_array_equal(never.numpy(), images.numpy())


def test_reference_dropout_side():
    assert dropout_side(273, 256, 0.05) == 12


def test_eager_equals_tf_data_and_seed_matters():
    augment = make_augmenter(AugmentConfig())
    images = _images(batch=4)
    eager = augment(images, SEED).numpy()
    dataset = tf.data.Dataset.from_tensors(images).map(lambda x: augment(x, SEED))
    graph = next(iter(dataset)).numpy()
    # graph optimisation may reorder the colour arithmetic: equal to float rounding
    np.testing.assert_allclose(eager, graph, atol=1e-5)
    np.testing.assert_array_equal(augment(images, SEED).numpy(), eager)
    assert not np.array_equal(augment(images, tf.constant([1, 3], tf.int64)).numpy(), eager)
    compiled = make_augmenter(AugmentConfig(), jit_compile=True)
    np.testing.assert_allclose(compiled(images, SEED).numpy(), eager, atol=1e-4)


@pytest.mark.parametrize("switch", ["affine", "flip_lr", "color", "dropout"])
def test_each_switch_turns_its_transform_off(switch):
    off = {"affine": False, "flip_lr": False, "color": False, "dropout": False}
    only = make_augmenter(AugmentConfig(**{**off, switch: True, "dropout_prob": 1.0}))
    none = make_augmenter(AugmentConfig(**off))
    images = _images(batch=8)
    np.testing.assert_array_equal(none(images, SEED).numpy(), images.numpy())
    assert not np.array_equal(only(images, SEED).numpy(), images.numpy())


def test_dropout_hides_the_same_patch_in_every_scan_as_documented():
    import setibl.learned.augment as augment_module

    images = tf.ones([3, H, W, 6])  # all6: one channel per scan
    config = AugmentConfig(dropout_prob=1.0, dropout_count=2, dropout_size=0.25)
    dropped = random_dropout(images, SEED, config).numpy()
    for image in dropped:
        hidden = image == 0
        assert hidden[..., 0].any()
        for channel in range(1, 6):
            np.testing.assert_array_equal(hidden[..., channel], hidden[..., 0])
    text = " ".join(augment_module.__doc__.split())
    assert "one mask shared by every channel" in text and "completely in one scan" not in text


def _scan_order_only():
    off = {"affine": False, "flip_lr": False, "color": False, "dropout": False}
    return AugmentConfig(**off, scan_order=True)


def _allowed_orders():
    """Cadence scan orders that keep ON scans in ON places and OFF scans in OFF places."""
    for on in itertools.permutations(ON_SCANS):
        for off in itertools.permutations(OFF_SCANS):
            order = [0] * 6
            for place, scan in zip(ON_SCANS + OFF_SCANS, on + off, strict=True):
                order[place] = scan
            yield order


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_scan_order_permutes_on_among_on_and_off_among_off(name):
    layout = get_layout(name)
    cadences = np.random.default_rng(5).standard_normal((16, 6, 4, 5)).astype(np.float32)
    images = tf.constant(layout(cadences))
    slots = layout.scan_slots(6, ON_SCANS)
    augment = make_augmenter(_scan_order_only(), scan_slots=slots)
    out = augment(images, SEED).numpy()
    used = set()
    for k in range(16):
        matches = [
            tuple(order)
            for order in _allowed_orders()
            if np.allclose(out[k], layout(cadences[k][order]), atol=1e-6)
        ]
        assert matches, f"image {k}: not a reordering of ON among ON, OFF among OFF"
        used.add(matches[0])
    assert len(used) > 2  # images get different orders


@pytest.mark.parametrize("name", ["all6", "stack"])
def test_scan_order_same_eagerly_in_tf_data_and_compiled(name):
    layout = get_layout(name)
    cadences = np.random.default_rng(6).standard_normal((8, 6, 4, 5)).astype(np.float32)
    images = tf.constant(layout(cadences))
    config = dataclasses.replace(_scan_order_only(), flip_lr=True)
    slots = layout.scan_slots(6, ON_SCANS)
    eager = make_augmenter(config, scan_slots=slots)(images, SEED).numpy()
    augment = make_augmenter(config, scan_slots=slots)
    graph = next(iter(tf.data.Dataset.from_tensors(images).map(lambda x: augment(x, SEED))))
    np.testing.assert_array_equal(graph.numpy(), eager)
    compiled = make_augmenter(config, jit_compile=True, scan_slots=slots)
    np.testing.assert_array_equal(compiled(images, SEED).numpy(), eager)


def test_scan_order_needs_the_layout():
    with pytest.raises(ConfigError, match="augment.scan_order"):
        make_augmenter(_scan_order_only())
    slots = get_layout("stack").scan_slots(6, ON_SCANS)
    check_scan_slots((1638, 256, 1), slots)
    with pytest.raises(ConfigError, match="model.resize"):
        check_scan_slots((512, 512, 1), slots)


def test_frequency_flip_reverses_the_drift_in_tf_data():
    """flip_lr mirrors the frequency axis of every scan alike: a line drifting +1 channel per
    step becomes one drifting -1, in all channels, eagerly and inside tf.data."""
    image = np.zeros((1, H, W, 3), np.float32)
    for t in range(H):
        image[0, t, 3 + t, :] = 1.0
    flip = tf.constant([True])
    dataset = tf.data.Dataset.from_tensors(tf.constant(image)).map(
        lambda x: flip_left_right(x, flip)
    )
    for flipped in (flip_left_right(tf.constant(image), flip).numpy(), next(iter(dataset)).numpy()):
        columns = [int(np.argmax(flipped[0, t, :, c])) for c in range(3) for t in (0, 10)]
        assert columns == [W - 1 - 3, W - 1 - 13] * 3
