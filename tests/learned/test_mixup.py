import numpy as np
import pytest
import tensorflow as tf

from setibl.config import MixupConfig
from setibl.learned.mixup import MixupPlan, draw_mixup, mix, random_mixup, sample_beta

SEED = tf.constant([3, 4], tf.int64)


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.standard_normal((n, 8, 10, 3)), tf.float32)
    targets = tf.constant([1, 0, 0, 1, 0, 0][:n], tf.float32)
    return images, targets


def test_or_label_and_blended_images():
    images, targets = _batch()
    partner = tf.constant([1, 0, 3, 2, 5, 4])
    lam = tf.constant([0.7, 0.6, 0.8, 0.5, 0.9, 1.0])
    mixed, labels = mix(images, targets, partner, lam, "or")
    x, p, w = images.numpy(), partner.numpy(), lam.numpy()
    np.testing.assert_allclose(
        mixed, w[:, None, None, None] * x + (1 - w[:, None, None, None]) * x[p], rtol=1e-6
    )
    # pairs (1,0) -> 1, (0,1) -> 1, (0,1) -> 1, (1,0) -> 1, (0,0) -> 0, and lam = 1 keeps its own
    np.testing.assert_array_equal(labels.numpy(), [1, 1, 1, 1, 0, 0])


def test_or_label_of_two_needles_stays_one_and_blend_label_is_weighted():
    images, _ = _batch(2)
    targets = tf.constant([1.0, 1.0])
    _, labels = mix(images, targets, tf.constant([1, 0]), tf.constant([0.6, 0.6]), "or")
    np.testing.assert_array_equal(labels.numpy(), [1.0, 1.0])  # y + y' - y y', not 2
    _, blended = mix(
        images, tf.constant([1.0, 0.0]), tf.constant([1, 0]), tf.constant([0.7, 0.7]), "blend"
    )
    np.testing.assert_allclose(blended.numpy(), [0.7, 0.3], rtol=1e-6)


def test_random_mixup_draws_a_permutation_and_folded_weights():
    config = MixupConfig(enabled=True, alpha=0.4, prob=1.0)
    params = draw_mixup(tf.constant(64), SEED, config)
    assert sorted(params["partner"].numpy()) == list(range(64))
    lam = params["lam"].numpy()
    assert np.all((lam >= 0.5) & (lam <= 1.0))
    none = draw_mixup(tf.constant(64), SEED, MixupConfig(enabled=True, prob=0.0))
    np.testing.assert_array_equal(none["lam"].numpy(), 1.0)


def test_random_mixup_labels_are_or_of_the_pair():
    images, targets = _batch()
    config = MixupConfig(enabled=True, alpha=1.0, prob=1.0)
    mixed, labels = random_mixup(images, targets, SEED, config)
    params = draw_mixup(tf.constant(6), SEED, config)
    y, p = targets.numpy(), params["partner"].numpy()
    expected = np.where(params["lam"].numpy() < 1, np.maximum(y, y[p]), y)
    np.testing.assert_array_equal(labels.numpy(), expected)
    assert mixed.shape == images.shape


def test_same_draws_eagerly_and_in_tf_data():
    images, targets = _batch()
    config = MixupConfig(enabled=True, alpha=0.5, prob=0.5)
    eager = random_mixup(images, targets, SEED, config)
    dataset = tf.data.Dataset.from_tensors((images, targets)).map(
        lambda x, y: random_mixup(x, y, SEED, config)
    )
    in_graph = next(iter(dataset))
    np.testing.assert_allclose(in_graph[0].numpy(), eager[0].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(in_graph[1].numpy(), eager[1].numpy())


def test_beta_draws_have_the_beta_mean_and_spread():
    draws = sample_beta([20000], 0.4, SEED).numpy()
    assert draws.mean() == pytest.approx(0.5, abs=0.02)
    # Beta(a, a) variance 1 / (4 (2a + 1)) = 0.1389 for a = 0.4
    assert draws.var() == pytest.approx(1 / (4 * 1.8), rel=0.05)


def test_plan_switches_mixup_off_for_the_last_epochs():
    plan = MixupPlan(MixupConfig(enabled=True, off_last_epochs=2), epochs=6, steps_per_epoch=10)
    on = [bool(plan.active(tf.constant(i))) for i in range(0, 60, 10)]
    assert on == [True, True, True, True, False, False]
    resumed = MixupPlan(plan.config, epochs=6, steps_per_epoch=10, first_epoch=4)
    assert not bool(resumed.active(tf.constant(0)))
    assert not bool(MixupPlan(MixupConfig(), 6, 10).active(tf.constant(0)))
