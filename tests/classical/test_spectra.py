import numpy as np
import pytest

from setibl.classical.spectra import (
    bandpass,
    check_noise_statistic,
    clip_bright,
    noise_level,
    robust_centre_scale,
    running_median,
)


def test_robust_centre_scale_reads_a_gaussians_sigma_through_bright_outliers():
    values = np.random.default_rng(3).normal(2.0, 0.5, size=(3, 20000))
    values[:, ::20] += 50.0  # one pixel in 20 lit: the mean moves by 2.5, the median hardly
    centre, scale = robust_centre_scale(values, axis=1)
    assert centre.shape == scale.shape == (3, 1)
    np.testing.assert_allclose(centre, 2.0, atol=0.05)
    np.testing.assert_allclose(scale, 0.5, rtol=0.1)  # the standard deviation reads 11
    centre, scale = robust_centre_scale(values.astype(np.float32), axis=(0, 1))
    assert centre.dtype == scale.dtype == np.float32 and scale.shape == (1, 1)


def test_running_median_takes_a_narrow_line_off_and_keeps_the_band_edges():
    spectrum = np.linspace(0.0, 1.0, 64, dtype=np.float32)[None]
    lined = spectrum.copy()
    lined[0, 30] += 100.0
    smooth = running_median(lined, 9)
    assert smooth.dtype == np.float32 and smooth.shape == (1, 64)
    np.testing.assert_allclose(smooth, spectrum, atol=1.01 / 63)  # within a channel's rise
    noisy = np.random.default_rng(6).standard_normal((1, 64)).astype(np.float32)
    by_hand = [np.median(noisy[0, max(0, c - 4) : c + 5]) for c in range(4, 60)]
    np.testing.assert_array_equal(running_median(noisy, 9)[0, 4:60], by_hand)
    rows = np.random.default_rng(7).standard_normal((1, 5, 64)).astype(np.float32) + lined[:, None]
    expected = running_median(rows.mean(axis=1), 9)  # the time-mean, not any single row
    np.testing.assert_allclose(bandpass(rows, 9), expected, rtol=1e-6)
    assert not bandpass(np.ones((2, 5, 64), np.float32), 0).any()  # window 0: no flattening


@pytest.mark.parametrize("statistic", ["mad", "turboseti"])
def test_noise_level_of_unit_noise_is_about_one(statistic):
    values = np.random.default_rng(4).standard_normal((2, 3, 4000))
    centre, scale = noise_level(values, statistic)
    assert centre.shape == scale.shape == (2, 3, 1)
    np.testing.assert_allclose(centre, 0.0, atol=0.06)
    expected = 1.0 if statistic == "mad" else 0.79  # turboSETI cuts the 5% tails
    np.testing.assert_allclose(scale, expected, rtol=0.06)


def test_clipping_caps_bright_pixels_above_the_bandpass_and_leaves_flat_scans_alone():
    rng = np.random.default_rng(5)
    baseline = np.stack([np.linspace(100.0, 200.0, 32), np.full(32, 3.0)]).astype(np.float32)
    scans = rng.standard_normal((2, 64, 32)).astype(np.float32) + baseline[:, None, :]
    scans[0, :, 10] += 40.0
    scans[1] = 3.0  # constant padding: no noise to go by ...
    scans[1, 1, 5] = 50.0  # ... and a bright pixel in a row the sigma is not sampled from
    before = scans.copy()
    clip_bright(scans, baseline, 6.0)
    capped = scans[0, :, 10] - baseline[0, 10]
    assert (capped == capped[0]).all() and 5.0 < capped[0] < 10.0  # about 6 sigmas up
    below = before[0] < scans[0, 0, 10] - baseline[0, 10] + baseline[0]
    np.testing.assert_array_equal(scans[0][below], before[0][below])  # the noise is kept
    np.testing.assert_array_equal(scans[1], before[1])


def test_an_unknown_noise_statistic_is_refused():
    with pytest.raises(ValueError, match="'std'"):
        check_noise_statistic("std")
    with pytest.raises(ValueError, match="'std'"):
        noise_level(np.zeros((2, 8)), "std")
