"""Backbone registry and the one generic head: backbone -> pool -> Dense(32, relu) -> Dense(1).

The pool is global average (reference), global max, or GeM (generalised mean with a learned
exponent p: p = 1 is the average, p -> infinity the maximum). An optional Resizing layer in
front brings images to a configured size inside the model (``model.resize``).

Inputs are z-scored cadence images (height, width, channels). Keras backbones expect pixel
values, so a Rescaling layer maps ``z -> z * input_scale + input_offset`` (about 0..255 for
|z| < 4) and, for backbones whose ImageNet preprocessing is not built in (ResNetV2, Xception,
Inception), on to [-1, 1]. Images with other than three channels pass through a learned 1x1
convolution to three channels first, initialised to average channel groups (channel i feeds
output i mod 3; one channel is copied to all three), so ImageNet stems keep their meaning.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from setibl.config import ModelConfig, ScheduleConfig
from setibl.errors import ConfigError
from setibl.learned.losses import make_loss
from setibl.learned.schedule import make_optimizer


@dataclass(frozen=True)
class Backbone:
    name: str
    build: Callable[..., keras.Model]
    # "builtin": the model rescales 0..255 itself; "tf": wants [-1, 1]; "z": takes z-scores
    preprocessing: str
    channels: int = 3  # input channels the backbone takes; 0: any (no channel adapter)
    imagenet: bool = True  # ImageNet weights are available
    min_size: int = 32  # smallest input height/width the architecture accepts
    rows: int = 0  # the exact input height it reads (map_cnn: S/N and drift rows); 0: any


@keras.saving.register_keras_serializable(package="setibl")
class GeMPooling(keras.layers.Layer):
    """Generalised-mean pooling over height and width: ``(mean(max(x, eps)^p))^(1/p)``.

    [batch, h, w, c] -> [batch, c]. The exponent p is one learned scalar (started at ``p``).
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.initial_p, self.eps = float(p), float(eps)

    def build(self, input_shape):
        self.p = self.add_weight(
            name="p", shape=(), initializer=keras.initializers.Constant(self.initial_p)
        )

    def call(self, inputs):
        ops = keras.ops
        p = ops.cast(ops.maximum(self.p, 1.0), inputs.dtype)  # learned p stays >= 1: 1/p bounded
        x = ops.maximum(inputs, ops.cast(self.eps, inputs.dtype))
        # computed relative to the largest value, m (mean((x / m)^p))^(1/p): the same number,
        # but x^p cannot overflow for large p or large features (nor in float16)
        peak = ops.stop_gradient(ops.max(x, axis=(1, 2), keepdims=True))
        relative = ops.mean(ops.power(x / peak, p), axis=(1, 2))
        return ops.squeeze(peak, axis=(1, 2)) * ops.power(relative, 1.0 / p)

    def get_config(self) -> dict:
        return {**super().get_config(), "p": self.initial_p, "eps": self.eps}


