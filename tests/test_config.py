import dataclasses
import subprocess
import sys

import pytest

from setibl.config import (
    Config,
    ConfigError,
    apply_overrides,
    bundled_configs,
    config_to_toml,
    find_config,
    load_config,
    save_config,
)
from setibl.config_rules import layout_companions


def test_seed_toml_equals_defaults():
    assert load_config(find_config("seed")) == Config()


def test_defaults_are_the_reference_recipe():
    config = Config()
    assert (config.data.height, config.data.width) == (273, 256)
    assert config.data.on_scans == (0, 2, 4)
    assert config.records.train_shards == 20 and config.records.test_shards == 10
    assert config.records.layout == "on3" and config.records.encoding == "float16"
    assert config.augment.shear_deg == 2.0 and config.augment.rotation_deg == 0.0
    assert config.augment.zoom_sigma == 1 / 8 and config.augment.shift_px == 8.0
    assert config.augment.saturation == (0.7, 1.3) and config.augment.contrast == (0.8, 1.2)
    assert config.augment.brightness == 0.1
    assert (config.augment.dropout_prob, config.augment.dropout_count) == (0.5, 8)
    assert config.augment.dropout_size == 0.05
    assert config.model.backbone == "efficientnet_b6" and config.model.weights == "imagenet"
    assert config.model.head_units == 32 and config.model.label_smoothing == 0.01
    schedule = config.schedule
    assert (schedule.lr_start, schedule.lr_max_per_sample, schedule.lr_min) == (5e-6, 1.25e-6, 1e-6)
    assert (schedule.ramp_epochs, schedule.sustain_epochs, schedule.decay) == (5, 0, 0.8)
    train = config.train
    assert (train.folds, train.fold_seed, train.epochs, train.batch_size, train.tta) == (
        5,
        42,
        12,
        32,
        11,
    )
    assert config.fold_weight_list() == [0.2] * 5
    assert config.run.seed == 42


def test_round_trip_through_toml(tmp_path):
    config = apply_overrides(
        Config(),
        [
            "train.epochs=3",
            "augment.saturation=[0.5, 1.5]",
            "model.backbone=small_cnn",
            "run.deterministic=true",
        ],
    )
    path = save_config(config, tmp_path / "config.toml")
    assert load_config(path) == config
    assert "epochs = 3" in config_to_toml(config)


