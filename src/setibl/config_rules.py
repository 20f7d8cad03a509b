"""The rules a config must keep, checked when it loads: ranges, types the annotations cannot
express, known names (layouts, backbones, kinds) and rules that tie several keys together.
Every error names the key, the rule and the value."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from setibl.errors import ConfigError

if TYPE_CHECKING:  # annotations only: config imports this module
    from setibl.config import Config, ScanConfig

# Names of the layout and backbone registries (setibl.learned.layouts / .models, whose tests
# check they agree), here so a config is checked at load without loading TensorFlow.
LAYOUT_NAMES: tuple[str, ...] = (
    "on3",
    "all6",
    "on_off",
    "stack",
    "stack_on",
    "drift6",
    "search_maps",
)
# The S/N scales the classical searches offer (setibl.classical.spectra.noise_level).
NOISE_STATISTICS: tuple[str, ...] = ("mad", "turboseti")
BACKBONE_NAMES: tuple[str, ...] = (
    *(f"efficientnet_b{i}" for i in range(8)),
    *(f"efficientnetv2_{s}" for s in ("b0", "b1", "b2", "b3", "s")),
    "resnet50v2",
    "xception",
    "inception_v3",
    "small_cnn",
    "small_cnn_full",
    "map_cnn",
)


def validate_config(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    train = config.train
    if train.folds < 2:
        raise ConfigError("config key 'train.folds': need at least 2 folds")
    if train.fold_weights and len(train.fold_weights) != train.folds:
        raise ConfigError(
            f"config key 'train.fold_weights': {len(train.fold_weights)} weights for "
            f"{train.folds} folds"
        )
    if config.records.encoding not in ("float16", "png8"):
        raise ConfigError("config key 'records.encoding': must be 'float16' or 'png8'")
    if any(not 0 <= s < config.data.scans for s in config.data.on_scans):
        raise ConfigError("config key 'data.on_scans': scan index out of range")
    paths = ("constant", "sine", "squiggle", "steep")
    if not config.synth.needle_kinds or set(config.synth.needle_kinds) - set(paths):
        raise ConfigError(f"config key 'synth.needle_kinds': kinds among {paths}")
    rfi = (*paths, "broadband", "stationary", "drifting")
    if not config.synth.rfi_kinds or set(config.synth.rfi_kinds) - set(rfi):
        raise ConfigError(f"config key 'synth.rfi_kinds': kinds among {rfi}")
    if not 0.0 <= config.synth.needle_fraction <= 1.0:
        raise ConfigError("config key 'synth.needle_fraction': must lie in [0, 1]")
    binning = config.dedoppler.time_binning
    if binning < 1 or (binning > 1 and config.dedoppler.max_drift * binning > 1.0 + 1e-9):
        raise ConfigError(
            "config keys 'dedoppler.max_drift' x 'dedoppler.time_binning' must "
            "not exceed 1 (channel per binned time row) when binning"
        )
    if config.dedoppler.max_drift < 0:
        raise ConfigError("config key 'dedoppler.max_drift': must not be negative")
    if config.train.submit not in ("tta", "plain", "auto"):
        raise ConfigError("config key 'train.submit': must be 'tta', 'plain' or 'auto'")
    if config.dedoppler.filter_level not in (0, 1, 2, 3):
        raise ConfigError("config key 'dedoppler.filter_level': must be 0, 1, 2 or 3")
    if not 0.0 < config.measure.fpr < 1.0:
        raise ConfigError(f"config key 'measure.fpr': must lie in (0, 1), got {config.measure.fpr}")
    if config.measure.recall_bins < 1 or config.measure.blend_samples < 0:
        raise ConfigError("config keys 'measure.recall_bins' >= 1, 'measure.blend_samples' >= 0")
    if config.dedoppler.bandpass_window < 0:
        raise ConfigError("config key 'dedoppler.bandpass_window': must be 0 (off) or more")
    for section in ("dedoppler", "observations"):
        window = getattr(config, section).veto_window
        if window not in ("turboseti", "narrow"):
            raise ConfigError(
                f"config key '{section}.veto_window': must be 'turboseti' or 'narrow', "
                f"got {window!r}"
            )
    veto = config.dedoppler
    if (
        min(veto.veto_drift_tolerance, veto.veto_weight, veto.veto_distance, veto.veto_drift_reach)
        < 0
    ):
        raise ConfigError(
            "config keys 'dedoppler.veto_drift_tolerance', 'veto_weight', 'veto_distance' and "
            f"'veto_drift_reach': must not be negative, got {veto.veto_drift_tolerance}, "
            f"{veto.veto_weight}, {veto.veto_distance}, {veto.veto_drift_reach}"
        )
    if config.dedoppler.score not in ("snr", "on_scans", "combined"):
        raise ConfigError(
            "config key 'dedoppler.score': must be 'snr', 'on_scans' or 'combined', "
            f"got {config.dedoppler.score!r}"
        )
    if config.dedoppler.min_drift < 0 or config.observations.min_drift_hz < 0:
        raise ConfigError("config keys 'dedoppler.min_drift', 'observations.min_drift_hz': >= 0")
    if config.observations.chunk_channels < 2:
        raise ConfigError("config key 'observations.chunk_channels': must be at least 2")
    _validate_ranges(config)
    _validate_scan(config.scan)
    _validate_recipe(config)
    _validate_search_maps(config)


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': must {rule}, got {value!r}")


def _check_each(config: Config, checks: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    """``{"section.key": (predicate, rule)}``: raise for the first value that fails."""
    for key, (predicate, rule) in checks.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        _require(predicate(value), key, rule, value)


def _positive(value: float) -> bool:
    return value > 0


def _not_negative(value: float) -> bool:
    return value >= 0


def _fraction(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _ordered_pair(value: tuple[float, float]) -> bool:
    return 0.0 <= value[0] <= value[1]


def _validate_ranges(config: Config) -> None:
    """Ranges of single values, then the rules that tie several together."""
    positive, not_negative = (_positive, "be > 0"), (_not_negative, "be >= 0")
    fraction = (_fraction, "lie in [0, 1]")
    _check_each(
        config,
        {
            "run.seed": not_negative,
            "data.scans": positive,
            "data.height": positive,
            "data.width": positive,
            "data.load_workers": positive,
            "synth.n_train": not_negative,
            "synth.n_test": not_negative,
            "synth.needle_fraction": fraction,
            "synth.rfi_fraction": fraction,
            "synth.rfi_count_max": positive,
            "synth.rfi_level_spread": (lambda v: 0.0 <= v <= 2.0, "lie in [0, 2]"),
            "synth.rfi_hop_fraction": fraction,
            "synth.rfi_hop_max_ch": (lambda v: v >= 1.0, "be >= 1"),
            "synth.partial_on_fraction": fraction,
            "synth.df_hz": positive,
            "synth.dt_s": positive,
            "synth.gap_steps": not_negative,
            "synth.snr_min": positive,
            "synth.drift_max": not_negative,
            "synth.steep_drift_max": not_negative,
            "synth.width_min_hz": positive,
            "synth.noise_dof": positive,
            "synth.bandpass_ripple": (lambda v: 0.0 <= v < 1.0, "lie in [0, 1)"),
            "synth.bandpass_jitter": (lambda v: 0.0 <= v < 1.0, "lie in [0, 1)"),
            "records.layout": (lambda v: v in LAYOUT_NAMES, f"be one of {LAYOUT_NAMES}"),
            "records.train_shards": positive,
            "records.test_shards": positive,
            "records.workers": positive,
            "augment.rotation_deg": not_negative,
            "augment.shear_deg": not_negative,
            "augment.zoom_sigma": not_negative,
            "augment.shift_px": not_negative,
            "augment.saturation": (_ordered_pair, "be [low, high] with 0 <= low <= high"),
            "augment.contrast": (_ordered_pair, "be [low, high] with 0 <= low <= high"),
            "augment.brightness": not_negative,
            "augment.dropout_prob": fraction,
            "augment.dropout_count": not_negative,
            "augment.dropout_size": (
                lambda v: 0.0 < v <= 1.0,
                "lie in (0, 1] (a fraction of the smaller image side)",
            ),
            "model.backbone": (lambda v: v in BACKBONE_NAMES, f"be one of {BACKBONE_NAMES}"),
            "model.head_units": positive,
            "model.head_dropout": (lambda v: 0.0 <= v < 1.0, "lie in [0, 1)"),
            "model.label_smoothing": fraction,
            "model.input_scale": positive,
            "schedule.lr_start": not_negative,
            "schedule.lr_max_per_sample": positive,
            "schedule.lr_min": not_negative,
            "schedule.ramp_epochs": not_negative,
            "schedule.sustain_epochs": not_negative,
            "schedule.decay": (lambda v: 0.0 < v <= 1.0, "lie in (0, 1]"),
            "train.epochs": positive,
            "train.batch_size": positive,
            "train.tta": not_negative,
            "train.fold_weights": (lambda v: all(w >= 0 for w in v), "hold weights >= 0"),
            "train.shuffle_buffer": positive,
            "train.verbose": (lambda v: v in (0, 1, 2), "be 0, 1 or 2"),
            "dedoppler.snr_threshold": positive,
            "dedoppler.off_snr_threshold": positive,
            "dedoppler.hit_window": not_negative,
            "dedoppler.top_hits": positive,
            "dedoppler.off_tolerance": not_negative,
            "dedoppler.clip_sigma": not_negative,
            "dedoppler.edge_channels": (lambda v: 0 <= v <= 1024, "lie in [0, 1024]"),
            "dedoppler.contrast_window": not_negative,
            "dedoppler.workers": positive,
            "observations.max_drift_hz": not_negative,
            "observations.snr_threshold": positive,
            "observations.off_snr_threshold": positive,
            "observations.coarse_channels": not_negative,
            "observations.bandpass_window": not_negative,
            "observations.noise": (lambda v: v in NOISE_STATISTICS, "be 'mad' or 'turboseti'"),
            "observations.filter_level": (lambda v: v in (1, 2, 3), "be 1, 2 or 3"),
        },
    )
    synth, data = config.synth, config.data
    _require(
        synth.snr_min <= synth.snr_max,
        "synth.snr_max",
        f"be >= snr_min {synth.snr_min}",
        synth.snr_max,
    )
    _require(
        synth.width_min_hz <= synth.width_max_hz,
        "synth.width_max_hz",
        f"be >= width_min_hz {synth.width_min_hz}",
        synth.width_max_hz,
    )
    on = data.on_scans
    _require(
        len(on) > 0 and len(set(on)) == len(on),
        "data.on_scans",
        "be a non-empty list of distinct scan indices",
        list(on),
    )
    off = [s for s in range(data.scans) if s not in on]
    if config.records.layout == "on_off":
        _require(
            all(s + 1 < data.scans and s + 1 not in on for s in on),
            "data.on_scans",
            f"have an OFF scan after every ON scan for records.layout 'on_off' "
            f"({data.scans} scans)",
            list(on),
        )
    if config.dedoppler.filter_level > 0:
        _require(
            bool(off),
            "data.on_scans",
            "leave OFF scans for dedoppler.filter_level > 0 (the OFF veto)",
            list(on),
        )


def _validate_scan(scan: ScanConfig) -> None:
    if scan.window_overlap < 0:
        raise ConfigError(
            f"config key 'scan.window_overlap': must be >= 0, got {scan.window_overlap}"
        )
    if scan.coarse_per_unit < 1:
        raise ConfigError(
            f"config key 'scan.coarse_per_unit': must be >= 1, got {scan.coarse_per_unit}"
        )
    if not 0.0 <= scan.cnn_threshold <= 1.0:
        raise ConfigError(
            f"config key 'scan.cnn_threshold': must lie in [0, 1], got {scan.cnn_threshold}"
        )
    if scan.min_drift_hz < 0:
        raise ConfigError(f"config key 'scan.min_drift_hz': must be >= 0, got {scan.min_drift_hz}")
    if scan.stamps < 0:
        raise ConfigError(f"config key 'scan.stamps': must be >= 0, got {scan.stamps}")
    for key in ("batch_size", "workers"):
        if getattr(scan, key) < 1:
            raise ConfigError(f"config key 'scan.{key}': must be >= 1, got {getattr(scan, key)}")
    if scan.backend not in ("serial", "processes", "ray"):
        raise ConfigError(
            f"config key 'scan.backend': expected serial, processes or ray, got {scan.backend!r}"
        )
    gpus = scan.gpus_per_unit
    if not valid_gpu_count(gpus):
        raise ConfigError(
            f"config key 'scan.gpus_per_unit': must be a finite number >= 0, a fraction below 1 "
            f"or a whole number (Ray's rule), got {gpus}"
        )
    if gpus and scan.backend != "ray":
        raise ConfigError(
            f"config key 'scan.gpus_per_unit': {gpus} GPU(s) are asked of Ray, but scan.backend "
            f"is {scan.backend!r}; use --backend ray, or 0 (serial and processes workers use "
            "whatever GPUs TensorFlow sees)"
        )


def valid_gpu_count(gpus: float) -> bool:
    """Whether Ray can ask for ``gpus`` GPUs per task: finite, >= 0, below 1 or whole."""
    return math.isfinite(gpus) and gpus >= 0 and (gpus <= 1 or float(gpus).is_integer())


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"config key '{key}': must be one of {choices}, got {value!r}")


def _validate_recipe(config: Config) -> None:
    """Checks of the recipe options (resizing, pooling, loss, mixup, schedule, pseudo)."""
    sizes = {"records.resize": config.records.resize, "model.resize": config.model.resize}
    for key, size in sizes.items():
        if size and (len(size) != 2 or min(size) < 8):
            raise ConfigError(f"config key '{key}': must be [] or [height, width] >= 8, got {size}")
    model, mixup, schedule, pseudo = config.model, config.mixup, config.schedule, config.pseudo
    _choice("model.pooling", model.pooling, ("avg", "max", "gem"))
    _choice("model.loss", model.loss, ("bce", "focal"))
    _choice("mixup.label", mixup.label, ("or", "blend"))
    _choice("schedule.kind", schedule.kind, ("ramp_decay", "cosine"))
    _choice("schedule.optimizer", schedule.optimizer, ("adam", "adamw"))
    if not model.init:
        raise ConfigError("config key 'model.init': 'none', 'default', a run folder or a file")
    if model.init != "none" and model.weights == "imagenet":
        raise ConfigError(
            f"config key 'model.init': {model.init!r} replaces the backbone's ImageNet weights; "
            "set model.weights = 'none'"
        )
    if model.gem_p < 1.0:
        raise ConfigError(f"config key 'model.gem_p': must be at least 1, got {model.gem_p}")
    if model.focal_gamma < 0:
        raise ConfigError("config key 'model.focal_gamma': must not be negative")
    if mixup.alpha <= 0 or not 0.0 <= mixup.prob <= 1.0:
        raise ConfigError("config keys 'mixup.alpha' > 0 and 'mixup.prob' in [0, 1] required")
    if not 0 <= mixup.off_last_epochs <= config.train.epochs:
        raise ConfigError("config key 'mixup.off_last_epochs': must lie in [0, train.epochs]")
    if schedule.weight_decay < 0 or (schedule.weight_decay > 0 and schedule.optimizer != "adamw"):
        raise ConfigError(
            "config key 'schedule.weight_decay': must be 0, or positive with optimizer 'adamw'"
        )
    if pseudo.rounds < 0:
        raise ConfigError("config key 'pseudo.rounds': must not be negative")
    if not 0.0 <= pseudo.negative_threshold < pseudo.positive_threshold <= 1.0:
        raise ConfigError(
            "config keys 'pseudo.negative_threshold' < 'pseudo.positive_threshold' within [0, 1] "
            f"required, got {pseudo.negative_threshold} and {pseudo.positive_threshold}"
        )


SEARCH_MAPS_OFF = ("augment.affine", "augment.flip_lr", "augment.color", "augment.dropout")


def layout_companions(layout: str) -> tuple[str, ...]:
    """``--set`` overrides that a layout's rules require of other sections and that do not
    change the records (search_maps: its backbone, which has no ImageNet weights, no model-level
    resize, no pixel augmentation, no mixup); none for the pixel layouts. Lets a command that
    only writes records (``setibl shard --layout``) take the layout from any config."""
    if layout != "search_maps":
        return ()
    return (
        'model.backbone="map_cnn"',
        'model.weights="none"',
        "model.resize=[]",
        *(f"{key}=false" for key in SEARCH_MAPS_OFF),
        "mixup.enabled=false",
    )


def _validate_search_maps(config: Config) -> None:
    """``search_maps`` rows are S/N and drift per track, not pixels: they go with ``map_cnn``
    only, stay float16 and unresized, and take no pixel augmentation and no mixup (a blend of
    two S/N maps is not the map of blended data, and an averaged drift means nothing)."""
    maps = config.records.layout == "search_maps"
    _require(
        maps == (config.model.backbone == "map_cnn"),
        "model.backbone",
        "be 'map_cnn' exactly when records.layout is 'search_maps' (it reads the search's "
        "S/N and drift rows)",
        config.model.backbone,
    )
    if not maps:
        return
    on = [key for key in SEARCH_MAPS_OFF if getattr(config.augment, key.split(".")[1])]
    if config.mixup.enabled:
        on.append("mixup.enabled")
    if on:
        raise ConfigError(
            f"config key{'s' if len(on) > 1 else ''} {', '.join(repr(k) for k in on)}: must be "
            "false for records.layout 'search_maps' (its rows are S/N and drift per track, "
            "not pixels; scan_order applies)"
        )
    _require(
        config.records.encoding == "float16",
        "records.encoding",
        "be 'float16' for records.layout 'search_maps' (8 bits over S/N and drift together "
        "lose the drift and faint needles)",
        config.records.encoding,
    )
    for key in ("records.resize", "model.resize"):
        size = getattr(config, key.split(".")[0]).resize
        _require(not size, key, "be [] for records.layout 'search_maps'", list(size))
