import numpy as np
import pytest

from setibl.config import ModelConfig
from setibl.errors import ConfigError
from setibl.learned.models import (
    GeMPooling,
    build_model,
    compile_model,
    get_backbone,
    list_backbones,
)


def test_registry_lists_the_backbones():
    names = list_backbones()
    for name in [
        "efficientnet_b0",
        "efficientnet_b6",
        "efficientnet_b7",
        "efficientnetv2_s",
        "efficientnetv2_b3",
        "resnet50v2",
        "xception",
        "inception_v3",
        "small_cnn",
    ]:
        assert name in names


def test_unknown_backbone_lists_known():
    with pytest.raises(ValueError, match="efficientnet_b0"):
        get_backbone("alexnet")


@pytest.mark.parametrize("channels", [1, 3, 6])
def test_small_cnn_any_channel_count(channels):
    model = build_model(ModelConfig(backbone="small_cnn", weights="none"), (64, 48, channels))
    out = model.predict(np.random.randn(2, 64, 48, channels).astype("float32"), verbose=0)
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("channels", [1, 6])
def test_efficientnet_with_channel_adapter(channels):
    model = build_model(ModelConfig(backbone="efficientnet_b0", weights="none"), (64, 64, channels))
    adapter = model.get_layer("channel_adapter")
    kernel = adapter.get_weights()[0][0, 0]
    assert kernel.shape == (channels, 3)
    np.testing.assert_allclose(kernel.sum(axis=0), 1.0 if channels > 3 else channels / channels)
    assert model.output_shape == (None, 1)


def test_head_layers_and_compile():
    config = ModelConfig(backbone="efficientnet_b0", weights="none", head_dropout=0.2)
    model = build_model(config, (64, 64, 3))
    assert model.get_layer("head_dense").units == 32
    assert model.get_layer("pool").__class__.__name__ == "GlobalAveragePooling2D"
    compile_model(model, config, 1e-3)
    assert model.loss.label_smoothing == pytest.approx(0.01)
    history = model.fit(
        np.random.randn(8, 64, 64, 3).astype("float32"),
        np.array([0, 1] * 4, "float32"),
        epochs=1,
        verbose=0,
    )
    assert "auc" in history.history


