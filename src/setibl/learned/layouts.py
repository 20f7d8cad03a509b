"""Turn a cadence (scans, time, channels) into a model image (height, width, channels).

- ``on3``: the reference's channel-direction alignment: ON scans 0, 2, 4 as three channels.
  It cannot tell a needle from RFI that is also present in the OFF scans: the OFF scans are
  simply not shown to the model.
- ``all6``: all six scans as six channels, in cadence order.
- ``on_off``: the three ON scans, then ON minus the following OFF scan (A-B, A-C, A-D).
- ``stack``: all six scans stacked vertically into one channel, as the data are usually drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from setibl.config import ON_SCANS


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    transform: Callable[[np.ndarray, tuple[int, ...]], np.ndarray]
    channels: Callable[[int, tuple[int, ...]], int]
    height_factor: Callable[[int], int] = lambda scans: 1

    def output_shape(
        self, cadence_shape: tuple[int, int, int], on_scans: tuple[int, ...] = ON_SCANS
    ) -> tuple[int, int, int]:
        """(height, width, channels) of the image made from a (scans, time, channels) cadence."""
        scans, height, width = cadence_shape
        return (
            height * self.height_factor(scans),
            width,
            self.channels(scans, on_scans),
        )

    def __call__(self, cadence: np.ndarray, on_scans: tuple[int, ...] = ON_SCANS) -> np.ndarray:
        """Apply to one cadence (scans, time, channels) or a batch (n, scans, time, channels)."""
        if cadence.ndim == 3:
            return self.transform(cadence[None], on_scans)[0]
        if cadence.ndim != 4:
            raise ValueError(f"layout {self.name}: expected 3 or 4 dimensions, got {cadence.shape}")
        return self.transform(cadence, on_scans)


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


LAYOUTS: dict[str, Layout] = {
    "on3": Layout(
        "on3", "ON scans 0, 2, 4 as three channels (reference)", _on3, lambda scans, on: len(on)
    ),
    "all6": Layout("all6", "all six scans as channels", _all6, lambda scans, on: scans),
    "on_off": Layout(
        "on_off", "ON scans, then ON minus the next OFF", _on_off, lambda scans, on: 2 * len(on)
    ),
    "stack": Layout(
        "stack",
        "all scans stacked vertically, one channel",
        _stack,
        lambda scans, on: 1,
        lambda scans: scans,
    ),
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}") from None
