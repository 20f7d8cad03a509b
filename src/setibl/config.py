"""One frozen, typed configuration for every stage; defaults reproduce the reference recipe.

Load it from TOML with :func:`load_config`, override single values with ``section.key=value``
strings. Unknown sections or keys and values of the wrong type are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from setibl.config_rules import validate_config
from setibl.errors import ConfigError

# A B A C A D: the target (ON) is observed in scans 0, 2, 4, three other stars in 1, 3, 5
ON_SCANS: tuple[int, ...] = (0, 2, 4)
OFF_SCANS: tuple[int, ...] = (1, 3, 5)


@dataclass(frozen=True)
class RunConfig:
    seed: int = 42
    deterministic: bool = False  # deterministic TF ops and tf.data order (slower)


@dataclass(frozen=True)
class DataConfig:
    scans: int = 6
    height: int = 273  # time steps per scan
    width: int = 256  # frequency channels
    on_scans: tuple[int, ...] = ON_SCANS
    load_workers: int = 2


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic cadences; physical units follow setigen (Hz, seconds, setigen SNR)."""

    n_train: int = 2000  # default size of a synthesized set
    n_test: int = 500
    needle_fraction: float = 0.1
    rfi_fraction: float = 0.5  # fraction of cadences (any label) holding RFI
    rfi_count_max: int = 1  # a cadence holding RFI holds 1 to this many RFI signals (uniform)
    # Unsteady path RFI (the kinds needles share; real transmitters come and go): each scan's
    # level of such RFI times exp(N(0, this))
    rfi_level_spread: float = 0.0
    # this fraction of path RFI moves in frequency from scan to scan by a random walk, steps of
    # a sigma log-uniform in [1, rfi_hop_max_ch] channels (a transmitter changing frequency)
    rfi_hop_fraction: float = 0.0
    rfi_hop_max_ch: float = 20.0
    df_hz: float = 2.7939677238464355
    dt_s: float = 1.0737418240000001
    fch1_mhz: float = 6000.0
    gap_steps: int = 10  # slew gap between scans, in time steps
    snr_min: float = 8.0  # faint needles, where the background shift of ON scans says little
    snr_max: float = 50.0
    drift_max: float = 0.15  # |drift| of ordinary needles, channels per time step
    steep_drift_max: float = 1.0  # |drift| of band-crossing needles, channels per time step
    width_min_hz: float = 3.0
    width_max_hz: float = 15.0
    noise_dof: int = 64  # chi-squared degrees of freedom of one spectrum sample
    bandpass_ripple: float = 0.15  # relative depth of coarse-channel scalloping
    bandpass_jitter: float = 0.02  # relative change of the bandpass between scans
    needle_kinds: tuple[str, ...] = ("constant", "sine", "squiggle", "steep")
    # RFI takes every path needles take (same drift, anywhere in the band), plus broadband
    # bursts; "stationary" (zero drift) and "drifting" (slow, mid-band) are the older kinds
    rfi_kinds: tuple[str, ...] = ("constant", "sine", "squiggle", "steep", "broadband")
    partial_on_fraction: float = 0.3  # needles visible in only some ON scans


@dataclass(frozen=True)
class RecordsConfig:
    layout: str = "on3"
    encoding: str = "float16"  # "float16" (lossless) or "png8" (the reference's, lossy)
    train_shards: int = 20
    test_shards: int = 10
    workers: int = 2
    # (height, width) the layout's image is resized to before it is written; (): kept as is
    resize: tuple[int, ...] = ()


