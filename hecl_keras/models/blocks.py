"""Building blocks shared by every backbone (written once, used everywhere).

All blocks take and return channels-last tensors (B, H, W, C) of the Keras
functional API. ``name`` prefixes every layer so graphs stay readable.

BatchNorm uses momentum 0.9 (PyTorch's 0.1 update rate, which the HECL
authors' models had): Keras' default 0.99 leaves the moving statistics far
behind the weights in short CPU trainings, and validation collapses.
"""

from __future__ import annotations

import keras
from keras import layers, ops

BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="hecl_keras")
class BatchNorm(layers.BatchNormalization):
    """Keras ``BatchNormalization`` whose ``synchronized`` flag is a training setting, not part of the model.

    The trainer switches ``synchronized`` on under a tf.distribute strategy with
    several replicas (batch statistics over the global batch, so every worker
    keeps identical moving statistics); saved files always record ``False`` so
    they reload under any backend (JAX refuses ``synchronized=True``).
    """

    def get_config(self):
        return {**super().get_config(), "synchronized": False}


def batch_norm(name):
    return BatchNorm(momentum=BN_MOMENTUM, name=name)


def conv_bn_relu(x, filters, name, kernel_size=3, strides=1, dilation_rate=1):
    """Conv(k x k, no bias) -> BatchNorm -> ReLU. (B,H,W,C) -> (B,H/s,W/s,filters)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation_rate,
                      use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def double_conv(x, filters, name):
    """Two (conv3x3, BN, ReLU): the U-Net / UNet++ node. (B,H,W,C) -> (B,H,W,filters)."""
    x = conv_bn_relu(x, filters, f"{name}_1")
    return conv_bn_relu(x, filters, f"{name}_2")


def down(x, name):
    """2x2 max-pool. (B,H,W,C) -> (B,H/2,W/2,C)."""
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def up(x, name, factor=2):
    """Bilinear up-sampling by ``factor``. (B,H,W,C) -> (B,fH,fW,C)."""
    return BilinearUpsample(factor, name=f"{name}_up")(x)


def concat(tensors, name):
    return layers.Concatenate(axis=-1, name=f"{name}_cat")(list(tensors))


def residual_unit(x, filters, name, strides=1, preactivation=True, first=False):
    """Residual unit of ResUNet (Zhang et al. 2018) or ResNet (He et al. 2016).

    ``preactivation=True``: BN-ReLU-Conv x2 plus a (1x1 conv, BN) shortcut
    (ResUNet; ``first=True`` starts with a plain conv, as its first level does).
    ``preactivation=False``: Conv-BN-ReLU, Conv-BN, add, ReLU (ResNet basic block).
    (B,H,W,C) -> (B,H/strides,W/strides,filters).
    """
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_skip_conv")(x)
        shortcut = batch_norm(name=f"{name}_skip_bn")(shortcut)
    if preactivation:
        y = x
        if not first:
            y = batch_norm(name=f"{name}_bn1")(y)
            y = layers.ReLU(name=f"{name}_relu1")(y)
        y = layers.Conv2D(filters, 3, strides=strides, padding="same", name=f"{name}_conv1")(y)
        y = batch_norm(name=f"{name}_bn2")(y)
        y = layers.ReLU(name=f"{name}_relu2")(y)
        y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
        return layers.Add(name=f"{name}_add")([y, shortcut])
    y = conv_bn_relu(x, filters, f"{name}_a", strides=strides)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
    y = batch_norm(name=f"{name}_b_bn")(y)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu")(y)


def attention_gate(skip, gate, filters, name):
    """Additive attention gate (Oktay et al. 2018) on a skip connection.

    ``gate`` (coarser, B,H/2,W/2,Cg) is up-sampled to ``skip`` (B,H,W,Cs); both go
    through 1x1 convs, are added, ReLU, 1x1 conv to one channel, sigmoid; the
    skip is multiplied by that map. Returns (B,H,W,Cs).
    """
    g = up(gate, f"{name}_gate")
    theta = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_theta")(skip)
    phi = layers.Conv2D(filters, 1, name=f"{name}_phi")(g)
    a = layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")([theta, phi]))
    psi = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_psi")(a)
    return layers.Multiply(name=f"{name}_mul")([skip, psi])


def _resize_bilinear(x, height, width):
    """Bilinear resize that also works when H and W are unknown while tracing.

    ``keras.ops.image.resize`` needs Python ints for the size; Keras' TF
    predict function relaxes traced shapes to None after a few different tile
    sizes, so under TensorFlow the size is passed as a tensor instead.
    (Same kernel as ``UpSampling2D(interpolation="bilinear")``.)
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.image.resize(x, tf.stack([height, width]), method="bilinear")
    return ops.image.resize(x, (height, width), interpolation="bilinear")


