"""The ``images`` input of every backbone, with the size check."""

from __future__ import annotations

import math

import keras


def check_input_size(height, width, stride, model_name="model"):
    """Raises ValueError when a known H or W is not a multiple of ``stride``; says which size to pad to."""
    for label, value in (("height", height), ("width", width)):
        if value is not None and (value < stride or value % stride):
            padded = max(stride, math.ceil(value / stride) * stride)
            raise ValueError(
                f"{model_name} needs input height and width that are multiples of {stride} "
                f"(its output stride). Received: {label}={value}; pad or crop it to {padded}."
            )


def images_input(input_shape, stride, model_name):
    """A named ``images`` input (B, H, W, 3); H and W may be None (any multiple of ``stride``)."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape}")
    check_input_size(input_shape[0], input_shape[1], stride, model_name)
    return keras.Input(shape=input_shape, name="images")
