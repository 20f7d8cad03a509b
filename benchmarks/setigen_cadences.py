"""An independent evaluation set: Kaggle-layout cadences made with setigen's own API only.

Usage: python benchmarks/setigen_cadences.py OUT [--n-train 2000] [--n-test 1000]
       [--seed 2026] [--workers 2]

Nothing here comes from setibl's generator: frames, chi-squared noise, S/N, paths and spectral
profiles are setigen's (``Frame``, ``OrderedCadence``, ``add_noise``, ``get_intensity``,
``constant_path``, ``sine_path``, ``squared_path``, ``simple_rfi_path``, ``*_f_profile``), so
detectors tuned on setibl's synthetic data meet signals they were not shaped around.

Geometry: Breakthrough Listen's mid-resolution product, df = 2.86102294921875 kHz
(187.5 MHz / 2^16), dt = 1.073741824 s, 256 channels × 273 steps per scan, scans A B A C A D
with a 10-step (10.7 s) slew between them, fch1 = 6 GHz ascending. A needle's path is one
function of the time since the cadence began, so it moves on through OFF scans and slews; it is
drawn only into the ON scans it was given to, and ``n_on`` counts those it is visible in.
Mixture (positives: needle, needle+rfi; negatives: empty, rfi_only, decoy, broadband): needle
S/N 8–120 log-uniform in setigen's convention (intensity = snr · noise_std / sqrt(tchans));
constant, sine, random-walk and squared paths; RFI up to S/N 300 in all six scans (still,
restarting drifters, random walks that wander 2–30 channels between scans, levels changing
from scan to scan); decoys (needle-like signals in OFF scans only); broadband bursts.

Writes OUT/{train,test}/<id[0]>/<id>.npy (float16, (6, 273, 256), each scan mean 0 / std 1),
train_labels.csv, sample_submission.csv, test_labels.csv (id, target), cadences.csv (one row per
cadence), needles.csv (one row per injected signal: role needle, rfi, decoy or broadband) and,
last, recipe.json. A folder whose recipe.json matches is left as it is. Every cadence depends
only on (seed, split, index), so the bytes do not depend on the worker count.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

VERSION = 1
SCANS, ON, OFF = 6, (0, 2, 4), (1, 3, 5)
SNR_BINS = (8.0, 15.0, 30.0, 60.0, 120.0)
CADENCE_COLUMNS = [
    "id", "split", "target", "category", "path_kind", "n_on", "on_scans", "snr",
    "drift_ch_per_step", "drift_rate", "f_start_hz", "f_start_channel", "profile", "width_hz",
    "n_rfi", "rfi_kinds", "rfi_snr_max", "n_decoy", "n_broadband",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "id", "split", "role", "kind", "scans", "f_start_channel", "f_start_hz",
    "drift_ch_per_step", "drift_rate", "profile", "width_hz", "snr",
]  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """Every parameter of a set; recipe.json holds it, and a match skips regeneration."""

    seed: int = 2026
    n_train: int = 2000
    n_test: int = 1000
    train_positive: float = 0.10
    test_positive: float = 0.25
    fchans: int = 256
    tchans: int = 273
    df_hz: float = 2861.02294921875
    dt_s: float = 1.073741824
    fch1_hz: float = 6.0e9
    slew_steps: int = 10
    needle_snr: tuple[float, float] = (8.0, 120.0)  # log-uniform, setigen S/N
    needle_drift: tuple[float, float] = (0.005, 1.0)  # |channels per step|, log-uniform
    rfi_snr: tuple[float, float] = (10.0, 300.0)
    decoy_snr: tuple[float, float] = (8.0, 300.0)
    wander_ch: tuple[float, float] = (2.0, 30.0)  # random-walk RFI, step between scans
    rfi_level: tuple[float, float] = (0.7, 1.4)  # RFI strength per scan, log-uniform factor
    rfi_count: tuple[int, int] = (1, 2)  # RFI signals in a cadence that has RFI
    rfi_kinds: tuple = (("still", 0.45), ("drifting", 0.2), ("random_walk", 0.35))
    rfi_drift: tuple[float, float] = (0.005, 0.5)  # |channels per step| of drifting RFI
    positives: tuple = (("needle", 0.55), ("needle+rfi", 0.45))
    negatives: tuple = (("empty", 0.15), ("rfi_only", 0.45), ("decoy", 0.2), ("broadband", 0.2))
    paths: tuple = (("constant", 0.4), ("sine", 0.2), ("random_walk", 0.2), ("squared", 0.2))
    on_counts: tuple = ((1, 0.25), (2, 0.25), (3, 0.5))  # ON scans a needle is given to
    version: int = VERSION

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def cadence_id(seed: int, split: str, index: int) -> str:
    """Kaggle-like 15-hex-digit id; its first digit is the sub-folder (group)."""
    return hashlib.sha1(f"setigen-xgen/{seed}/{split}/{index}".encode()).hexdigest()[:15]


def _pick(rng: np.random.Generator, table: tuple):
    names, weights = zip(*table, strict=True)
    return names[int(rng.choice(len(names), p=np.asarray(weights) / sum(weights)))]


def _loguniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _profile(rng: np.random.Generator, df: float, wide: bool = False):
    """(name, width in Hz, setigen f_profile): Gaussian FWHM, sinc² zero crossing, or box."""
    import setigen as stg

    name = _pick(rng, (("gaussian", 0.5), ("sinc2", 0.25), ("box", 0.25)))
    low, high = {"gaussian": (0.8, 4.0), "sinc2": (1.5, 6.0), "box": (1.0, 4.0)}[name]
    width = _loguniform(rng, (low, high * (1.5 if wide else 1.0))) * df
    make = {"gaussian": stg.gaussian_f_profile, "sinc2": stg.sinc2_f_profile}
    return name, width, make.get(name, stg.box_f_profile)(width=width)


def _frames(recipe: Recipe, rng: np.random.Generator):
    """Six chi² noise frames in an ABACAD OrderedCadence spaced by the slew."""
    import setigen as stg

    frames = []
    for _ in range(SCANS):
        frame = stg.Frame(
            fchans=recipe.fchans, tchans=recipe.tchans, df=recipe.df_hz, dt=recipe.dt_s,
            fch1=recipe.fch1_hz, ascending=True, t_start=0.0, seed=int(rng.integers(2**62)),
        )  # fmt: skip
        frame.add_noise(x_mean=1.0, noise_type="chi2")
        frames.append(frame)
    slew = recipe.slew_steps * recipe.dt_s
    return stg.OrderedCadence(frames, order="ABACAD", t_slew=slew, t_overwrite=True)


def _offsets(cadence) -> list[float]:
    """Seconds from the cadence's start to each frame's start."""
    return [frame.t_start - cadence.t_start for frame in cadence]


def _visible(cadence, path, scans, recipe: Recipe) -> list[int]:
    """Scans where the path's centre lies inside the band for at least a quarter of the steps."""
    shown = []
    for k in scans:
        channel = (path(cadence[k].ts + _offsets(cadence)[k]) - recipe.fch1_hz) / recipe.df_hz
        if np.mean((channel >= 0) & (channel <= recipe.fchans - 1)) >= 0.25:
            shown.append(k)
    return shown


