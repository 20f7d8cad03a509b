"""Filterbank search speed: setibl's search of one .h5 file against turboSETI's, same file.

Usage: python benchmarks/dedoppler_file.py [LOG2_CHANNELS] [MAX_DRIFT]
(default 20: one 2^20-channel coarse channel x 16 time steps, BL's 2.79 Hz and 18.25 s, as a
Breakthrough Listen high-resolution product; +-4 Hz/s, 27 drift blocks per sign).
A setigen frame with chi-squared noise and one -2.5 Hz/s line is written first. Both tools
compile their Numba kernels on a small file before the timed run; both times include reading
the file. Prints both times and whether both found the line at the same channel and drift.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import emit, peak_rss_mib, timed

from setibl.classical.files import search_file, turboseti_hits


def write_frame(path: Path, channels: int, line: bool = True) -> None:
    import setigen as stg
    from astropy import units as u

    frame = stg.Frame(
        fchans=channels,
        tchans=16,
        df=2.7939677238464355 * u.Hz,
        dt=18.253611008 * u.s,
        fch1=6095.214842353016 * u.MHz,
        seed=1,
    )
    frame.add_noise(x_mean=10, noise_type="chi2")
    if line:
        frame.add_signal(
            stg.constant_path(
                f_start=frame.get_frequency(channels // 3), drift_rate=-2.5 * u.Hz / u.s
            ),
            stg.constant_t_profile(level=frame.get_intensity(snr=60)),
            stg.gaussian_f_profile(width=6 * u.Hz),
            stg.constant_bp_profile(level=1),
        )
    frame.save_h5(str(path))


def main() -> None:
    log2_channels = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    max_drift = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    root = Path(tempfile.mkdtemp(prefix="bench-file-"))
    small, big = root / "small.h5", root / "big.h5"
    write_frame(small, 4096)
    write_frame(big, 2**log2_channels)
    search_file(small, max_drift, 20.0)  # compile / load both tools' kernels
    turboseti_hits(small, root, max_drift, 20.0)
    ours, our_seconds = timed(search_file, big, max_drift, 20.0)
    theirs, their_seconds = timed(turboseti_hits, big, root, max_drift, 20.0)
    same = (
        len(ours) == len(theirs) == 1
        and int(ours["channel"][0]) == int(theirs["channel"][0])
        and abs(float(ours["drift_hz_per_s"][0]) - float(theirs["drift_hz_per_s"][0])) < 1e-6
    )
    emit(
        "dedoppler_file",
        {
            "channels": 2**log2_channels,
            "time_steps": 16,
            "max_drift_hz_per_s": max_drift,
            "setibl_s": round(our_seconds, 2),
            "turboseti_s": round(their_seconds, 2),
            "speedup_vs_turboseti": round(their_seconds / our_seconds, 2),
            "same_hit": same,
            "hit_drift_hz_per_s": round(float(ours["drift_hz_per_s"][0]), 6) if len(ours) else None,
            "peak_rss_mib": peak_rss_mib(),
        },
    )


if __name__ == "__main__":
    main()
