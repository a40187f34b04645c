"""A corpus of real model code that nobody on this project wrote: the official Keras
examples (github.com/keras-team/keras-io, ``examples/...``), adapted only so far as
needed to build without data and in well under a second on CPU.

What is kept: each example's class structure, call signatures (``training`` arguments
with or without a default, ``mask=None``, ``call`` returning two tensors), the way
sublayers are assigned (in ``__init__``, in ``build``, inside ``keras.Sequential``, as
nested functional models called twice), and its ops, rewritten with ``keras.ops``
where the example used ``tf.*`` so that every model builds on TensorFlow, JAX and
PyTorch. What is changed: sizes (images 16x16, one or two blocks, widths of
8 to 32), data-dependent preprocessing (``Normalization.adapt``, ``TextVectorization``,
augmentation that needs ``adapt``) dropped with a comment, and helper names prefixed
where two examples define the same name (``mlp``, ``PatchExtract``...). Each builder's
docstring names its source file and what was adapted.

Each builder returns a ``Built`` (``common``): the BUILT model, ``make_inputs(batch,
seed)`` giving a small numpy input batch (N(0, 1) floats, or token ids for text models),
and ``forward(model, x)``, the inference pass to measure (``model(x, training=False)``
unless the model has no ``call`` of its own, as the VAE and the GAN). ``CORPUS`` maps a
name to its builder; ``tests/test_corpus.py`` checks ``keras_glorot.initialize`` on each.

The examples live by family: ``conv`` (ConvMixer, involution, U-Net), ``mixers``
(MLP-Mixer, FNet, gMLP), ``swin``, ``vit_like`` (CCT, EANet), ``sequence`` (text and
time-series transformers, miniature GPT, translation, bidirectional LSTM),
``generative`` (VAE, DCGAN), ``perceiver_image`` (not ``perceiver``, which names the
builder), ``styles`` (three residual-subclass styles).

Patterns where a reader of the model can do harm: ``diffusion`` (DDPM's U-Net with its
near-zero ``kernel_init(0.0)``, and its training wrapper holding two tied copies),
``detection`` (RetinaNet: sums of lateral paths, heads at ``RandomNormal(0, 0.01)``),
``attention_extra`` (CaiT, whose call does not trace, and attention-based MIL),
``activity_loss`` (``add_loss`` in ``call``), ``autoregressive`` (PixelCNN's masked
convolutions), ``metric_learning`` (the Siamese contrastive net).

Four of them also come at a size to train on CIFAR-10, as the zoo's nets are built
(``build(inputs, x)``, ``x`` the normalized and augmented pixels, 10 linear logits):
``conv.convmixer_cifar``, ``vit_like.cct_cifar``, ``mixers.mlp_mixer_cifar`` and
``perceiver_image.perceiver_cifar``, each reusing its example's own code; ``CIFAR``
maps a name to its builder. The step budget: one training step at batch 128 within 80 ms
on TensorFlow on two CPU cores, which sets how far each is scaled down from its example
(its docstring says what was kept and what was scaled).

Importing this package imports Keras; ``nets`` does not import it.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from .activity_loss import add_loss_mlp
from .attention_extra import attention_mil, cait
from .autoregressive import pixelcnn
from .common import Built, default_forward
from .conv import convmixer, convmixer_cifar, involution, unet_segmenter
from .detection import retinanet
from .diffusion import ddpm_ema, ddpm_unet
from .generative import dcgan, vae
from .metric_learning import siamese_contrastive
from .mixers import fnet, gmlp, mlp_mixer, mlp_mixer_cifar
from .perceiver_image import perceiver, perceiver_cifar
from .sequence import (
    bidirectional_lstm,
    miniature_gpt,
    nmt_transformer,
    text_transformer,
    timeseries_transformer,
)
from .styles import resnet_training_positional, rezero_mlp, unused_head
from .swin import swin_transformer
from .vit_like import cct, cct_cifar, eanet

CORPUS: dict[str, Callable[[], Built]] = {
    "convmixer": convmixer,
    "mlp_mixer": mlp_mixer,
    "fnet": fnet,
    "gmlp": gmlp,
    "swin_transformer": swin_transformer,
    "cct": cct,
    "eanet": eanet,
    "involution": involution,
    "unet_segmenter": unet_segmenter,
    "text_transformer": text_transformer,
    "timeseries_transformer": timeseries_transformer,
    "miniature_gpt": miniature_gpt,
    "nmt_transformer": nmt_transformer,
    "vae": vae,
    "dcgan": dcgan,
    "bidirectional_lstm": bidirectional_lstm,
    "perceiver": perceiver,
    "resnet_training_positional": resnet_training_positional,
    "rezero_mlp": rezero_mlp,
    "unused_head": unused_head,
    "ddpm_unet": ddpm_unet,
    "ddpm_ema": ddpm_ema,
    "retinanet": retinanet,
    "cait": cait,
    "add_loss_mlp": add_loss_mlp,
    "pixelcnn": pixelcnn,
    "siamese_contrastive": siamese_contrastive,
    "attention_mil": attention_mil,
}

# Builders of a CIFAR-10 net, called as the zoo's: build(inputs, x) -> keras.Model.
CIFAR: dict[str, Callable[..., keras.Model]] = {
    "convmixer_cifar": convmixer_cifar,
    "cct_cifar": cct_cifar,
    "mlp_mixer_cifar": mlp_mixer_cifar,
    "perceiver_cifar": perceiver_cifar,
}

__all__ = ["CIFAR", "CORPUS", "Built", "default_forward"]