def _application(factory_name: str) -> Callable[..., keras.Model]:
    def build(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
        factory = getattr(keras.applications, factory_name)
        return factory(include_top=False, weights=weights, input_shape=input_shape)

    return build


def _no_imagenet(name: str, weights: str | None) -> None:
    """Our own small backbones start fresh or from a weights file, never from ImageNet."""
    if weights not in (None, "none") and not str(weights).endswith(".h5"):
        raise ConfigError(
            f"config key 'model.weights': {name} has no ImageNet weights; set it to 'none'"
        )


def _small_cnn(
    input_shape: tuple[int, int, int], weights: str | None, time_pooling: bool = True
) -> keras.Model:
    """A line detector small enough to train at ~100 images/s on a 2-core CPU.

    Averaging 4 time steps first keeps every frequency channel (needles are narrow) and
    raises per-pixel S/N; drifts below 0.25 channel/step move less than a channel meanwhile.
    Tall kernels follow lines along time. The features end in a global *max* pool, returned
    as a 1x1 map: a needle covers a sliver of the image, and averaging would drown it (the
    generic head's average pool then passes the 1x1 map through unchanged).
    ``time_pooling=False`` (``small_cnn_full``) keeps every row: for drift-plane layouts, whose
    rows are drift rates and whose peaks are one or two rows tall.
    """
    _no_imagenet("small_cnn", weights)
    inputs = keras.Input(input_shape)
    pool = time_pooling and input_shape[0] >= 64
    x = keras.layers.AveragePooling2D((4, 1))(inputs) if pool else inputs
    for filters, kernel, strides in (
        (32, (5, 3), (2, 1)),
        (32, (5, 3), (2, 2)),
        (64, (3, 3), (2, 2)),
        (64, (3, 3), (2, 2)),
    ):
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        # momentum 0.9: a demo trains for ~100 steps, too few for the default 0.99 averages
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalMaxPooling2D(keepdims=True)(x)
    model = keras.Model(inputs, x, name="small_cnn" if time_pooling else "small_cnn_full")
    if weights not in (None, "none"):
        model.load_weights(weights)
    return model


@keras.saving.register_keras_serializable(package="setibl")
class SearchMapRows(keras.layers.Layer):
    """[batch, 2, W, C] search maps (row 0 S/N, row 1 drift) -> [batch, W, 2C]: asinh(S/N / 3)
    with S/N clipped to [-5, 100] (noise keeps its scale, S/N 300 lines stop dwarfing S/N 8
    needles), then the drifts as they are (channels per step, within +-1)."""

    def call(self, maps):
        snr = keras.ops.arcsinh(keras.ops.clip(maps[:, 0], -5.0, 100.0) / 3.0)
        return keras.ops.concatenate([snr, maps[:, 1]], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], 2 * input_shape[3])