@dataclass(frozen=True)
class AugmentConfig:
    affine: bool = True
    rotation_deg: float = 0.0  # sigma
    shear_deg: float = 2.0  # sigma
    zoom_sigma: float = 0.125  # zoom = 1 + N(0, 1) * zoom_sigma, per axis
    shift_px: float = 8.0  # sigma, per axis
    flip_lr: bool = True
    color: bool = True
    saturation: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.8, 1.2)
    brightness: float = 0.1
    dropout: bool = True
    dropout_prob: float = 0.5
    dropout_count: int = 8
    dropout_size: float = 0.05  # side as a fraction of the smaller image dimension
    # permute the ON scans among themselves and the OFF scans among themselves (per image)
    scan_order: bool = False
    jit_compile: bool = True  # XLA-fuse the augmentation chain (2x faster on CPU)


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "efficientnet_b6"
    weights: str = "imagenet"  # "imagenet", "none" or a path to a weights file
    # weights a new run starts from: "none" (reference), "default" (the shipped model), a run
    # folder (its fold 0) or a .weights.h5 file; layout, backbone and input shape must agree
    init: str = "none"
    head_units: int = 32
    head_dropout: float = 0.0
    label_smoothing: float = 0.01
    # z-scored inputs are mapped to pixel-like values x * scale + offset before the backbone,
    # which carries its own ImageNet preprocessing.
    input_scale: float = 32.0
    input_offset: float = 127.5
    # (height, width) a Resizing layer brings images to before the backbone; (): no resizing
    resize: tuple[int, ...] = ()
    pooling: str = "avg"  # "avg" (reference), "max", or "gem" (generalised mean, learned p)
    gem_p: float = 3.0  # starting exponent of GeM pooling
    loss: str = "bce"  # "bce" (reference) or "focal"
    focal_gamma: float = 2.0  # focal loss exponent; 0 gives binary cross-entropy


@dataclass(frozen=True)
class MixupConfig:
    """Mixup of training batches: image x = lam a + (1 - lam) b with lam ~ Beta(alpha, alpha)."""

    enabled: bool = False
    alpha: float = 1.0
    prob: float = 0.5  # fraction of images in a batch that get a partner
    label: str = "or"  # "or": y + y' - y y' (a needle in either image); "blend": lam y + ...
    off_last_epochs: int = 0  # train the last N epochs on unmixed images


@dataclass(frozen=True)
class ScheduleConfig:
    lr_start: float = 5e-6
    lr_max_per_sample: float = 1.25e-6  # peak = this x replicas x per-replica batch
    lr_min: float = 1e-6
    ramp_epochs: int = 5
    sustain_epochs: int = 0
    decay: float = 0.8
    kind: str = "ramp_decay"  # "ramp_decay" (reference) or "cosine" (after the same ramp)
    optimizer: str = "adam"  # "adam" (reference) or "adamw"
    weight_decay: float = 0.0  # decoupled weight decay of adamw


@dataclass(frozen=True)
class TrainConfig:
    folds: int = 5
    fold_seed: int = 42
    epochs: int = 12
    batch_size: int = 32  # per replica
    tta: int = 11
    submit: str = "tta"  # predictions submitted: "tta", "plain", or "auto" (higher OOF AUC)
    fold_weights: tuple[float, ...] = ()  # empty: 1 / folds each
    shuffle_buffer: int = 2048
    cache: bool = True  # in memory when the shards fit in half the free memory (see log)
    mixed_precision: bool = False  # bfloat16 on TPU/GPU
    jit_compile: bool = False  # forced off on CPU, where XLA is slower
    tensorboard: bool = True
    verbose: int = 1


@dataclass(frozen=True)
class PseudoConfig:
    """Pseudo-labelling rounds: confident test predictions join the training of a new round."""

    rounds: int = 0  # rounds after the first run; 0: off
    positive_threshold: float = 0.9  # test predictions at or above: label 1
    negative_threshold: float = 0.02  # test predictions at or below: label 0


