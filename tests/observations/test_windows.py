"""Windows cut from coarse channels: every channel covered, edges overlapped, scans normalised
as the Kaggle snippets were, geometry mismatches named."""

import numpy as np
import pytest

from setibl.errors import DataError
from setibl.observations.filterbank import Header
from setibl.observations.windows import WindowGeometry, check_fits, cut_windows


@pytest.mark.parametrize("fine,width,overlap", [(1024, 256, 32), (1000, 256, 0), (300, 64, 63)])
def test_windows_cover_every_channel_and_overlap(fine, width, overlap):
    starts = WindowGeometry(6, 16, width, overlap).starts(fine)
    assert starts[0] == 0 and starts[-1] == fine - width
    covered = np.zeros(fine, int)
    for start in starts:
        covered[start : start + width] += 1
    assert covered.min() >= 1
    assert (np.diff(starts) <= width - overlap).all()
    # a line anywhere sits at least overlap / 2 channels inside some window
    margin = [
        max(min(c - s, s + width - 1 - c) for s in starts if s <= c < s + width)
        for c in range(fine)
    ]
    assert min(margin[width:-width] or [overlap // 2]) >= overlap // 2


def test_scans_of_each_window_are_normalised_on_their_own():
    rng = np.random.default_rng(0)
    blocks = rng.normal(5.0, 3.0, (6, 40, 300)).astype(np.float32)
    blocks[2] *= 100.0  # a much brighter scan
    starts, windows = cut_windows(blocks, WindowGeometry(6, 32, 64, 16))
    assert windows.shape == (len(starts), 6, 32, 64)
    np.testing.assert_allclose(windows.mean(axis=(2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(windows.std(axis=(2, 3)), 1.0, atol=1e-4)
    raw = blocks[4, :32, starts[1] : starts[1] + 64]  # the first 32 time steps, same shape
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(windows[1, 4], expected, atol=1e-4)


def test_geometry_that_does_not_fit_names_the_file():
    def header(steps):
        return Header(1900.0, -0.00286, 1.07, steps, 16384, 60000.0, 1024)

    geometry = WindowGeometry(6, 32, 64)
    paths = [f"scan{i}.h5" for i in range(6)]
    check_fits(paths, [header(32)] * 6, 1024, geometry)
    with pytest.raises(DataError, match="scan3.h5: 16 time steps, the model needs at least 32"):
        check_fits(paths, [header(32)] * 3 + [header(16)] * 3, 1024, geometry)
    with pytest.raises(DataError, match="scan0.h5: 5 files given"):
        check_fits(paths[:5], [header(32)] * 5, 1024, geometry)
    with pytest.raises(DataError, match="narrower than the model's 64-channel windows"):
        check_fits(paths, [header(32)] * 6, 32, geometry)
    with pytest.raises(DataError, match="overlap 64"):
        WindowGeometry(6, 32, 64, 64)
