"""Synthetic cadences per second: setibl with 1 and 2 workers against setigen, same cadence.

Usage: python benchmarks/synth.py [N]   (default N = 2000; setigen runs N // 10)
Target: >= 250 cadences/s with 2 workers and >= 3x setigen. Also measured into /dev/shm,
where this machine's disk write-back (1.7 GB for 2,000 cadences) does not cap the rate.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import emit, peak_rss_mib, timed

from setibl.config import SynthConfig
from setibl.data.rendering import CadenceGeometry, normalise_scans
from setibl.data.synth_dataset import write_dataset
from setibl.jobs.executor import Executor


def setigen_cadences(count: int, out: Path, config: SynthConfig, geometry: CadenceGeometry):
    """The same job with setigen: six chi2 frames, a constant needle in the ONs of 10%."""
    import setigen as stg
    from astropy import units as u

    rng = np.random.default_rng(0)
    for index in range(count):
        scans = []
        needle = index % 10 == 0
        for scan in range(geometry.scans):
            frame = stg.Frame(
                fchans=geometry.width,
                tchans=geometry.height,
                df=config.df_hz * u.Hz,
                dt=config.dt_s * u.s,
                fch1=config.fch1_mhz * u.MHz,
                ascending=True,
            )
            frame.add_noise(x_mean=1.0, noise_type="chi2")
            if needle and scan % 2 == 0:
                frame.add_signal(
                    stg.constant_path(
                        f_start=frame.get_frequency(int(rng.integers(30, 220))),
                        drift_rate=0.1 * u.Hz / u.s,
                    ),
                    stg.constant_t_profile(level=frame.get_intensity(snr=20)),
                    stg.gaussian_f_profile(width=8 * u.Hz),
                    stg.constant_bp_profile(level=1),
                )
            scans.append(frame.data)
        data = normalise_scans(np.stack(scans).astype(np.float32), dtype=np.float16)
        np.save(out / f"{index}.npy", data)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    config, geometry = SynthConfig(), CadenceGeometry()
    figures = {"cadences": count}

    def per_second(workers: int, parent: str | None = None) -> float:
        folder = Path(tempfile.mkdtemp(prefix="bench-synth-", dir=parent))
        mapper = Executor(workers=workers).map
        _, seconds = timed(write_dataset, folder, count, 0, config, geometry, seed=1, mapper=mapper)
        shutil.rmtree(folder)
        return round(count / seconds, 1)

    for workers in (1, 2):
        figures[f"setibl_{workers}w_per_s"] = per_second(workers)
    if Path("/dev/shm").is_dir():  # the same job into RAM: speed without this disk's write-back
        figures["setibl_2w_tmpfs_per_s"] = per_second(2, "/dev/shm")
    figures["setibl_peak_rss_mib"] = peak_rss_mib()  # flat in N: cadences stream to disk
    folder = Path(tempfile.mkdtemp(prefix="bench-setigen-"))
    small = max(10, count // 10)
    _, seconds = timed(setigen_cadences, small, folder, config, geometry)
    shutil.rmtree(folder)
    figures["setigen_1w_per_s"] = round(small / seconds, 1)
    figures["speedup_2w_vs_setigen_1w"] = round(
        figures["setibl_2w_per_s"] / figures["setigen_1w_per_s"], 1
    )
    figures["speedup_1w_vs_setigen_1w"] = round(
        figures["setibl_1w_per_s"] / figures["setigen_1w_per_s"], 1
    )
    figures["peak_rss_mib_with_setigen"] = peak_rss_mib()
    emit("synth", figures)


if __name__ == "__main__":
    main()
