import numpy as np
import pytest

from setibl.config import ModelConfig
from setibl.learned.models import build_model, compile_model, get_backbone, list_backbones


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
    from setibl.config import BACKBONE_NAMES

    assert sorted(BACKBONE_NAMES) == list_backbones()
