"""Every net the studies train, in one package: each study draws its nets from here.

- ``nets.zoo``: the zoo's nets (``ZOO``, in ``GROUPS``: thirteen kinds of net, the
  transformers deeper and longer, four Keras examples), each
  with its recipe and its one alternative start (``start``), trained by ``zoo.py``;
- ``nets.norm_free``: the deep nets without normalization (CIFAR ResNets and plain CNNs)
  of ``depth.py`` and ``norm_free_resnet.py``, their initializers and signal measures;
- ``nets.vgg``: VGG for 32x32 inputs, of ``cifar10_vgg.py``, the zoo and the article;
- ``nets.article``: the nets, initializers and losses of ``article_tables.py``;
- ``nets.augment``: the pad-crop-flip augmentation layer the image nets share;
- ``nets.keras_io``: the official Keras examples, shrunk (``CORPUS``, which
  ``tests/test_corpus.py`` initializes).

Importing ``nets``, ``nets.zoo`` or ``nets.norm_free`` imports neither Keras nor NumPy
(every builder imports them when called), so that a command line can check its
``--nets`` against ``ZOO`` before it loads a backend. ``nets.vgg``, ``nets.article``,
``nets.augment`` and ``nets.keras_io`` import Keras (so ``nets`` does not import them).
"""

from .norm_free import (
    KERAS_INITS,
    LEAKY_SLOPE,
    NUM_CLASSES,
    POLICIES,
    apply_init,
    build_net,
    plain_cnn,
    resnet,
    signal_at_init,
    split_net,
)
from .zoo import (
    ALTERNATIVES,
    FAN_IN,
    GROUPS,
    LABELS,
    ON_REQUEST,
    ONLY,
    REDRAWN,
    STARTS,
    UNIFORM,
    VARIANTS,
    WITHOUT,
    ZOO,
    Net,
    Recipe,
    build_zoo_net,
    start,
    starts_of,
)

__all__ = [
    "ALTERNATIVES", "FAN_IN", "GROUPS", "KERAS_INITS", "LABELS", "LEAKY_SLOPE",
    "NUM_CLASSES", "ONLY", "ON_REQUEST", "POLICIES", "REDRAWN", "STARTS", "UNIFORM",
    "VARIANTS", "WITHOUT", "ZOO", "Net",
    "Recipe", "apply_init", "build_net", "build_zoo_net", "plain_cnn", "resnet",
    "signal_at_init", "split_net", "start", "starts_of",
]  # fmt: skip