def test_unavailable_imagenet_weights_say_so(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(keras.applications, "EfficientNetB0", offline)
    with pytest.raises(RuntimeError, match="ImageNet weights.*model.weights = 'none'"):
        build_model(ModelConfig(backbone="efficientnet_b0", weights="imagenet"), (64, 64, 3))


def test_config_knows_every_backbone_by_name():
    from setibl.config_rules import BACKBONE_NAMES

    assert sorted(BACKBONE_NAMES) == list_backbones()


@pytest.mark.parametrize("name", list_backbones())
def test_registry_metadata(name):
    """Every backbone says what it takes; the ImageNet flag and the channel count hold."""
    backbone = get_backbone(name)
    assert backbone.preprocessing in ("builtin", "tf", "z")
    assert backbone.channels in (0, 3) and (backbone.min_size >= 16 or backbone.rows > 0)
    assert backbone.imagenet == (backbone.preprocessing != "z")
    if not backbone.imagenet:
        with pytest.raises(ValueError, match="no ImageNet weights"):
            build_model(ModelConfig(backbone=name, weights="imagenet"), (64, 64, 3))


def test_search_map_rows_compress_snr_and_keep_drifts():
    from setibl.learned.models import SearchMapRows

    maps = np.zeros((1, 2, 5, 2), "float32")
    maps[0, 0, :, 0] = [-50.0, 0.0, 3.0, 100.0, 5000.0]  # S/N of scan 0 along frequency
    maps[0, 1, :, 0] = [-1.0, -0.5, 0.0, 0.5, 1.0]  # its drifts
    rows = np.asarray(SearchMapRows()(maps))
    assert rows.shape == (1, 5, 4)  # (width, S/N of 2 scans then drifts of 2 scans)
    expected = np.arcsinh(np.clip(maps[0, 0, :, 0], -5.0, 100.0) / 3.0)
    np.testing.assert_allclose(rows[0, :, 0], expected, rtol=1e-6)
    np.testing.assert_array_equal(rows[0, :, 2], maps[0, 1, :, 0])
    assert rows[0, 3, 0] == rows[0, 4, 0]  # S/N 5000 counts as 100


def test_map_cnn_reads_two_rows_of_search_maps():
    config = ModelConfig(backbone="map_cnn", weights="none")
    model = build_model(config, (2, 384, 6))
    maps = np.zeros((2, 2, 384, 6), "float32")
    maps[1, 0, 100, 2] = 40.0  # an ON track of S/N 40
    out = model.predict(maps, verbose=0)
    assert out.shape == (2, 1) and out[0, 0] != out[1, 0]
    with pytest.raises(ConfigError, match="exactly 2 rows"):
        build_model(config, (64, 64, 6))


LIGHT_BACKBONES = [
    "small_cnn",
    "small_cnn_full",
    "efficientnet_b0",
    "efficientnetv2_b0",
    "xception",
]


@pytest.mark.parametrize("name", LIGHT_BACKBONES)
@pytest.mark.parametrize("channels", [1, 6])
def test_any_channel_count_at_the_smallest_size(name, channels):
    """The channel adapter appears exactly when the backbone wants another channel count."""
    backbone = get_backbone(name)
    size = max(backbone.min_size, 64)
    model = build_model(ModelConfig(backbone=name, weights="none"), (size, size, channels))
    names = [layer.name for layer in model.layers]
    assert ("channel_adapter" in names) == (backbone.channels not in (0, channels))
    assert model.output_shape == (None, 1)


def test_model_level_resize():
    config = ModelConfig(backbone="efficientnet_b0", weights="none", resize=(96, 64))
    model = build_model(config, (819 // 8, 256 // 8, 1))
    assert model.input_shape == (None, 102, 32, 1)
    assert model.get_layer("resize").output.shape[1:] == (96, 64, 1)
    out = model.predict(np.random.randn(2, 102, 32, 1).astype("float32"), verbose=0)
    assert out.shape == (2, 1)


def _features(seed=0):
    # positive, as after a ReLU/Swish-like activation
    return np.random.default_rng(seed).uniform(0.1, 5.0, (3, 4, 5, 7)).astype("float32")


def test_gem_with_p_one_is_average_pooling():
    x = _features()
    pooled = GeMPooling(p=1.0)(x)
    np.testing.assert_allclose(pooled, x.mean(axis=(1, 2)), rtol=1e-5)


def test_gem_p_learned_below_one_acts_as_one():
    """Training may push p down; the layer never uses p < 1 (1/p would blow up at 0)."""
    x = _features()
    layer = GeMPooling(p=3.0)
    layer(x)
    layer.p.assign(np.full(layer.p.shape, 0.01, "float32"))
    np.testing.assert_allclose(layer(x), x.mean(axis=(1, 2)), rtol=1e-5)


def test_gem_with_large_p_approaches_max_pooling():
    x = _features()
    maximum = x.max(axis=(1, 2))
    errors = [np.abs(np.asarray(GeMPooling(p=p)(x)) - maximum).max() for p in (3.0, 20.0, 80.0)]
    assert errors[0] > errors[1] > errors[2]
    np.testing.assert_allclose(GeMPooling(p=80.0)(x), maximum, rtol=0.05)
    assert np.all(np.asarray(GeMPooling(p=3.0)(x)) <= maximum + 1e-5)


def test_gem_exponent_is_learned_and_saved(tmp_path):
    config = ModelConfig(backbone="small_cnn", weights="none", pooling="gem", gem_p=2.5)
    model = build_model(config, (64, 48, 3))
    pool = model.get_layer("pool")
    assert isinstance(pool, GeMPooling) and float(pool.p.numpy()) == pytest.approx(2.5)
    assert any(w is pool.p for w in model.trainable_weights)
    compile_model(model, config, 1e-2)
    model.fit(
        np.random.randn(8, 64, 48, 3).astype("float32"), np.array([0, 1] * 4, "float32"), verbose=0
    )
    model.save(tmp_path / "m.keras")
    import keras

    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(loaded.get_layer("pool").p.numpy()) == pytest.approx(float(pool.p.numpy()))


@pytest.mark.parametrize(
    ("pooling", "kind"), [("avg", "GlobalAveragePooling2D"), ("max", "GlobalMaxPooling2D")]
)
def test_pooling_choice(pooling, kind):
    model = build_model(
        ModelConfig(backbone="small_cnn", weights="none", pooling=pooling), (64, 48, 3)
    )
    assert model.get_layer("pool").__class__.__name__ == kind


def test_small_cnn_full_keeps_every_row():
    pooled = build_model(ModelConfig(backbone="small_cnn", weights="none"), (128, 64, 6))
    full = build_model(ModelConfig(backbone="small_cnn_full", weights="none"), (128, 64, 6))
    first = [layer for layer in full.get_layer("small_cnn_full").layers][1]
    assert first.__class__.__name__ == "Conv2D"
    assert "AveragePooling2D" in [
        layer.__class__.__name__ for layer in pooled.get_layer("small_cnn").layers
    ]


def test_an_input_smaller_than_the_backbone_takes_names_the_key():
    from setibl.errors import ConfigError

    config = ModelConfig(backbone="xception", weights="none", resize=(32, 32))
    with pytest.raises(ConfigError, match=r"'model.resize': xception takes .* at least 71 x 71"):
        build_model(config, (64, 64, 3))