def _needle_path(rng: np.random.Generator, kind: str, cadence, scans, recipe: Recipe):
    """A path callable of cadence time (s) -> Hz, anchored inside the band between ``scans``."""
    import setigen as stg

    df, dt = recipe.df_hz, recipe.dt_s
    rate = float(rng.choice([-1, 1])) * _loguniform(rng, recipe.needle_drift) * df / dt  # Hz/s
    middles = [_offsets(cadence)[k] + recipe.tchans * dt / 2 for k in scans]
    # Anchored half-way between the first and last chosen scan, so a slow needle spans them all.
    t_a = (middles[0] + middles[-1]) / 2 if rng.random() < 0.7 else float(rng.choice(middles))
    f_a = recipe.fch1_hz + rng.uniform(16, recipe.fchans - 16) * df
    linear = stg.constant_path(f_start=f_a - rate * t_a, drift_rate=rate)
    if kind == "constant":
        return linear, rate
    if kind == "sine":
        period = _loguniform(rng, (20.0, 400.0)) * dt
        amplitude = _loguniform(rng, (2.0, 40.0)) * df
        sine = stg.sine_path(f_start=0.0, drift_rate=0.0, period=period, amplitude=amplitude)
        return (lambda t: linear(t) + sine(t) - sine(t_a)), rate
    if kind == "squared":
        acceleration = float(rng.choice([-1, 1])) * _loguniform(rng, (1e-5, 1e-3)) * df / dt**2
        square = stg.squared_path(f_start=0.0, drift_rate=acceleration)
        return (lambda t: linear(t) + square(t - t_a)), rate
    # Random walk: one Brownian track over the whole cadence, so it is continuous across scans.
    steps = int((cadence[SCANS - 1].t_stop - cadence.t_start) / dt) + 2
    grid = np.arange(steps, dtype=float)
    walk = np.cumsum(rng.normal(0.0, _loguniform(rng, (0.05, 0.6)), steps)) * df
    walk -= np.interp(t_a / dt, grid, walk)
    return (lambda t: linear(t) + np.interp(np.asarray(t) / dt, grid, walk)), rate