def _dynamic_hw(x):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        shape = tf.shape(x)
        return shape[1], shape[2]
    return x.shape[1], x.shape[2]


@keras.saving.register_keras_serializable(package="hecl_keras")
class BilinearUpsample(layers.Layer):
    """Bilinear up-sampling by an integer factor; H and W may be dynamic. (B,H,W,C) -> (B,fH,fW,C)."""

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        h, w = _dynamic_hw(x)
        return _resize_bilinear(x, h * self.factor, w * self.factor)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] * f, None if s[2] is None else s[2] * f, s[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="hecl_keras")
class ResizeLike(layers.Layer):
    """Bilinear resize of ``inputs[0]`` to the spatial size of ``inputs[1]`` (sizes may be dynamic)."""

    def call(self, inputs):
        x, like = inputs
        return _resize_bilinear(x, *_dynamic_hw(like))

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        return (x[0], like[1], like[2], x[3])


def dense_atrous_block(x, name):
    """CE-Net's dense atrous convolution (DAC) block: four cascaded atrous branches, summed with the input."""
    c = x.shape[-1]
    relu = lambda t, n: layers.ReLU(name=f"{name}_{n}_relu")(t)  # noqa: E731
    conv = lambda t, k, d, n: layers.Conv2D(c, k, padding="same", dilation_rate=d, name=f"{name}_{n}")(t)  # noqa: E731
    b1 = relu(conv(x, 3, 1, "b1"), "b1")
    b2 = relu(conv(conv(x, 3, 3, "b2a"), 1, 1, "b2b"), "b2")
    b3 = relu(conv(conv(conv(x, 3, 1, "b3a"), 3, 3, "b3b"), 1, 1, "b3c"), "b3")
    b4 = relu(conv(conv(conv(conv(x, 3, 1, "b4a"), 3, 3, "b4b"), 3, 5, "b4c"), 1, 1, "b4d"), "b4")
    return layers.Add(name=f"{name}_add")([x, b1, b2, b3, b4])


def residual_multikernel_pooling(x, name, pool_sizes=(2, 3, 5, 6)):
    """CE-Net's residual multi-kernel pooling (RMP): pooled 1-channel maps up-sampled and concatenated to x.

    (B,H,W,C) -> (B,H,W,C+len(pool_sizes)).
    """
    branches = [x]
    for size in pool_sizes:
        p = layers.MaxPooling2D(size, strides=size, padding="same", name=f"{name}_pool{size}")(x)
        p = layers.Conv2D(1, 1, name=f"{name}_conv{size}")(p)
        branches.append(ResizeLike(name=f"{name}_resize{size}")([p, x]))
    return concat(branches, name)


def segmentation_outputs(features, extra_heads=()):
    """The two named outputs every backbone returns: ``logits`` (B,H,W,1) and ``features`` (B,H,W,C).

    With ``extra_heads`` (deep supervision: tensors (B,H,W,C_j)), the logits are the
    mean of a 1x1-conv head on ``features`` and one on each extra tensor.
    """
    if extra_heads:
        heads = [layers.Conv2D(1, 1, dtype="float32", name=f"head_{j}")(t) for j, t in enumerate(extra_heads)]
        heads.append(layers.Conv2D(1, 1, dtype="float32", name="head_final")(features))
        logits = layers.Average(dtype="float32", name="logits")(heads)
    else:
        logits = layers.Conv2D(1, 1, dtype="float32", name="logits")(features)
    feats = layers.Activation("linear", dtype="float32", name="features")(features)
    return {"logits": logits, "features": feats}