@dataclass(frozen=True)
class DedopplerConfig:
    max_drift: float = 1.0  # channels per time step; at most 1 / time_binning when binning
    time_binning: int = 1  # sum this many time steps before the tree (4: ~5x faster)
    bandpass_window: int = 17  # channels of the median filter that flattens the bandpass; 0: off
    clip_sigma: float = 6.0  # pixels above bandpass + this x robust sigma are clipped; 0: off
    edge_channels: int = 64  # tracks entering the band from up to this many channels outside
    # blank RFI whose core is lit in every OFF scan before the search (as the search_maps
    # layout does): AUC up, recall at 1% FPR down on the setigen train split; see the README
    blank_off_lit: bool = False
    snr_threshold: float = 7.0  # ON hits; this and the next chosen on the setigen train split
    off_snr_threshold: float = 8.0  # OFF hits that veto (whole-band turboSETI window: > noise)
    hit_window: int = 8  # channels; hits are local maxima within +-window
    top_hits: int = 8  # per scan, kept for cadence scoring
    off_tolerance: int = 4  # channels of slack around a predicted place (narrow veto window)
    veto_window: str = "turboseti"  # OFF veto / ON follow ranges: "turboseti" or "narrow"
    min_drift: float = 0.0  # ON hits need |drift| >= this, channels per step (0: zero drift too)
    score: str = "snr"  # cadence ranking: "snr", "on_scans" or "combined"
    veto_drift_tolerance: float = 0.03  # vetoed cadences: OFF hits this close in drift (ch/step)
    veto_weight: float = 3.0  # ... count this many times their S/N against the ON hit's
    veto_distance: float = 10.0  # ... and OFF hits of any drift by exp(-channels apart / this)
    veto_drift_reach: float = 60.0  # ... same-drift OFF hits count fully this many channels away
    contrast_window: int = 10  # no ON hit: rank by ON S/N - best OFF S/N within +-this (channels)
    filter_level: int = 3  # 0: rank by score alone; 1-3: turboSETI's find_event levels
    workers: int = 2


@dataclass(frozen=True)
class ObservationsConfig:
    """De-Doppler search of filterbank files, in the files' own units (turboSETI's defaults)."""

    max_drift_hz: float = 4.0  # largest |drift|, Hz/s
    snr_threshold: float = 10.0
    off_snr_threshold: float = 6.0
    coarse_channels: int = 0  # 0: from the header (nfpc, else 2^20 fine channels each)
    bandpass_window: int = 0  # 0: bandpass left alone, as turboSETI
    noise: str = "mad"  # S/N scale: "mad" (1.4826 MAD) or "turboseti"
    filter_level: int = 3  # events written by dedoppler-cadence: this level and above
    veto_window: str = "turboseti"  # OFF veto / ON follow ranges: "turboseti" or "narrow"
    min_drift_hz: float = 1e-5  # hits need |drift| >= this, Hz/s (turboSETI's; 0: zero drift too)
    blank_dc: bool = True  # replace each coarse channel's centre (DC spike) by its neighbours' mean
    chunk_channels: int = 2**20  # one coarse channel: files without nfpc are read in such chunks


@dataclass(frozen=True)
class MeasureConfig:
    """How detectors are measured: evaluate, blend and the run report."""

    fpr: float = 0.01  # false-positive rate on haystack cadences for the recall figures
    recall_bins: int = 6  # quantile bins of S/N and drift in the recall tables
    blend_samples: int = 2000  # random simplex weights tried per blend, besides the vertices


