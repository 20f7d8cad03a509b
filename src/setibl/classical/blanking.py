"""Blanking of RFI lit in every OFF scan, before a search: a needle is absent from the OFF
scans, so a line there in all of them is interference, and a search that sees it lit in the ON
scans too would only have to veto it again (and, on RFI that shifts between scans, may fail to).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy.ndimage import label, maximum_filter1d

from setibl.classical.spectra import robust_centre_scale, running_median

__all__ = ["OFF_LIT", "OffLitBlanking", "blank_mask", "blank_off_lit_channels"]


@dataclass(frozen=True)
class OffLitBlanking:
    """Which channels :func:`blank_off_lit_channels` blanks (``search_maps`` pins its own).

    Levels are a channel's time-mean power above its neighbours, in robust sigmas of that scan's
    spectrum (for 273 time steps, 5 sigmas there is a still line of S/N 5).
    """

    core_sigma: float = 5.0  # a core: lit this much in every OFF scan
    extent_sigma: float = 3.0  # the structure around a core: channels lit this much in any scan
    grow: int = 2  # channels added on each side (a line's wings; bridges one-channel gaps)
    detrend: int = 65  # channels of the running median taken off the spectrum (the bandpass)
    # A structure with more than this many times as many channels lit in any ON scan as in any
    # OFF scan carries an ON-only signal across the RFI: only what touches the OFF scans' goes.
    mixed_ratio: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.extent_sigma <= self.core_sigma:
            raise ValueError(f"extent_sigma must be in (0, core_sigma], not {self.extent_sigma}")
        for name, least in (("grow", 0), ("detrend", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
                raise ValueError(f"{name} must be a whole number >= {least}, not {value!r}")
        if not self.mixed_ratio > 0:
            raise ValueError(f"mixed_ratio must be > 0, not {self.mixed_ratio}")


OFF_LIT = OffLitBlanking()

# The fewest channels the noise is measured over: below this many unlit ones, the quietest.
_NOISE_CHANNELS = 16


def _lit_channels(
    cadences: np.ndarray, off: list[int], blanking: OffLitBlanking
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n, scans, T, F) -> (time-mean spectra (n, scans, F), their running medians (n, scans,
    F), cores (n, F): lit ``core_sigma`` in every OFF scan, lit (n, scans, F): ``extent_sigma``,
    grown, and each channel's highest level over the scans (n, F), in sigmas)."""
    spectrum = cadences.mean(axis=2)
    smooth = running_median(spectrum, min(blanking.detrend, spectrum.shape[-1]))
    residual = spectrum - smooth
    centre, scale = robust_centre_scale(residual, axis=-1)
    excess = np.where(scale > 0, residual - centre, -np.inf)  # a scan without noise lights none
    core = (excess[:, off] > blanking.core_sigma * scale[:, off]).all(axis=1)
    lit = excess > blanking.extent_sigma * scale
    if blanking.grow > 0:
        lit = maximum_filter1d(lit, size=2 * blanking.grow + 1, axis=-1, mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.nan_to_num((excess / scale).max(axis=1), nan=np.inf, neginf=np.inf)
    return spectrum, smooth, core, lit, level


def blank_mask(
    core: np.ndarray, lit: np.ndarray, on_scans: tuple[int, ...], mixed_ratio: float
) -> np.ndarray:
    """One cadence's core (F,) and lit (scans, F) channels -> the (scans, F) pixels to blank.

    A structure is a run of channels lit in any scan that holds a core. It goes whole, in every
    scan, unless more than ``mixed_ratio`` times as many of its channels are lit in any ON scan
    as in any OFF scan (a needle drifting across the RFI joins the runs of its ON scans into
    one structure with it): then every scan loses the channels lit in any OFF scan and its own
    lit runs that touch them (overlapping or adjacent: RFI shifted between scans), and keeps
    the rest. Below the ratio a needle in the structure goes with it, in every scan: one that
    drifts about a channel per scan beside a still line, or crosses RFI many channels wide.
    """
    scans = lit.shape[0]
    on = list(on_scans)
    off = [s for s in range(scans) if s not in on_scans]
    structures, _ = label(lit.any(axis=0))
    lit_on, lit_off = lit[on].any(axis=0), lit[off].any(axis=0)
    runs = [label(lit[s])[0] for s in range(scans)]
    blank = np.zeros(lit.shape, bool)
    for structure in np.unique(structures[core & lit_off]):
        within = structures == structure
        if (lit_on & within).sum() <= mixed_ratio * (lit_off & within).sum():
            blank[:, within] = True
            continue
        rfi = lit_off & within
        reach = maximum_filter1d(rfi, size=3, mode="constant")
        for s in range(scans):
            touching = np.unique(runs[s][reach])
            blank[s] |= rfi | np.isin(runs[s], touching[touching > 0])
    return blank


def blank_off_lit_channels(
    batch: np.ndarray, on_scans: tuple[int, ...], blanking: OffLitBlanking = OFF_LIT
) -> np.ndarray:
    """(n, scans, T, F) cadences -> float32 cadences in which every lit structure with a core
    lit in all OFF scans is replaced by noise around the local bandpass; ``batch`` is left
    alone (and returned as it is, when float32 with nothing to blank).

    Lit: a scan's time-mean spectrum, less its running median over ``blanking.detrend``
    channels, stands above its median by a number of robust sigmas (1.4826 MAD over channels).
    A core is a channel lit ``core_sigma`` in every OFF scan: a needle is absent from the OFF
    scans, so it holds RFI. Its structure (:func:`blank_mask`) is the run of channels lit
    ``extent_sigma`` in any scan that contains it, grown by ``grow`` channels each side: RFI
    that wanders or shifts a few channels between scans goes whole, leaving no ON-only remnant
    beside the blank. So does a needle within about ``2 x grow + 1`` channels of such RFI, in
    every scan, unless more than ``mixed_ratio`` times as many of the structure's channels are
    lit in any ON scan as in any OFF scan (channels counted after growing, so a one-channel
    line counts ``2 x grow + 1``): then it loses only the scans in which it touches the
    channels lit in the OFF scans. A line lit in only some OFF scans (hopping or fast-drifting
    RFI, whose OFF positions are the evidence against it) is kept, as is any structure lit in
    ON scans only that touches no core. A scan without noise (constant padding) lights nothing.

    The blanked pixels get the scan's running-median spectrum (its bandpass there, so a blank
    on a sloping bandpass is no new line) plus Gaussian noise of the scan's robust pixel sigma,
    each pixel less its channel's time-mean, over the channels unlit in every scan of the
    cadence, or the 16 with the lowest peak level when fewer are unlit (so a wide blank does
    not shrink the noise scale the search's S/N is measured by, and a band crowded with RFI
    does not widen it). The noise is drawn from the same seed for every cadence: a cadence's
    blanks do not depend on the batch it is in.
    """
    cadences = np.asarray(batch, np.float32)  # copied below only where something is blanked
    scans, rows = cadences.shape[1], cadences.shape[2]
    off = [s for s in range(scans) if s not in on_scans]
    if not off:
        return cadences
    spectrum, smooth, core, lit, level = _lit_channels(cadences, off, blanking)
    blanked = np.flatnonzero(core.any(axis=1))
    if len(blanked) and (cadences is batch or cadences.base is not None):
        cadences = cadences.copy()  # the caller's memory (an array, a view, a memmap) stays as is
    for i in blanked:
        blank = blank_mask(core[i], lit[i], on_scans, blanking.mixed_ratio)
        quiet = ~lit[i].any(axis=0)
        if quiet.sum() < _NOISE_CHANNELS:
            quiet = np.isin(np.arange(len(quiet)), np.argsort(level[i])[:_NOISE_CHANNELS])
        # each channel less its own time-mean (a still line or the bandpass is no noise); every
        # 16th row: 2% error over a whole band of quiet channels, 8% over 16 of them
        sampled = cadences[i][:, ::16, quiet] - spectrum[i][:, None, quiet]
        _, scale = robust_centre_scale(sampled, axis=(1, 2))
        sigma = scale[:, 0, 0]  # (scans,)
        noise = np.random.default_rng(0)
        for s in np.flatnonzero(blank.any(axis=1)):
            channels = blank[s]
            fill = noise.standard_normal((rows, channels.sum())) * sigma[s]
            cadences[i, s][:, channels] = smooth[i, s, channels] + fill
    return cadences
