"""Encoders from ``keras.applications`` for the U-Net and UNet++ decoders (ImageNet-pretrained or not).

One table says, per family, which constructor builds it, which layers are its
stride-2..16 feature maps (the stride-32 map is the model's own output) and
which input normalisation its weights expect. Images stay in [0, 1] in the data
pipeline; :class:`EncoderPreprocessing` inside the model does the rest, so a
saved model, a SavedModel and ``hecl predict`` take the same [0, 1] images as
every other backbone.

``encoder_weights``: ``"imagenet"`` downloads the weights on first use into
``$KERAS_HOME/models`` (default ``~/.keras/models``); a file path loads a
``.weights.h5`` saved from the same ``keras.applications`` constructor with
``include_top=False``; ``None`` starts from random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers, ops

# ImageNet statistics, RGB.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="hecl_keras")
class EncoderPreprocessing(layers.Layer):
    """Maps [0, 1] RGB images to what an ImageNet encoder's weights expect. (B,H,W,3) -> (B,H,W,3) float32.

    Modes (``keras.applications`` conventions):
        ``"caffe"``: x 255, RGB -> BGR, minus the ImageNet mean (ResNet).
        ``"torch"``: minus the mean, over the standard deviation, in [0, 1] units (DenseNet).
        ``"x255"``: x 255 only; the model normalises inside itself (EfficientNet, EfficientNetV2, ConvNeXt).
    """

    MODES = ("caffe", "torch", "x255")

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.mode == "torch":
            return (x - ops.convert_to_tensor(_TORCH_MEAN)) / ops.convert_to_tensor(_TORCH_STD)
        x = x * 255.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclass(frozen=True)
class EncoderFamily:
    """One row of the table: ``constructor`` (a ``keras.applications`` name), the layers giving the
    stride 2, 4, 8, 16 maps (``None``: the family has none at that stride) and the preprocessing mode."""

    constructor: str
    taps: tuple
    preprocessing: str


_EFFICIENTNET_TAPS = ("block2a_expand_activation", "block3a_expand_activation", "block4a_expand_activation",
                      "block6a_expand_activation")

ENCODERS = {
    "resnet50": EncoderFamily("ResNet50", ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out"),
                              "caffe"),
    "resnet101": EncoderFamily("ResNet101", ("conv1_relu", "conv2_block3_out", "conv3_block4_out",
                                             "conv4_block23_out"), "caffe"),
    "densenet121": EncoderFamily("DenseNet121", ("conv1_relu", "pool2_relu", "pool3_relu", "pool4_relu"), "torch"),
    **{f"efficientnetb{i}": EncoderFamily(f"EfficientNetB{i}", _EFFICIENTNET_TAPS, "x255") for i in range(5)},
    "efficientnetv2s": EncoderFamily("EfficientNetV2S", ("block1b_add", "block2d_add", "block4a_expand_activation",
                                                         "block6a_expand_activation"), "x255"),
    # ConvNeXt's stem is a stride-4 patchify: no stride-2 map (the decoder makes one from the stride-1 stem).
    "convnext_tiny": EncoderFamily("ConvNeXtTiny", (None, "convnext_tiny_stage_0_block_2_identity",
                                                    "convnext_tiny_stage_1_block_2_identity",
                                                    "convnext_tiny_stage_2_block_8_identity"), "x255"),
}

ENCODER_STRIDE = 32


def check_encoder(name):
    if name not in ENCODERS:
        raise ValueError(f"Unknown encoder {name!r}. Available: {', '.join(sorted(ENCODERS))}")
    return ENCODERS[name]


def build_encoder(name, weights=None, freeze=False):
    """The feature extractor of an ``keras.applications`` family, as one nested model named ``encoder``.

    Args:
        name: a key of ``ENCODERS``.
        weights: ``"imagenet"``, a ``.weights.h5`` path, or None (random).
        freeze: bool. ``encoder.trainable = False`` (its BatchNorms then run in inference mode).

    Returns:
        ``(encoder, preprocessing)``: ``encoder`` maps preprocessed (B,H,W,3) to the list of its maps at
        strides 2, 4, 8, 16 (those that exist, in that order) and 32; ``preprocessing`` is the
        :class:`EncoderPreprocessing` layer to put in front of it. H and W must be multiples of 32.
    """
    family = check_encoder(name)
    constructor = getattr(keras.applications, family.constructor)
    path = None
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise ValueError(f"encoder_weights: {path} is not a file; give 'imagenet', a .weights.h5 path or None.")
        weights = None
    app = constructor(include_top=False, weights=weights, input_shape=(None, None, 3))
    if path is not None:
        try:
            app.load_weights(path)
        except (ValueError, KeyError, OSError) as exc:
            raise ValueError(f"encoder_weights: {path} does not hold {family.constructor} weights "
                             f"(include_top=False): {exc}") from exc
    maps = [app.get_layer(tap).output for tap in family.taps if tap is not None] + [app.output]
    encoder = keras.Model(app.input, maps, name="encoder")
    encoder.trainable = not freeze
    return encoder, EncoderPreprocessing(family.preprocessing, name="encoder_preprocessing")
