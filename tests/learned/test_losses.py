import numpy as np
import pytest

from setibl.config import ModelConfig
from setibl.learned.losses import focal_loss_reference, make_loss

TARGETS = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
PROBS = np.array([0.9, 0.2, 0.3, 0.6], np.float32)


def _keras_loss(config):
    return float(make_loss(config)(TARGETS[:, None], PROBS[:, None]))


def test_focal_loss_equals_a_hand_computed_value():
    # gamma 2, no smoothing: -(1 - p_t)^2 log p_t with p_t = 0.9, 0.8, 0.3, 0.4
    by_hand = np.mean(
        [
            -(0.1**2) * np.log(0.9),
            -(0.2**2) * np.log(0.8),
            -(0.7**2) * np.log(0.3),
            -(0.6**2) * np.log(0.4),
        ]
    )
    config = ModelConfig(loss="focal", focal_gamma=2.0, label_smoothing=0.0)
    assert _keras_loss(config) == pytest.approx(by_hand, rel=1e-4)
    assert focal_loss_reference(TARGETS, PROBS, 2.0) == pytest.approx(by_hand, rel=1e-7)


def test_focal_loss_with_smoothing_matches_the_reference_formula():
    config = ModelConfig(loss="focal", focal_gamma=1.5, label_smoothing=0.1)
    expected = focal_loss_reference(TARGETS, PROBS, 1.5, smoothing=0.1)
    assert _keras_loss(config) == pytest.approx(expected, rel=1e-4)


def test_gamma_zero_is_binary_cross_entropy():
    focal = ModelConfig(loss="focal", focal_gamma=0.0, label_smoothing=0.01)
    bce = ModelConfig(loss="bce", label_smoothing=0.01)
    assert _keras_loss(focal) == pytest.approx(_keras_loss(bce), rel=1e-5)


def test_focal_loss_discounts_easy_examples_most():
    easy = focal_loss_reference([1.0], [0.95], 2.0) / focal_loss_reference([1.0], [0.95], 0.0)
    hard = focal_loss_reference([1.0], [0.2], 2.0) / focal_loss_reference([1.0], [0.2], 0.0)
    assert easy < 0.01 and hard > 0.6