def _map_cnn(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """A 1-D CNN along frequency over the search maps (layout ``search_maps``), 53k weights.

    Dilated convolutions (1, 2, 4, 8) reach +-31 channels: an ON track and the OFF tracks that
    would veto it (RFI wandering tens of channels between scans) are seen together; scans are
    channels, so every filter compares the six scans at once. Ends in a global max pool over
    frequency as a 1x1 map (a needle is one place in the band).
    """
    _no_imagenet("map_cnn", weights)
    inputs = keras.Input(input_shape)
    x = SearchMapRows()(inputs)
    for filters, kernel, dilation in ((32, 5, 1), (32, 5, 2), (64, 5, 4), (64, 5, 8), (64, 3, 1)):
        x = keras.layers.Conv1D(
            filters, kernel, dilation_rate=dilation, padding="same", use_bias=False
        )(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Reshape((1, 1, -1))(x)
    model = keras.Model(inputs, x, name="map_cnn")
    if weights not in (None, "none"):
        model.load_weights(weights)
    return model


BACKBONES: dict[str, Backbone] = {}
for _i in range(8):
    BACKBONES[f"efficientnet_b{_i}"] = Backbone(
        f"efficientnet_b{_i}", _application(f"EfficientNetB{_i}"), "builtin"
    )
for _suffix in ("B0", "B1", "B2", "B3", "S"):
    BACKBONES[f"efficientnetv2_{_suffix.lower()}"] = Backbone(
        f"efficientnetv2_{_suffix.lower()}", _application(f"EfficientNetV2{_suffix}"), "builtin"
    )
BACKBONES["resnet50v2"] = Backbone("resnet50v2", _application("ResNet50V2"), "tf")
BACKBONES["xception"] = Backbone("xception", _application("Xception"), "tf", min_size=71)
BACKBONES["inception_v3"] = Backbone("inception_v3", _application("InceptionV3"), "tf", min_size=75)
BACKBONES["small_cnn"] = Backbone(
    "small_cnn", _small_cnn, "z", channels=0, imagenet=False, min_size=16
)
BACKBONES["small_cnn_full"] = Backbone(
    "small_cnn_full",
    functools.partial(_small_cnn, time_pooling=False),
    "z",
    channels=0,
    imagenet=False,
    min_size=16,
)

BACKBONES["map_cnn"] = Backbone(
    "map_cnn", _map_cnn, "z", channels=0, imagenet=False, min_size=2, rows=2
)


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(list_backbones())
        raise ValueError(f"unknown backbone {name!r}; known: {known}") from None


def _channel_adapter(channels: int) -> keras.layers.Conv2D:
    kernel = np.zeros((1, 1, channels, 3), np.float32)
    if channels >= 3:
        for i in range(channels):
            kernel[0, 0, i, i % 3] = 1.0
        kernel /= kernel.sum(axis=2, keepdims=True)
    else:
        for j in range(3):
            kernel[0, 0, j % channels, j] = 1.0
    return keras.layers.Conv2D(
        3,
        1,
        name="channel_adapter",
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer="zeros",
    )


def _pooling(config: ModelConfig) -> keras.layers.Layer:
    if config.pooling == "gem":
        return GeMPooling(config.gem_p, name="pool")
    if config.pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="pool")
    return keras.layers.GlobalAveragePooling2D(name="pool")


def _weights_argument(weights: str) -> str | None:
    return None if weights.lower() in ("none", "") else weights


def build_model(config: ModelConfig, input_shape: tuple[int, int, int]) -> keras.Model:
    """Backbone + head as one Keras model mapping images to P(needle), shape [batch, 1]."""
    backbone = get_backbone(config.backbone)
    weights = _weights_argument(config.weights)
    if weights == "imagenet" and not backbone.imagenet:
        raise ConfigError(
            f"config key 'model.weights': {config.backbone} has no ImageNet weights; set "
            "model.weights = 'none' or a file"
        )
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    backbone_shape = input_shape
    if config.resize:
        # antialiased, like records.resize: shrinking stacked scans must not skip rows
        x = keras.layers.Resizing(
            *config.resize, interpolation="bilinear", antialias=True, name="resize"
        )(x)
        backbone_shape = (*config.resize, input_shape[-1])
    if backbone.rows and backbone_shape[0] != backbone.rows:
        raise ConfigError(
            f"config key 'model.backbone': {config.backbone} reads images of exactly "
            f"{backbone.rows} rows (records.layout 'search_maps'), got {backbone_shape[0]}"
        )
    if min(backbone_shape[:2]) < backbone.min_size:
        raise ConfigError(
            f"config key 'model.resize': {config.backbone} takes images of at least "
            f"{backbone.min_size} x {backbone.min_size}, got {backbone_shape[0]} x "
            f"{backbone_shape[1]} (resize them, or choose another backbone)"
        )
    if backbone.channels and backbone_shape[-1] != backbone.channels:
        x = _channel_adapter(backbone_shape[-1])(x)
        backbone_shape = (*backbone_shape[:2], backbone.channels)
    if backbone.preprocessing != "z":
        x = keras.layers.Rescaling(config.input_scale, config.input_offset, name="to_pixels")(x)
        if backbone.preprocessing == "tf":
            x = keras.layers.Rescaling(1 / 127.5, -1.0, name="to_unit_range")(x)
    try:
        features = backbone.build(backbone_shape, weights)
    except Exception as err:  # keras raises many kinds for a failed download
        if weights == "imagenet":
            raise RuntimeError(
                f"could not get ImageNet weights for {config.backbone} ({err}). Without "
                "internet access set model.weights = 'none' or the path of a weights file."
            ) from err
        raise
    x = features(x)
    x = _pooling(config)(x)
    if config.head_dropout > 0:
        x = keras.layers.Dropout(config.head_dropout, name="head_dropout")(x)
    x = keras.layers.Dense(config.head_units, activation="relu", name="head_dense")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="needle")(x)
    return keras.Model(inputs, outputs, name=f"setibl_{config.backbone}")


def compile_model(
    model: keras.Model,
    config: ModelConfig,
    learning_rate: float,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    schedule: ScheduleConfig | None = None,
) -> keras.Model:
    """Optimizer (reference: Adam), loss (reference: BCE with label smoothing), AUC metric
    (named ``auc``)."""
    model.compile(
        optimizer=make_optimizer(schedule or ScheduleConfig(), learning_rate),
        loss=make_loss(config),
        metrics=[keras.metrics.AUC(name="auc")],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