def _add(cadence, scans, path, snr, f_profile, levels=None, local_time=False) -> None:
    """Draw one signal into ``scans``; the path is read in cadence time unless ``local_time``."""
    import setigen as stg

    for k in scans:
        frame, offset = cadence[k], 0.0 if local_time else _offsets(cadence)[k]
        scale = 1.0 if levels is None else levels[k]
        frame.add_signal(
            (lambda t, o=offset, p=path[k] if isinstance(path, list) else path: p(t + o)),
            stg.constant_t_profile(level=frame.get_intensity(snr=snr * scale)),
            f_profile,
            stg.constant_bp_profile(level=1),
        )


def _signal_row(role, kind, scans, path, rate, profile, width, snr, recipe: Recipe) -> dict:
    """One needles.csv row; f_start is the path's frequency when the cadence begins."""
    f0 = float(np.asarray(path(np.zeros(1)))[0])
    return {
        "role": role,
        "kind": kind,
        "scans": ",".join(map(str, scans)),
        "f_start_channel": round((f0 - recipe.fch1_hz) / recipe.df_hz, 4),
        "f_start_hz": round(f0, 3),
        "drift_ch_per_step": round(rate * recipe.dt_s / recipe.df_hz, 6),
        "drift_rate": round(rate, 4),  # Hz/s
        "profile": profile,
        "width_hz": round(width, 3),
        "snr": round(snr, 4),
    }


def _needle_like(rng, cadence, recipe: Recipe, role: str) -> dict:
    """A needle (ON scans) or a decoy (the same signal in OFF scans only), drawn in place."""
    pool = ON if role == "needle" else OFF
    count = _pick(rng, recipe.on_counts)
    kind = _pick(rng, recipe.paths)
    snr = _loguniform(rng, recipe.needle_snr if role == "needle" else recipe.decoy_snr)
    profile, width, f_profile = _profile(rng, recipe.df_hz)
    for _ in range(50):  # redraw until the path crosses the band in a chosen scan
        scans = sorted(int(s) for s in rng.choice(pool, size=count, replace=False))
        path, rate = _needle_path(rng, kind, cadence, scans, recipe)
        shown = _visible(cadence, path, scans, recipe)
        if shown:
            break
    _add(cadence, scans, path, snr, f_profile)
    return _signal_row(role, kind, shown, path, rate, profile, width, snr, recipe)