@dataclass(frozen=True)
class ScanConfig:
    """``setibl scan``: files cut into the model's windows, searched by both detectors, the
    work split into units of one cadence x ``coarse_per_unit`` coarse channels."""

    window_overlap: int = 32  # channels shared by neighbouring windows (edge needles)
    coarse_per_unit: int = 4  # coarse channels per unit of work (resume granularity)
    cnn_threshold: float = 0.5  # windows scoring this without a classical event are candidates
    batch_size: int = 64  # windows per model call
    backend: str = "processes"  # serial | processes | ray
    workers: int = 2
    ray_address: str = ""  # "": an embedded local Ray; else the cluster to join
    stamps: int = 10  # top candidates drawn (six scans each) into OUT/report.html; 0: no report
    # |drift| below this is dropped by the scan's search (observations.min_drift_hz is
    # turboSETI's 1e-5 for dedoppler-file/-cadence): at mid resolution one drift step is ~10
    # Hz/s, so slow needles come out at drift 0 and turboSETI's rule would lose them
    min_drift_hz: float = 0.0
    # GPUs (a fraction shares one) each unit asks Ray for when it scores windows with a model
    # (backend "ray" only; 0: CPU). Units of a classical-only scan never ask for one.
    gpus_per_unit: float = 0.0


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)
    dedoppler: DedopplerConfig = field(default_factory=DedopplerConfig)
    observations: ObservationsConfig = field(default_factory=ObservationsConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)

    @property
    def cadence_shape(self) -> tuple[int, int, int]:
        """(scans, time steps, channels) of one cadence snippet."""
        return (self.data.scans, self.data.height, self.data.width)

    def fold_weight_list(self) -> list[float]:
        """Weights of each fold's test predictions (default 1 / folds)."""
        if not self.train.fold_weights:
            return [1.0 / self.train.folds] * self.train.folds
        return list(self.train.fold_weights)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation; return it in the field's type."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, list | tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], key) for v in value)
            if len(value) == len(args):
                return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    elif origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"config key '{key}': expected {name}, got {value!r}")


def _section_types(section_cls: type) -> dict[str, Any]:
    return typing.get_type_hints(section_cls)


def config_from_dict(data: dict[str, Any], base: Config | None = None) -> Config:
    """Build a Config from nested ``{section: {key: value}}``; unknown keys are errors."""
    base = base or Config()
    sections = {f.name: f for f in dataclasses.fields(Config)}
    updates: dict[str, Any] = {}
    for section_name, values in data.items():
        if section_name not in sections:
            known = ", ".join(sections)
            raise ConfigError(f"unknown config section '{section_name}' (known: {known})")
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{section_name}' must be a table")
        current = getattr(base, section_name)
        hints = _section_types(type(current))
        changes = {}
        for key, value in values.items():
            full = f"{section_name}.{key}"
            if key not in hints:
                raise ConfigError(f"unknown config key '{full}' (known: {', '.join(hints)})")
            changes[key] = _coerce(value, hints[key], full)
        updates[section_name] = dataclasses.replace(current, **changes)
    config = dataclasses.replace(base, **updates)
    validate_config(config)
    return config


def _parse_override_value(text: str) -> Any:
    """TOML literal if it parses as one (numbers, booleans, arrays, quoted strings), else str."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(override: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` into its parts."""
    if "=" not in override:
        raise ConfigError(f"override '{override}' is not of the form section.key=value")
    path, text = override.split("=", 1)
    parts = path.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"override '{override}': key must be section.key")
    return parts[0], parts[1], _parse_override_value(text.strip())


def apply_overrides(config: Config, overrides: typing.Iterable[str]) -> Config:
    nested: dict[str, dict[str, Any]] = {}
    for override in overrides:
        section, key, value = parse_override(override)
        nested.setdefault(section, {})[key] = value
    return config_from_dict(nested, base=config) if nested else config


def load_config(
    path: str | os.PathLike | None = None, overrides: typing.Iterable[str] = ()
) -> Config:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides``."""
    config = Config()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
        try:
            config = config_from_dict(data, base=config)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    return apply_overrides(config, overrides)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def config_to_toml(config: Config) -> str:
    """The fully resolved config as TOML; ``load_config`` of it gives ``config`` back."""
    lines: list[str] = []
    for section in dataclasses.fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config atomically."""
    from setibl.io import atomic_write_text

    return atomic_write_text(Path(path), config_to_toml(config))


CONFIGS_DIR = Path(__file__).resolve().parent / "configs"  # shipped with the package


def bundled_configs() -> list[str]:
    """Names of the configs shipped with the package (``seed``, ``demo``, ...)."""
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.toml"))


def find_config(name: str) -> Path:
    """Path of a config shipped with the package, by name (``seed``, ``demo``)."""
    candidate = CONFIGS_DIR / f"{name}.toml"
    if not candidate.is_file():
        raise ConfigError(f"bundled config {name!r}: not found; shipped: {bundled_configs()}")
    return candidate
