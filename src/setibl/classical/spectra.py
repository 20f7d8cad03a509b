"""Per-scan spectral statistics the de-Doppler search and the blanking before it stand on: the
bandpass (a running median of the time-mean spectrum), robust noise levels, and the clipping of
bright pixels."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from setibl.config_rules import NOISE_STATISTICS

__all__ = [
    "NOISE_STATISTICS",
    "bandpass",
    "check_noise_statistic",
    "clip_bright",
    "noise_level",
    "robust_centre_scale",
    "running_median",
]


def running_median(spectrum: np.ndarray, window: int) -> np.ndarray:
    """(..., F) float32 spectra -> (..., F) float32: median over ``window`` channels around each
    channel (edge channels repeated beyond the band)."""
    size = [1] * spectrum.ndim
    size[-1] = window
    return median_filter(spectrum, size=size, mode="nearest").astype(np.float32, copy=False)


def robust_centre_scale(
    values: np.ndarray, axis: int | tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) of ``values`` over ``axis``, kept as size-1 axes: the median and 1.4826
    median absolute deviations (a Gaussian's sigma, unmoved by a minority of bright pixels)."""
    centre = np.median(values, axis=axis, keepdims=True)
    return centre, np.median(np.abs(values - centre), axis=axis, keepdims=True) * 1.4826


def bandpass(scans: np.ndarray, window: int = 17) -> np.ndarray:
    """(..., T, F) -> (..., F): each scan's time-mean spectrum, median-filtered over channels.

    ``window`` 0 gives zeros (no flattening, as turboSETI). A line drifting across more than
    about half the window shows in the time-mean spectrum as a plateau the filter partly keeps,
    so flattening takes some of its power; wider windows follow the bandpass less closely.
    """
    if window == 0:
        return np.zeros((*scans.shape[:-2], scans.shape[-1]), np.float32)
    return running_median(scans.mean(axis=-2, dtype=np.float32), window)


def check_noise_statistic(statistic: str) -> None:
    """ValueError unless ``statistic`` names one of :data:`NOISE_STATISTICS`."""
    if statistic not in NOISE_STATISTICS:
        raise ValueError(f"noise statistic must be one of {NOISE_STATISTICS}, got {statistic!r}")


def noise_level(zero_drift: np.ndarray, statistic: str = "mad") -> tuple[np.ndarray, np.ndarray]:
    """(..., F) zero-drift sums -> (centre, scale), each (..., 1): median and 1.4826 MAD, or
    turboSETI's median and standard deviation of the values between the 5th and 95th
    percentiles."""
    check_noise_statistic(statistic)
    if statistic == "mad":
        return robust_centre_scale(zero_drift, axis=-1)
    rows = zero_drift.reshape(-1, zero_drift.shape[-1])
    centre = np.empty((len(rows), 1), zero_drift.dtype)
    scale = np.empty_like(centre)
    for i, row in enumerate(rows):
        low, centre[i, 0], high = np.percentile(row, [5, 50, 95])
        scale[i, 0] = row[(row >= low) & (row <= high)].std()
    shape = (*zero_drift.shape[:-1], 1)
    return centre.reshape(shape), scale.reshape(shape)


def clip_bright(scans: np.ndarray, baseline: np.ndarray, clip_sigma: float) -> None:
    """Clip (m, T, F) float32 ``scans`` in place at ``baseline`` (m, F) + clip_sigma x each
    scan's robust sigma (1.4826 MAD of its residual, sampled every 16th row: 2% error)."""
    residual = (scans[:, ::16] - baseline[:, None, :]).reshape(len(scans), -1)
    centre, sigma = robust_centre_scale(residual, axis=1)
    sigma[~(sigma > 0)] = np.inf  # a scan mostly of one value (padding) has no noise to go by
    ceiling = baseline + (centre + clip_sigma * sigma)
    np.minimum(scans, ceiling[:, None, :], out=scans)