def _rfi(rng, cadence, recipe: Recipe) -> dict:
    """RFI in all six scans: still, drifting (restarting every scan) or wandering."""
    import setigen as stg

    kind = _pick(rng, recipe.rfi_kinds)
    df, dt = recipe.df_hz, recipe.dt_s
    snr = _loguniform(rng, recipe.rfi_snr)
    profile, width, f_profile = _profile(rng, df, wide=True)
    f0 = recipe.fch1_hz + rng.uniform(8, recipe.fchans - 8) * df
    levels = np.exp(rng.uniform(*np.log(recipe.rfi_level), SCANS))  # changes between scans
    if kind == "still":
        rate, starts = 0.0, f0 + rng.normal(0, 0.3, SCANS) * df
    elif kind == "drifting":
        rate = float(rng.choice([-1, 1])) * _loguniform(rng, recipe.rfi_drift) * df / dt
        # Centred on f0 mid-scan; each scan restarts a few channels away (a local transmitter).
        jitter = rng.normal(0, _loguniform(rng, (1.0, 5.0)), SCANS) * df
        starts = f0 - rate * recipe.tchans * dt / 2 + jitter
    else:
        rate = float(rng.normal(0, 0.01)) * df / dt
        starts = f0 + np.cumsum(rng.normal(0, _loguniform(rng, recipe.wander_ch), SCANS)) * df
    spread = _loguniform(rng, (0.2, 1.5)) * df
    seeds = rng.integers(2**62, size=SCANS)  # simple_rfi_path draws its own jitter
    paths = [
        stg.simple_rfi_path(s, rate, spread, "normal", "random_walk", seed=int(seed))
        if kind == "random_walk"
        else stg.constant_path(f_start=s, drift_rate=rate)
        for s, seed in zip(starts, seeds, strict=True)
    ]
    _add(cadence, range(SCANS), paths, snr, f_profile, levels=levels, local_time=True)
    return _signal_row("rfi", kind, range(SCANS), paths[0], rate, profile, width, snr, recipe)


def _broadband(rng, cadence, recipe: Recipe) -> dict:
    """A short burst across the whole band in a random subset of scans (ON and OFF alike)."""
    import setigen as stg

    scans = [k for k in range(SCANS) if rng.random() < 0.5] or [int(rng.integers(SCANS))]
    level = _loguniform(rng, (0.3, 4.0))  # per pixel, in noise standard deviations
    width = _loguniform(rng, (0.5, 8.0)) * recipe.dt_s
    centre = recipe.fch1_hz + recipe.fchans * recipe.df_hz / 2
    for k in scans:
        frame, t0 = cadence[k], rng.uniform(0, recipe.tchans) * recipe.dt_s
        height = level * frame.noise_std
        frame.add_signal(
            stg.constant_path(f_start=centre, drift_rate=0.0),
            lambda t, t0=t0, h=height: h * np.exp(-0.5 * ((np.asarray(t) - t0) / width) ** 2),
            stg.box_f_profile(width=2 * recipe.fchans * recipe.df_hz),
        )
    snr = level * np.sqrt(recipe.tchans)  # setigen's S/N of that per-pixel level
    band, path = recipe.fchans * recipe.df_hz, (lambda t: np.full_like(t, centre))
    return _signal_row("broadband", "burst", scans, path, 0.0, "box", band, snr, recipe)