def test_override_types():
    config = apply_overrides(
        Config(), ["schedule.lr_min=1", "train.fold_weights=[0.5, 0.5]", "train.folds=2"]
    )
    assert config.schedule.lr_min == 1.0 and isinstance(config.schedule.lr_min, float)
    assert config.train.fold_weights == (0.5, 0.5)
    assert dataclasses.is_dataclass(config)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.epochs=3.5", "train.epochs"),
        ("train.epochs=many", "train.epochs"),
        ("train.bogus=1", "train.bogus"),
        ("nosuch.key=1", "nosuch"),
        ("run.deterministic=1", "run.deterministic"),
        ("augment.saturation=[1.0]", "augment.saturation"),
        ("train.fold_weights=[1.0]", "train.fold_weights"),
        ("epochs=3", "section.key"),
        ("train.epochs", "section.key=value"),
    ],
)
def test_override_errors_name_the_key(override, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply_overrides(Config(), [override])


def test_unknown_key_in_file_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepocs = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*train\.epocs"):
        load_config(path)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().train.epochs = 1  # type: ignore[misc]


def test_every_shipped_config_is_valid():
    for name in bundled_configs():
        load_config(find_config(name))


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.epochs=-1", "train.epochs"),
        ("train.epochs=0", "train.epochs"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.tta=-2", "train.tta"),
        ("augment.dropout_size=5", "augment.dropout_size"),
        ("augment.dropout_size=0", "augment.dropout_size"),
        ("augment.dropout_prob=1.5", "augment.dropout_prob"),
        ("augment.saturation=[1.3, 0.7]", "augment.saturation"),
        ("augment.shift_px=-1", "augment.shift_px"),
        ("synth.snr_max=5", "synth.snr_max"),
        ("synth.rfi_fraction=2", "synth.rfi_fraction"),
        ("synth.partial_on_fraction=-0.1", "synth.partial_on_fraction"),
        ('synth.needle_kinds=["constant", "zigzag"]', "synth.needle_kinds"),
        ("synth.rfi_kinds=[]", "synth.rfi_kinds"),
        ("data.on_scans=[]", "data.on_scans"),
        ("data.on_scans=[0, 0, 2]", "data.on_scans"),
        ("data.on_scans=[0, 2, 6]", "data.on_scans"),
        ("records.train_shards=0", "records.train_shards"),
        ("records.workers=0", "records.workers"),
        ("model.head_dropout=1.0", "model.head_dropout"),
        ("schedule.decay=0", "schedule.decay"),
        ("dedoppler.top_hits=0", "dedoppler.top_hits"),
        ("dedoppler.clip_sigma=-1", "dedoppler.clip_sigma"),
        ("dedoppler.edge_channels=-1", "dedoppler.edge_channels"),
        ("dedoppler.edge_channels=100000", "dedoppler.edge_channels"),
        ("dedoppler.contrast_window=-2", "dedoppler.contrast_window"),
        ("observations.noise=gauss", "observations.noise"),
        ("train.verbose=3", "train.verbose"),
        ("scan.gpus_per_unit=-0.5", "scan.gpus_per_unit"),
        ("scan.gpus_per_unit=1.5", "scan.gpus_per_unit"),  # Ray: a fraction or whole GPUs
        # on Ray, where a GPU count is allowed at all: infinite or not a number is no count
        (('scan.backend="ray"', "scan.gpus_per_unit=inf"), "scan.gpus_per_unit"),
        (('scan.backend="ray"', "scan.gpus_per_unit=nan"), "scan.gpus_per_unit"),
        ("scan.gpus_per_unit=0.5", "scan.gpus_per_unit"),  # the default backend is processes
    ],
)
def test_out_of_range_values_name_the_key(override, named):
    overrides = [override] if isinstance(override, str) else list(override)
    with pytest.raises(ConfigError, match=f"'{named}'"):
        apply_overrides(Config(), overrides)


def test_gpus_per_unit_is_asked_of_ray_only():
    for gpus in (0.25, 1.0, 2.0):
        ray = apply_overrides(Config(), ['scan.backend="ray"', f"scan.gpus_per_unit={gpus}"])
        assert ray.scan.gpus_per_unit == gpus
    with pytest.raises(ConfigError, match="scan.gpus_per_unit.*'serial'.*--backend ray"):
        apply_overrides(Config(), ['scan.backend="serial"', "scan.gpus_per_unit=1"])


@pytest.mark.parametrize(
    ("key", "value", "known"),
    [("records.layout", '"on_of"', "on_off"), ("model.backbone", '"efficientnet_b9"', "small_cnn")],
)
def test_unknown_layout_or_backbone_fails_at_load_naming_the_known(key, value, known):
    with pytest.raises(ConfigError, match=rf"'{key}'.*{known}"):
        load_config(None, [f"{key}={value}"])


def test_search_maps_go_with_map_cnn_and_no_pixel_augmentation():
    maps = ['records.layout="search_maps"', 'model.backbone="map_cnn"', 'model.weights="none"']
    pixel_free = [f"augment.{key}=false" for key in ("affine", "flip_lr", "color", "dropout")]
    config = load_config(None, maps + pixel_free)
    assert config.records.layout == "search_maps" and config.model.backbone == "map_cnn"
    with pytest.raises(ConfigError, match="'model.backbone'.*map_cnn"):
        load_config(None, [maps[0], *pixel_free])  # the reference's EfficientNet on two rows
    with pytest.raises(ConfigError, match="'model.backbone'.*map_cnn"):
        load_config(None, ['model.backbone="map_cnn"', 'model.weights="none"'])
    # every pixel augmentation that is on is named at once
    with pytest.raises(ConfigError, match="'augment.affine', 'augment.flip_lr'.*'augment.dropout'"):
        load_config(None, maps)
    refused = {
        "mixup.enabled=true": "mixup.enabled",
        'records.encoding="png8"': "records.encoding",
        "records.resize=[64, 64]": "records.resize",
        "model.resize=[64, 64]": "model.resize",
    }
    for override, key in refused.items():
        with pytest.raises(ConfigError, match=f"'{key}'.*search_maps"):
            load_config(None, [*maps, *pixel_free, override])


