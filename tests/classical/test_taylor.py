import numpy as np
import pytest

from setibl.classical.taylor import (
    best_drift_sums,
    best_drift_sums_reference,
    brute_force_sums,
    taylor_tree,
    tree_offsets,
    tree_rows,
)


def test_tree_equals_brute_force_along_its_paths():
    scan = np.random.default_rng(1).standard_normal((32, 40)).astype(np.float32)
    offsets = tree_offsets(32)
    np.testing.assert_allclose(taylor_tree(scan), brute_force_sums(scan, offsets), atol=1e-4)


def test_tree_paths_are_straight_within_one_channel():
    rows = 64
    offsets = tree_offsets(rows)
    straight = np.arange(rows)[:, None] * np.arange(rows)[None, :] / (rows - 1)
    assert np.abs(offsets - straight).max() <= 1.0
    assert (offsets[:, 0] == 0).all() and (offsets[:, -1] == np.arange(rows)).all()
    assert tree_rows(273) == 256 and tree_rows(2) == 2


@pytest.mark.parametrize(
    ("rows", "channels", "max_index"), [(256, 256, 255), (128, 48, 20), (2, 5, 1), (64, 64, 0)]
)
def test_kernel_matches_numpy_tree_bit_for_bit(rows, channels, max_index):
    rng = np.random.default_rng(rows + channels)
    scans = rng.standard_normal((3, rows, channels)).astype(np.float32)
    band = rng.standard_normal((3, channels)).astype(np.float32)
    fast = best_drift_sums(scans, band, max_index)
    slow = best_drift_sums_reference(scans, band, max_index)
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, want)


def test_kernel_finds_both_drift_signs_against_brute_force():
    rows, channels = 64, 96
    rng = np.random.default_rng(5)
    scans = rng.standard_normal((2, rows, channels)).astype(np.float32)
    offsets = tree_offsets(rows)
    for t in range(rows):  # a bright line up from channel 10 and one down from channel 80
        scans[0, t, 10 + offsets[37, t]] += 6.0
        scans[1, t, 80 - offsets[21, t]] += 6.0
    best, index, zero = best_drift_sums(scans, np.zeros((2, channels), np.float32), rows - 1)
    assert index[0, 10] == 37 and index[1, 80] == -21
    up = brute_force_sums(scans[0], offsets)
    down = brute_force_sums(scans[1, :, ::-1], offsets)[:, ::-1]
    np.testing.assert_allclose(best[0, 10], up[37, 10], rtol=1e-5)
    np.testing.assert_allclose(best[1, 80], down[21, 80], rtol=1e-5)
    np.testing.assert_allclose(zero, scans.sum(axis=1), rtol=1e-4, atol=1e-3)
    both = np.maximum(up.max(axis=0), brute_force_sums(scans[0, :, ::-1], offsets).max(0)[::-1])
    np.testing.assert_allclose(best[0], both, rtol=1e-4, atol=1e-3)


def test_kernel_rejects_bad_shapes():
    scans = np.zeros((1, 48, 8), np.float32)
    with pytest.raises(ValueError, match="power-of-two"):
        best_drift_sums(scans, np.zeros((1, 8), np.float32), 3)
    with pytest.raises(ValueError, match="bandpass shape"):
        best_drift_sums(scans[:, :32], np.zeros((2, 8), np.float32), 3)
    with pytest.raises(ValueError, match="max_index"):
        best_drift_sums(scans[:, :32], np.zeros((1, 8), np.float32), -1)


@pytest.mark.parametrize(("rows", "max_index"), [(16, 40), (16, 45), (32, 31 * 3)])
def test_drift_blocks_beyond_one_channel_per_step_match_the_reference(rows, max_index):
    rng = np.random.default_rng(rows + max_index)
    scans = rng.standard_normal((2, rows, 200)).astype(np.float32)
    band = rng.standard_normal((2, 200)).astype(np.float32)
    fast = best_drift_sums(scans, band, max_index)
    slow = best_drift_sums_reference(scans, band, max_index)
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.abs(fast[1]).max() <= max_index


def test_steep_lines_are_found_in_their_drift_block():
    rows, channels = 16, 160
    scans = np.random.default_rng(2).standard_normal((2, rows, channels)).astype(np.float32)
    for t in range(rows):  # 2.4 channels per step up from 20, and down from 140
        scans[0, t, 20 + round(2.4 * t)] += 8.0
        scans[1, t, 140 - round(2.4 * t)] += 8.0
    best, index, _ = best_drift_sums(scans, np.zeros((2, channels), np.float32), 3 * 15)
    assert abs(index[0, 20] / 15 - 2.4) <= 1.5 / 15
    assert abs(index[1, 140] / 15 + 2.4) <= 1.5 / 15
    assert best[0, 20] > 8.0 * rows * 0.8 and best[1, 140] > 8.0 * rows * 0.8


@pytest.mark.parametrize(("rows", "max_index", "tile"), [(16, 40, 24), (32, 31, 7), (64, 63, 50)])
def test_channel_tiles_give_the_same_sums_bit_for_bit(rows, max_index, tile):
    rng = np.random.default_rng(tile)
    scans = rng.standard_normal((2, rows, 150)).astype(np.float32)
    band = rng.standard_normal((2, 150)).astype(np.float32)
    tiled = best_drift_sums(scans, band, max_index, tile=tile)
    whole = best_drift_sums_reference(scans, band, max_index)
    for got, want in zip(tiled, whole, strict=True):
        np.testing.assert_array_equal(got, want)