def make_cadence(recipe: Recipe, split: str, index: int):
    """One cadence: (float16 (6, 273, 256) array, cadences.csv row, needles.csv rows)."""
    rng = np.random.default_rng([recipe.seed, ("train", "test").index(split), index])
    n = recipe.n_train if split == "train" else recipe.n_test
    share = recipe.train_positive if split == "train" else recipe.test_positive
    # ids are hashes, so "the first round(share * n) indices are positive" is not an order.
    target = int(index < round(share * n))
    category = _pick(rng, recipe.positives if target else recipe.negatives)
    cadence = _frames(recipe, rng)
    signals = []
    if target:
        signals.append(_needle_like(rng, cadence, recipe, "needle"))
    if category == "decoy":
        signals.append(_needle_like(rng, cadence, recipe, "decoy"))
    if category == "broadband":
        signals += [_broadband(rng, cadence, recipe) for _ in range(int(rng.integers(1, 4)))]
    with_rfi = category in ("needle+rfi", "rfi_only") or (
        category in ("decoy", "broadband") and rng.random() < 0.3
    )
    if with_rfi:
        count = int(rng.integers(recipe.rfi_count[0], recipe.rfi_count[1] + 1))
        signals += [_rfi(rng, cadence, recipe) for _ in range(count)]
    data = np.stack([frame.data for frame in cadence]).astype(np.float64)
    data -= data.mean(axis=(1, 2), keepdims=True)
    data /= data.std(axis=(1, 2), keepdims=True)
    snippet = cadence_id(recipe.seed, split, index)
    needle = next((s for s in signals if s["role"] == "needle"), {})
    rfi = [s for s in signals if s["role"] == "rfi"]
    shown = [k for k in needle.get("scans", "").split(",") if k]
    keys = ("snr", "drift_ch_per_step", "drift_rate", "f_start_hz", "f_start_channel")
    row = {
        "id": snippet,
        "split": split,
        "target": target,
        "category": category,
        "path_kind": needle.get("kind", ""),
        "n_on": len(shown),
        "on_scans": ",".join(shown),
        **{key: needle.get(key, "") for key in (*keys, "profile", "width_hz")},
        "n_rfi": len(rfi),
        "rfi_kinds": ",".join(s["kind"] for s in rfi),
        "rfi_snr_max": max((s["snr"] for s in rfi), default=""),
        "n_decoy": sum(s["role"] == "decoy" for s in signals),
        "n_broadband": sum(s["role"] == "broadband" for s in signals),
    }
    return data.astype(np.float16), row, [{"id": snippet, "split": split, **s} for s in signals]


def _atomic(path: Path, write, mode: str = "wb") -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, mode) as handle:
        write(handle)
    os.replace(tmp, path)


def _make_and_write(task: tuple[Recipe, str, str, int]) -> tuple[dict, list[dict]]:
    recipe, out, split, index = task
    data, row, signals = make_cadence(recipe, split, index)
    folder = Path(out) / split / row["id"][0]
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / f"{row['id']}.npy", lambda handle: np.save(handle, data))
    return row, signals


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["id"], r.get("role", ""))))

    _atomic(path, write, mode="w")


def make_set(out: str | os.PathLike, recipe: Recipe, workers: int = 2, log=print) -> Path:
    """Write the set into ``out`` unless its recipe.json already matches ``recipe``."""
    out = Path(out)
    recipe_path = out / "recipe.json"
    if recipe_path.exists() and json.loads(recipe_path.read_text()) == recipe.to_json():
        log(f"{out}: up to date (recipe.json matches)")
        return out
    out.mkdir(parents=True, exist_ok=True)
    recipe_path.unlink(missing_ok=True)  # a half-rewritten set must not look complete
    tasks = [(recipe, str(out), split, i) for split, n in (("train", recipe.n_train),
             ("test", recipe.n_test)) for i in range(n)]  # fmt: skip
    start = time.perf_counter()
    if workers <= 1:
        results = [_make_and_write(task) for task in tasks]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(_make_and_write, tasks, chunksize=16))
    rows = [row for row, _ in results]
    signals = [signal for _, batch in results for signal in batch]
    for split, name in (("train", "train_labels.csv"), ("test", "test_labels.csv")):
        labels = [{"id": r["id"], "target": r["target"]} for r in rows if r["split"] == split]
        _write_csv(out / name, ["id", "target"], labels)
    blank = [{"id": r["id"], "target": 0.5} for r in rows if r["split"] == "test"]
    _write_csv(out / "sample_submission.csv", ["id", "target"], blank)
    _write_csv(out / "cadences.csv", CADENCE_COLUMNS, rows)
    _write_csv(out / "needles.csv", SIGNAL_COLUMNS, signals)
    _atomic(recipe_path, lambda h: h.write(json.dumps(recipe.to_json(), indent=1)), mode="w")
    seconds = time.perf_counter() - start
    log(f"{out}: {len(tasks)} cadences in {seconds:.1f} s ({len(tasks) / seconds:.1f}/s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--n-train", type=int, default=Recipe.n_train)
    parser.add_argument("--n-test", type=int, default=Recipe.n_test)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    recipe = Recipe(seed=args.seed, n_train=args.n_train, n_test=args.n_test)
    make_set(args.out, recipe, workers=args.workers)


if __name__ == "__main__":
    main()
