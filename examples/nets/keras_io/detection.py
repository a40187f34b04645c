"""RetinaNet: a feature pyramid whose levels are sums of lateral paths, and heads drawn
at the author's RandomNormal(0, 0.01) with a focal-loss prior bias."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .common import Built, _images

# ---------------------------------------------------------------------------------------
# examples/vision/retinanet.py


def get_backbone():
    """Stands in for the example's ResNet50 (``keras.applications.ResNet50``, imagenet
    weights, outputs ``conv3_block4_out``, ``conv4_block6_out``, ``conv5_block3_out``):
    strided ReLU convs with the same strides, 8, 16 and 32, at the three outputs."""
    inputs = keras.Input(shape=[None, None, 3])
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    c3_output = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    c4_output = layers.Conv2D(24, 3, strides=2, padding="same", activation="relu")(c3_output)
    c5_output = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(c4_output)
    return keras.Model(inputs=[inputs], outputs=[c3_output, c4_output, c5_output])


class FeaturePyramid(keras.layers.Layer):
    """Builds the Feature Pyramid with the feature maps from the backbone.

    Attributes:
      num_classes: Number of classes in the dataset.
      backbone: The backbone to build the feature pyramid from.
        Currently supports ResNet50 only.
    """

    def __init__(self, backbone=None, filters=256, **kwargs):
        super().__init__(name="FeaturePyramid", **kwargs)
        self.backbone = backbone if backbone else get_backbone()
        self.conv_c3_1x1 = keras.layers.Conv2D(filters, 1, 1, "same")
        self.conv_c4_1x1 = keras.layers.Conv2D(filters, 1, 1, "same")
        self.conv_c5_1x1 = keras.layers.Conv2D(filters, 1, 1, "same")
        self.conv_c3_3x3 = keras.layers.Conv2D(filters, 3, 1, "same")
        self.conv_c4_3x3 = keras.layers.Conv2D(filters, 3, 1, "same")
        self.conv_c5_3x3 = keras.layers.Conv2D(filters, 3, 1, "same")
        self.conv_c6_3x3 = keras.layers.Conv2D(filters, 3, 2, "same")
        self.conv_c7_3x3 = keras.layers.Conv2D(filters, 3, 2, "same")
        self.upsample_2x = keras.layers.UpSampling2D(2)

    def call(self, images, training=False):
        c3_output, c4_output, c5_output = self.backbone(images, training=training)
        p3_output = self.conv_c3_1x1(c3_output)
        p4_output = self.conv_c4_1x1(c4_output)
        p5_output = self.conv_c5_1x1(c5_output)
        p4_output = p4_output + self.upsample_2x(p5_output)
        p3_output = p3_output + self.upsample_2x(p4_output)
        p3_output = self.conv_c3_3x3(p3_output)
        p4_output = self.conv_c4_3x3(p4_output)
        p5_output = self.conv_c5_3x3(p5_output)
        p6_output = self.conv_c6_3x3(c5_output)
        p7_output = self.conv_c7_3x3(ops.relu(p6_output))
        return p3_output, p4_output, p5_output, p6_output, p7_output


def build_head(output_filters, bias_init, filters=256):
    """Builds the class/box predictions head.

    Arguments:
      output_filters: Number of convolution filters in the final layer.
      bias_init: Bias Initializer for the final convolution layer.

    Returns:
      A keras sequential model representing either the classification
        or the box regression head depending on `output_filters`.
    """
    head = keras.Sequential([keras.Input(shape=[None, None, filters])])
    kernel_init = keras.initializers.RandomNormal(0.0, 0.01)
    for _ in range(4):
        head.add(keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=kernel_init))
        head.add(keras.layers.ReLU())
    head.add(
        keras.layers.Conv2D(
            output_filters,
            3,
            1,
            padding="same",
            kernel_initializer=kernel_init,
            bias_initializer=bias_init,
        )
    )
    return head


class RetinaNet(keras.Model):
    """A subclassed model implementing the RetinaNet architecture.

    Attributes:
      num_classes: Number of classes in the dataset.
      backbone: The backbone to build the feature pyramid from.
        Currently supports ResNet50 only.
    """

    def __init__(self, num_classes, backbone=None, filters=256, **kwargs):
        super().__init__(name="RetinaNet", **kwargs)
        self.fpn = FeaturePyramid(backbone, filters=filters)
        self.num_classes = num_classes

        prior_probability = keras.initializers.Constant(-np.log((1 - 0.01) / 0.01))
        self.cls_head = build_head(9 * num_classes, prior_probability, filters=filters)
        self.box_head = build_head(9 * 4, "zeros", filters=filters)

    def call(self, image, training=False):
        features = self.fpn(image, training=training)
        N = ops.shape(image)[0]
        cls_outputs = []
        box_outputs = []
        for feature in features:
            box_outputs.append(ops.reshape(self.box_head(feature), [N, -1, 4]))
            cls_outputs.append(ops.reshape(self.cls_head(feature), [N, -1, self.num_classes]))
        cls_outputs = ops.concatenate(cls_outputs, axis=1)
        box_outputs = ops.concatenate(box_outputs, axis=1)
        return ops.concatenate([box_outputs, cls_outputs], axis=-1)


def retinanet() -> Built:
    """examples/vision/retinanet.py: ``RetinaNet(keras.Model)`` with its
    ``FeaturePyramid`` layer (``p4 = conv_c4_1x1(c4) + upsample_2x(p5)``, ``p3 =
    conv_c3_1x1(c3) + upsample_2x(p4)``: sums of two lateral paths, not residuals; the
    un-summed ``p5`` also goes on to ``conv_c5_3x3``) and the two heads of
    ``build_head``: four ReLU convs and an output conv, all drawn from one shared
    ``RandomNormal(0.0, 0.01)``, the classification head's bias at the focal loss'
    prior ``-log((1 - 0.01) / 0.01)``. Adapted: the ResNet50 backbone is replaced by
    five strided ReLU convs with the same output strides (``get_backbone``); 64x64
    images (the example: random crops of COCO up to 1333 pixels), the pyramid and heads
    256 -> 16 filters, 80 -> 2 classes; ``tf.*`` ops rewritten with ``keras.ops``."""
    model = RetinaNet(num_classes=2, filters=16)
    make_inputs = _images((64, 64, 3))
    model(make_inputs(2))
    return Built(model, make_inputs)