def test_layouts_that_need_off_scans():
    layout = 'records.layout="on_off"'
    assert load_config(None, [layout]).data.on_scans == (0, 2, 4)
    with pytest.raises(ConfigError, match="'data.on_scans'.*OFF scan after every ON scan"):
        load_config(None, [layout, "data.on_scans=[0, 1, 4]"])
    with pytest.raises(ConfigError, match="'data.on_scans'.*OFF scan after every ON scan"):
        load_config(None, [layout, "data.on_scans=[1, 3, 5]"])
    with pytest.raises(ConfigError, match="'data.on_scans'.*OFF veto"):
        load_config(None, ["data.on_scans=[0, 1, 2, 3, 4, 5]"])
    load_config(None, ["data.on_scans=[0, 1, 2, 3, 4, 5]", "dedoppler.filter_level=0"])


def test_config_load_does_not_load_tensorflow():
    script = (
        "import sys; from setibl.config import load_config, find_config; "
        "load_config(find_config('demo'), ['model.backbone=map_cnn']); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (['model.pooling="sum"'], "model.pooling"),
        (['model.loss="hinge"'], "model.loss"),
        (["model.gem_p=0.5"], "model.gem_p"),
        (['mixup.label="and"'], "mixup.label"),
        (["mixup.off_last_epochs=13"], "mixup.off_last_epochs"),
        (["mixup.alpha=0"], "mixup.alpha"),
        (['schedule.kind="step"'], "schedule.kind"),
        (["schedule.weight_decay=0.01"], "schedule.weight_decay"),
        (["records.resize=[512]"], "records.resize"),
        (["model.resize=[4, 4]"], "model.resize"),
        (["pseudo.negative_threshold=0.95"], "pseudo.negative_threshold"),
        (["pseudo.rounds=-1"], "pseudo.rounds"),
    ],
)
def test_recipe_options_are_checked(overrides, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply_overrides(Config(), overrides)


def test_recipe_options_default_off():
    config = Config()
    assert config.records.layout == "on3" and config.records.resize == ()
    assert config.model.resize == () and config.model.pooling == "avg"
    assert config.model.loss == "bce" and not config.mixup.enabled
    assert not config.augment.scan_order and config.pseudo.rounds == 0
    assert (config.schedule.kind, config.schedule.optimizer) == ("ramp_decay", "adam")
    ok = apply_overrides(config, ['schedule.optimizer="adamw"', "schedule.weight_decay=0.01"])
    assert ok.schedule.weight_decay == 0.01


@pytest.mark.parametrize("name", ["seed", "demo", "cpu", "kaggle"])
def test_shipped_configs_load_and_open_with_their_promise(name):
    path = find_config(name)
    load_config(path)
    opening = path.read_text().split("\n\n")[0]
    assert all(line.startswith("#") for line in opening.splitlines())
    assert "Run: setibl" in opening and ("Expected" in opening or "Promise" in opening)


def test_recipe_configs_switch_the_options_on():
    cpu, kaggle = load_config(find_config("cpu")), load_config(find_config("kaggle"))
    assert cpu.augment.scan_order and cpu.records.layout == "search_maps"
    assert cpu.model.backbone == "map_cnn" and cpu.model.init == "default"
    assert kaggle.records.layout == "stack_on" and kaggle.model.resize == (512, 512)
    assert kaggle.model.pooling == "gem" and kaggle.pseudo.rounds == 1


def test_layout_companions_make_a_reference_config_fit_search_maps():
    layout = ['records.layout="search_maps"']
    with pytest.raises(ConfigError, match="model.backbone"):
        load_config(None, layout)
    config = load_config(None, [*layout_companions("search_maps"), *layout])
    assert config.model.backbone == "map_cnn" and not config.augment.affine
    assert not config.mixup.enabled and config.augment.scan_order is False  # untouched
    # an explicit override after the companions wins, and the rule names it
    with pytest.raises(ConfigError, match="augment.color"):
        load_config(None, [*layout_companions("search_maps"), "augment.color=true", *layout])
    assert layout_companions("on3") == ()
