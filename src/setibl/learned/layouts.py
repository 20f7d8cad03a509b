"""Turn a cadence (scans, time, channels) into a model image (height, width, channels).

- ``on3``: the reference's channel-direction alignment: ON scans 0, 2, 4 as three channels.
  It cannot tell a needle from RFI that is also present in the OFF scans: the OFF scans are
  simply not shown to the model.
- ``all6``: all six scans as six channels, in cadence order.
- ``on_off``: the three ON scans, then ON minus the following OFF scan (A-B, A-C, A-D).
- ``stack``: all six scans stacked vertically into one channel, as the data are usually drawn
  (1638 x 256 x 1 for Kaggle cadences).
- ``stack_on``: the ON scans stacked vertically (819 x 256 x 1), the input of most top Kaggle
  solutions; like ``on3`` it never shows the OFF scans.
- ``drift6``: each scan's drift-rate plane (sums along straight tracks, one row per drift from
  -1 to +1 channel per step, see ``drift_planes``) as six channels in cadence order: 273 x 256 x 6.
  Faint needles, invisible pixel by pixel, become peaks.
- ``search_maps``: the de-Doppler search's maps (:mod:`setibl.classical.dedoppler` with fixed
  settings, today's defaults: |drift| <= 1 channel per step, bandpass window 17, clipping at 6
  sigma, tracks from 64 channels outside the band): per scan and start
  channel the best S/N over drifts (row 0) and that drift in channels per step (row 1), as six
  channels in cadence order: 2 x 384 x 6 for Kaggle snippets. A model then learns the ON-OFF
  logic the classical search hard-codes, from two numbers per track instead of 70,000 pixels.
  Before the search, RFI lit in every OFF scan is blanked
  (:func:`setibl.classical.blanking.blank_off_lit_channels`): a needle is absent from the OFF
  scans, so such a line is RFI, and at S/N 100-300 it would lend S/N 10-25 to every track that
  crosses it or ends near it, in ON and OFF scans alike, burying needles beside it.

Each layout also says where every scan went (``scan_slots``): along the channel axis or as a
vertical block, so augmentations can reorder ON scans among themselves and OFF scans among
themselves without knowing the layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from setibl.classical.blanking import OffLitBlanking, blank_off_lit_channels
from setibl.classical.dedoppler import search_cadences
from setibl.config import ON_SCANS, DedopplerConfig
from setibl.learned.drift_planes import DRIFTS, drift_planes

# The search whose maps ``search_maps`` shows, spelled out (today's dedoppler defaults) so that
# trained models keep their input if those defaults change: a new setting is a new layout.
SEARCH = DedopplerConfig(
    max_drift=1.0, time_binning=1, bandpass_window=17, clip_sigma=6.0, edge_channels=64
)
SNR_CAP = 1000.0  # search_maps S/N beyond this is stored as this
# The blanking before that search, spelled out for the same reason.
BLANKING = OffLitBlanking(core_sigma=5.0, extent_sigma=3.0, grow=2, detrend=65, mixed_ratio=3.0)


# A unit: image slots (channels or vertical blocks) that move together when scans are reordered.
Unit = tuple[int, ...]


@dataclass(frozen=True)
class ScanSlots:
    """Where the scans of a cadence sit in a layout's image.

    ``axis`` is "channel" (slot i = channel i) or "height" (slot i = i-th of equal vertical
    blocks). ``groups`` lists groups of units that may be permuted among themselves: the ON
    scans' units form one group, the OFF scans' another.
    """

    axis: str
    slots: int
    groups: tuple[tuple[Unit, ...], ...]


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    transform: Callable[[np.ndarray, tuple[int, ...]], np.ndarray]
    channels: Callable[[int, tuple[int, ...]], int]
    scan_slots: Callable[[int, tuple[int, ...]], ScanSlots]
    needs_off: bool  # whether the model sees the OFF scans at all
    height_factor: Callable[[int, tuple[int, ...]], int] = lambda scans, on: 1
    fixed_height: int = 0  # the image height whatever the scan's, when not 0
    extra_width: int = 0  # columns beyond the scan's channels, half on each side
    flips: bool = True  # whether reversing flip_axes mirrors the data in frequency
    # settings the images depend on beyond the name, written with the shards and checked when
    # they are read (a model trained on one setting must not be fed another)
    params: tuple[tuple[str, float], ...] = ()
    # axes of a batch [n, height, width, channels] to reverse for a frequency flip of the data
    flip_axes: tuple[int, ...] = (2,)

    def output_shape(
        self, cadence_shape: tuple[int, int, int], on_scans: tuple[int, ...] = ON_SCANS
    ) -> tuple[int, int, int]:
        """(height, width, channels) of the image made from a (scans, time, channels) cadence."""
        scans, height, width = cadence_shape
        if self.fixed_height:
            height = self.fixed_height
        return (
            height * self.height_factor(scans, on_scans),
            width + self.extra_width,
            self.channels(scans, on_scans),
        )

    def __call__(self, cadence: np.ndarray, on_scans: tuple[int, ...] = ON_SCANS) -> np.ndarray:
        """Apply to one cadence (scans, time, channels) or a batch (n, scans, time, channels)."""
        if cadence.ndim == 3:
            return self.transform(cadence[None], on_scans)[0]
        if cadence.ndim != 4:
            raise ValueError(f"layout {self.name}: expected 3 or 4 dimensions, got {cadence.shape}")
        return self.transform(cadence, on_scans)


def _off(scans: int, on_scans: tuple[int, ...]) -> list[int]:
    return [s for s in range(scans) if s not in on_scans]


def _on3(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    return np.moveaxis(batch[:, list(on_scans)], 1, -1)


def _all6(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    return np.moveaxis(batch, 1, -1)


def _on_off(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    scans = batch.shape[1]
    off_after = [min(s + 1, scans - 1) for s in on_scans]
    on = batch[:, list(on_scans)]
    difference = on - batch[:, off_after]
    return np.moveaxis(np.concatenate([on, difference], axis=1), 1, -1)


def _stack(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    n, scans, height, width = batch.shape
    return batch.reshape(n, scans * height, width, 1)


def _stack_on(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    return _stack(batch[:, list(on_scans)], on_scans)


def _drift6(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    return np.moveaxis(drift_planes(batch), 1, -1)


def _search_maps(batch: np.ndarray, on_scans: tuple[int, ...]) -> np.ndarray:
    searches = search_cadences(
        blank_off_lit_channels(batch, on_scans, BLANKING),
        max_drift=SEARCH.max_drift,
        time_binning=SEARCH.time_binning,
        bandpass_window=SEARCH.bandpass_window,
        clip_sigma=SEARCH.clip_sigma,
        edge_channels=SEARCH.edge_channels,
    )
    maps = np.stack([np.stack([s.snr, s.drift], axis=0) for s in searches])  # (n, 2, scans, W)
    # S/N within +-SNR_CAP stays finite in float16 records (a scan without noise gives 1e6)
    np.clip(maps[:, 0], -SNR_CAP, SNR_CAP, out=maps[:, 0])
    return np.moveaxis(maps, 2, -1).astype(np.float32)


def _singles(slots: list[int]) -> tuple[Unit, ...]:
    return tuple((s,) for s in slots)


def _cadence_order_slots(axis: str) -> Callable[[int, tuple[int, ...]], ScanSlots]:
    def slots(scans: int, on_scans: tuple[int, ...]) -> ScanSlots:
        groups = (_singles(list(on_scans)), _singles(_off(scans, on_scans)))
        return ScanSlots(axis, scans, groups)

    return slots


def _on_only_slots(axis: str) -> Callable[[int, tuple[int, ...]], ScanSlots]:
    def slots(scans: int, on_scans: tuple[int, ...]) -> ScanSlots:
        return ScanSlots(axis, len(on_scans), (_singles(list(range(len(on_scans)))),))

    return slots


def _on_off_slots(scans: int, on_scans: tuple[int, ...]) -> ScanSlots:
    # an ON channel and its ON-minus-OFF channel move together; the OFF scans cannot be
    # reordered apart from the ON scans here, as each difference holds one of each
    count = len(on_scans)
    return ScanSlots("channel", 2 * count, (tuple((i, count + i) for i in range(count)),))


LAYOUTS: dict[str, Layout] = {
    "on3": Layout(
        "on3",
        "ON scans 0, 2, 4 as three channels (reference)",
        _on3,
        lambda scans, on: len(on),
        _on_only_slots("channel"),
        needs_off=False,
    ),
    "all6": Layout(
        "all6",
        "all six scans as channels",
        _all6,
        lambda scans, on: scans,
        _cadence_order_slots("channel"),
        needs_off=True,
    ),
    "on_off": Layout(
        "on_off",
        "ON scans, then ON minus the next OFF",
        _on_off,
        lambda scans, on: 2 * len(on),
        _on_off_slots,
        needs_off=True,
    ),
    "stack": Layout(
        "stack",
        "all scans stacked vertically, one channel",
        _stack,
        lambda scans, on: 1,
        _cadence_order_slots("height"),
        needs_off=True,
        height_factor=lambda scans, on: scans,
    ),
    "stack_on": Layout(
        "stack_on",
        "ON scans stacked vertically, one channel",
        _stack_on,
        lambda scans, on: 1,
        _on_only_slots("height"),
        needs_off=False,
        height_factor=lambda scans, on: len(on),
    ),
    "drift6": Layout(
        "drift6",
        "each scan's drift-rate plane (track sums) as channels",
        _drift6,
        lambda scans, on: scans,
        _cadence_order_slots("channel"),
        needs_off=True,
        fixed_height=DRIFTS,
        flip_axes=(1, 2),
    ),
    "search_maps": Layout(
        "search_maps",
        "the de-Doppler search's best S/N and drift per start channel, scans as channels",
        _search_maps,
        lambda scans, on: scans,
        _cadence_order_slots("channel"),
        needs_off=True,
        fixed_height=2,
        extra_width=2 * SEARCH.edge_channels,
        flips=False,  # a mirrored band also negates the drift row
        params=(
            ("version", 4),
            ("off_lit_core_sigma", BLANKING.core_sigma),
            ("off_lit_extent_sigma", BLANKING.extent_sigma),
            ("off_lit_grow", BLANKING.grow),
            ("off_lit_detrend", BLANKING.detrend),
            ("off_lit_mixed_ratio", BLANKING.mixed_ratio),
            ("max_drift", SEARCH.max_drift),
            ("time_binning", SEARCH.time_binning),
            ("bandpass_window", SEARCH.bandpass_window),
            ("clip_sigma", SEARCH.clip_sigma),
            ("edge_channels", SEARCH.edge_channels),
            ("snr_cap", SNR_CAP),
        ),
    ),
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def layout_params(layout: str) -> dict:
    """The settings a layout's images depend on beyond its name (``Layout.params``), as they
    read back from JSON."""
    return json.loads(json.dumps(dict(get_layout(layout).params)))


def params_change(made: dict | None, now: dict) -> str:
    """How the settings images were ``made`` with differ from the ones this version uses ``now``,
    in one short phrase: "version 2 -> 3, edge_channels 32 -> 64, off_lit_grow new"."""
    if not made:
        return "settings that were not recorded"
    parts = [
        f"{key} {made[key]} -> {now[key]}" for key in now if key in made and made[key] != now[key]
    ]
    parts += [f"{key} new" for key in now if key not in made]
    parts += [f"{key} gone" for key in made if key not in now]
    return ", ".join(parts)


def image_shape(
    layout: str,
    cadence_shape: tuple[int, int, int],
    on_scans: tuple[int, ...] = ON_SCANS,
    resize: tuple[int, ...] = (),
) -> tuple[int, int, int]:
    """(height, width, channels) of the stored image: the layout's, resized when asked."""
    height, width, channels = get_layout(layout).output_shape(cadence_shape, on_scans)
    if resize:
        height, width = int(resize[0]), int(resize[1])
    return (height, width, channels)


def resize_image(image: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Resize one (height, width, channels) image to ``size`` = (height, width); bilinear,
    antialiased when shrinking (a needle one channel wide must not fall between samples)."""
    import tensorflow as tf

    resized = tf.image.resize(image.astype(np.float32), tuple(size), "bilinear", antialias=True)
    return resized.numpy()
