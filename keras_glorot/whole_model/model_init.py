"""Whole-model initialization: layer-aware Glorot (``initialize``).

An initializer sees only a shape. ``initialize`` looks at the whole model instead:
for every kernel it finds the activation that actually follows it (the layer's
own, or an activation layer after it, possibly behind normalization or dropout)
and the true fans of its layer kind (depthwise, grouped, transposed, einsum,
recurrent gates), re-draws it with ``Glorot`` and records the initializer in the
layer's config so that saving and ``clone_model`` reproduce the scheme.

Which kernels a layer has and their fans are decided in ``keras_glorot.whole_model.plans``;
residual merges are found and their branches scaled in ``keras_glorot.whole_model.residual``.
``keras_glorot.whole_model.unit_variance.lsuv`` is the data-driven alternative; it shares the
layer kinds, validators and seeds.
"""

from __future__ import annotations

import numbers

import keras

from keras_glorot.initializers import DISTRIBUTIONS, MODES, _validate_choice
from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import composite as _composite
from keras_glorot.whole_model import explicit as _explicit
from keras_glorot.whole_model import laws as _laws
from keras_glorot.whole_model import residual as _residual
from keras_glorot.whole_model.kinds import Kernel
from keras_glorot.whole_model.reading import LeftAlone, open_reading, validate_model
from keras_glorot.whole_model.report import InitReport, KernelRecord, MergeRecord

# ---------------------------------------------------------------------------
# Drawing.


def _validate_seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None. Received: seed={seed!r}.")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int or None. Received: seed={seed!r}.")
    return int(seed)


def _validate_options(mode, distribution) -> None:
    _validate_choice("mode", mode, MODES)
    _validate_choice("distribution", distribution, DISTRIBUTIONS)


def initialize(
    model: keras.Model,
    *,
    mode: str = "fan_avg",
    distribution: str = "truncated_normal",
    convention: str = "moment",
    seed: int | None = None,
    residual: str | None = "fixup",
    explicit: str = "override",
) -> InitReport:
    """Re-draws every kernel of a built model with its true fans and following activation.

    For each layer (nested models included), in order:

    - the activation is the layer's own ``activation``, or, when that is linear,
      the one applied by the next layer(s): ``Activation``, ``ReLU``,
      ``LeakyReLU`` (its slope), ``ELU``, ``PReLU`` (root mean square of its
      alphas), also behind ``Dropout``/``Flatten``; a kernel that a batch,
      layer or group normalization follows, directly or behind an activation,
      keeps Keras' default scale (docs/derivation.md, "A kernel under
      normalization"); the hard sigmoid ``relu6(x + 3) / 6`` and hard
      swish ``x * hard_sigmoid(x)`` that ``keras.applications`` (MobileNetV3)
      build from ops; softmax heads and model outputs are linear, and any other
      op after a kernel gives linear, labelled "unrecognised op". A
      squeeze-excite gate (``Multiply`` by a sigmoid or hard sigmoid of a pooled
      path, about 1/2 at initialization; Hu et al. 2018) right after the kernel
      or its activation doubles the gain; after a normalization it is only
      named, since the normalization sets the scale there.
      A subclassed model, and a model holding composite layers, is read by
      tracing its ``call`` on symbolic inputs (``whole_model.trace``), entering
      every composite: the order of the calls, the sums (``x + y``), the
      ``keras.ops`` activations (``keras.ops.relu(x)``, also after a cast) and
      scalings by a constant (``2 * y``: the gain over ``|c|``), on every
      backend; a kernel that feeds attention, a product or a sum is linear.
      Where a call cannot run on symbolic tensors, a subclassed model's layers
      are read as a chain in ``model.layers`` order (the report says so).
    - composite layers (a ``keras.layers.Layer`` subclass holding sublayers: a
      user's block, KerasHub's transformer layers) are entered at any depth and
      their kernels drawn like the model's own; a sublayer shared by several
      composites is drawn once. Where a composite's call cannot be traced, the
      activation inside it is the sublayer's own, a known block layout's, an
      activation sublayer assigned right after it, or a gain measured on
      N(0, 1) without data; the report
      says which (``keras_glorot.whole_model.composite``). Rows are named by the
      composites holding the layer (``transformer_layer_0/self_attention``).
    - the fans are the layer kind's true ones: Dense, Conv1D/2D/3D (with
      ``groups``), DepthwiseConv1D/2D (fan_in = receptive field), SeparableConv
      (depthwise part linear, pointwise part with the activation),
      Conv*DTranspose (fans swapped), EinsumDense and MultiHeadAttention (axes
      from the equation), SimpleRNN/GRU/LSTM (input kernel per gate with fan_out
      = units; recurrent kernel orthogonal per gate; a gate or candidate that
      multiplies a state gets gain 1 shared by its two paths, 1/sqrt(2) on each:
      unit pre-activation variance where both carry unit second moment, less at
      the start, whose state is small (docs/derivation.md); a SimpleRNN its
      activation's gain over sqrt(2): see ``plans._gate_activations``), also
      inside ``Bidirectional`` and ``TimeDistributed``.
      With strides the fans are the mean over output positions (see
      ``keras_glorot.fans``): a convolution's fan_out and a transposed
      convolution's fan_in are divided by the product of the strides.

    The layer's ``kernel_initializer`` (and ``depthwise_initializer``,
    ``pointwise_initializer``, ``recurrent_initializer``) is set to the
    keras_glorot initializer that drew the kernel, so ``get_config``, ``.keras``
    files and ``keras.models.clone_model`` reproduce the scheme. Biases,
    normalization weights and ``Embedding`` are left as they are; unknown layers
    with weights are skipped and listed in the report.

    Residual merges (``Add`` layers, ``x + y`` and ``keras.ops.add`` op nodes)
    are found on the graph, each with its shortcut (identity or a one-kernel
    projection) and branches; L is the number of merges told apart. Without a
    policy, every merge of two unit-gain paths doubles the variance, so a
    norm-free ResNet grows like 2^L (Balduzzi et al. 2017; Hanin & Rolnick 2018).
    ``residual`` then changes the kernels drawn above (``keras_glorot.whole_model.residual``;
    docs/derivation.md, "Residual networks"). ``"fixup"`` (the default) scales
    the branch's other kernels by ``L**(-1/(2m-2))`` (m kernels per branch) and
    zeroes its last (Zhang et al. 2019): the forward signal is the shortcut's,
    and the output's change after the first SGD step does not grow with L, so a
    deep norm-free ResNet trains (docs/depth.md). ``"scaled"`` makes each branch
    add 1/L of its shortcut's second moment (and a projection keep the signal),
    so the signal grows at most ``(1 + 1/L)**L < e``, but the first update still
    grows with L; ``"zero"`` zeroes the branch's last kernel (De & Smith 2020).
    Scaled kernels keep their ``Glorot`` with the factor folded into explicit
    fans (same seed), zeroed ones get ``keras.initializers.Zeros``, so saved
    configs redraw the same law. A branch normalized before its last kernel and
    not after it (pre-norm transformer blocks, pre-activation ResNets) has a
    scale of its own whatever the stream's: ``"fixup"`` and ``"scaled"``
    multiply its last kernels' std by ``1/sqrt(N)``, N such branch ends (GPT-2's
    rule, Radford et al. 2019; Fixup is defined for norm-free branches), and
    ``"zero"`` zeroes them. This holds for merges of a functional model and for
    the attention and MLP output projections inside composite blocks
    (``composite.residual_streams``). Merges whose branch is normalized after
    its last kernel (post-norm blocks), or whose branch and shortcut cannot be
    told apart, are left alone; the report's merge table says what was done at
    each merge, and why not.

    Args:
        model: A built ``keras.Model``.
        mode: ``"fan_avg"`` (Glorot), ``"fan_in"`` (He/LeCun) or ``"fan_out"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        convention: Gain convention, ``"moment"`` or ``"pytorch"`` (see ``calculate_gain``).
        seed: An int: kernel ``k`` (gate blocks counted) is drawn with a seed
            mixed from ``(seed, k)`` by ``np.random.SeedSequence``, saved in its
            config. None: unseeded draws.
        residual: ``"fixup"`` (default), ``"scaled"``, ``"zero"`` or None (no
            change at merges: every kernel drawn as for a plain network).
        explicit: What to do with a kernel whose layer was given an initializer other
            than its default (``Conv2D(..., kernel_initializer="he_normal")``):
            ``"override"`` (default) redraws it like any other and says so on its row;
            ``"keep"`` leaves it as drawn at build time and reports it skipped
            (``keras_glorot.whole_model.explicit``). The default is the one that
            trained better where it was measured (docs/zoo.md, "Code nobody here
            wrote").

    Returns:
        An ``InitReport``: per kernel (per gate block for RNNs) the activation
        found, fans, gain and std; skipped layers with the reason; per residual
        merge its shortcut, branches and what was done (``report.merges``); every
        place the model could not be read (``report.fallbacks``: a call that did not
        trace, a merge whose branch and shortcut cannot be told apart, an unknown
        layer kind...), each with what to do about it, of which one ``UserWarning``
        is given.

    How the model is read, planned and drawn: the model's call (and each composite's)
    is traced once in inference mode without side effects (``whole_model.trace``),
    each call of a layer read on its own (a block run in a loop sums once per call;
    one kernel serves every call). Then every kernel's law is planned, the residual
    policies included, and checked; only then is each kernel drawn, once, at its
    final law, and all are assigned together, so an error leaves every weight as it
    was. A sublayer that was never built (an unused head) is reported and left. A
    model without a ``call`` of its own that holds models (a VAE that trains an
    encoder and a decoder in ``train_step``) has each of them read as a model of
    its own. An activation at the model's output (a sigmoid, a softmax, a tanh) is
    the loss's link: no kernel follows it, so its kernel is drawn at gain 1, which
    keeps the link's input at a linear layer's scale (docs/derivation.md, "The
    output kernel").

    Example:

    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...     keras.layers.DepthwiseConv2D(3), keras.layers.LeakyReLU(0.1),
    ...     keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    >>> print(keras_glorot.initialize(model, seed=0))

    Reference:
    - Glorot & Bengio, 2010; He et al., 2015 (gains, fans).
    - Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of learning
      in deep linear neural networks" (orthogonal recurrent kernels).
    - Balduzzi et al., 2017, "The shattered gradients problem"; Hanin & Rolnick,
      2018, "How to start training: the effect of initialization and
      architecture" (variance growth in ResNets).
    - Zhang, Dauphin & Ma, 2019, "Fixup initialization", §3.
    - De & Smith, 2020, "Batch normalization biases residual blocks towards the
      identity function in deep networks" (SkipInit).
    - Radford et al., 2019, "Language models are unsupervised multitask
      learners", §2.3 (GPT-2: residual output projections scaled by 1/sqrt(N)).
    """
    models = _models_to_read(model)
    _validate_options(mode, distribution)
    seed = _validate_seed(seed)
    options = {"mode": mode, "distribution": distribution, "convention": convention}
    keep = _validate_choice("explicit", explicit, _explicit.CHOICES) == "keep"
    acts.Found().gain(convention)  # Validates convention before anything is drawn.
    policy = _residual.validate_policy(residual)
    seeds, report = _laws.Seeds(seed), InitReport("initialize")
    if models != [model]:
        names = ", ".join(repr(m.name) for m in models)
        report.notes.append(
            f"{type(model).__name__} {model.name!r} has no call of its own: its models "
            f"{names} were each read as a model of their own"
        )
        _outside_models(model, report)
    planned = []
    for each in models:
        reading = open_reading(each)
        try:
            prefix = "" if each is model else f"{each.name}/"
            planned.append(_plan_model(reading, options, seeds, policy, keep, report, prefix))
        finally:
            reading.close()
    # Every law is known and nothing has failed: draw each kernel once, then assign.
    _laws.commit([d for drawn, _ in planned for entries in drawn.values() for d in entries])
    for _, attention in planned:
        _record_attention_configs(attention, report)
    report.warn_once()
    return report


def _has_own_call(model: keras.Model) -> bool:
    return getattr(type(model), "call", None) is not keras.Model.call


def _models_to_read(model) -> list[keras.Model]:
    """``[model]``, or the models a wrapper without a ``call`` of its own holds (a VAE
    that trains an encoder and a decoder in ``train_step``): each is read as a model of
    its own. Raises before anything is drawn when a model is not built."""
    if isinstance(model, keras.Model) and not _has_own_call(model):
        inner = [la for la in model.layers if isinstance(la, keras.Model)]
        if not inner:
            raise ValueError(
                f"model={model.name!r} ({type(model).__name__}) has no call() and holds no "
                "model of its own: there is no forward pass to initialize. Pass the model "
                "that computes the outputs."
            )
        for each in inner:
            validate_model(each)
        return inner
    validate_model(model)
    return [model]


def _outside_models(wrapper, report: InitReport) -> None:
    for layer in wrapper.layers:
        if not isinstance(layer, keras.Model) and layer.weights:
            report.add(
                KernelRecord(
                    layer.name,
                    type(layer).__name__,
                    skipped=(
                        f"held by {wrapper.name!r} outside its models, and "
                        f"{type(wrapper).__name__} has no call() saying where it is used: "
                        "left as it is"
                    ),
                )
            )
            report.fallback(
                f"{layer.name!r} is held by {wrapper.name!r} outside its models and is used "
                "by no call() that can be read: left as it is. Give the wrapper a call(), "
                "or initialize the model that uses the layer."
            )


def _part(kernel: Kernel) -> str:
    parts = [b.part for b in kernel.blocks]
    return parts[0] if len(parts) == 1 else parts[0].split("[")[0]


def _plan_model(reading, options: dict, seeds, policy: str, keep: bool, report, prefix: str):
    """Every kernel's final law for one model, report rows written; nothing drawn.
    Returns the planned kernels by layer and the attention layers with their rows."""
    own, graph = InitReport("initialize"), reading.graph
    drawn: dict[int, list[_residual.Planned]] = {}
    for text in reading.fallbacks:
        own.fallback(text)
    for entry in reading.layers:
        name, layer = entry.path, entry.layer
        if isinstance(entry, LeftAlone):
            own.add(KernelRecord(name, type(layer).__name__, skipped=entry.reason))
            continue
        entries = []
        for kernel in entry.kernels:
            chosen = _explicit.chosen(layer, kernel)
            if chosen and keep:
                why = f"the author's {chosen} kept (explicit='keep'); drawn at build time"
                own.add(KernelRecord(name, type(layer).__name__, _part(kernel), skipped=why))
                continue
            entries.append(_laws.plan_kernel(kernel, options, seeds, layer, own, name))
            for record in entries[-1].records if chosen else []:
                record.note = f"replaces the author's {chosen} (explicit='override')"
        if entries:
            drawn[id(layer)] = entries
    _composite.measure(graph, drawn, seeds.seed, own)
    _composite.own_weights(graph, own)
    _residual_merges(reading, policy, drawn, own)
    _composite.residual_streams(policy, graph, drawn, own)
    attention = [
        (r.layer, [rec for d in drawn[id(r.layer)] for rec in d.records])
        for r in reading.kernels
        if isinstance(r.layer, keras.layers.MultiHeadAttention) and id(r.layer) in drawn
    ]
    report.extend(own, prefix)
    return drawn, attention


def _record_attention_configs(attention: list, report: InitReport) -> None:
    # After the draws, with the laws the residual policies may have rescaled or zeroed.
    for layer, records in attention:
        note = _laws.record_attention_config(layer)
        for record in records if note else []:
            record.note = note


def _residual_merges(reading, policy: str, drawn: dict, report: InitReport) -> None:
    graph = reading.graph
    if graph.graph:
        _residual.apply(policy, reading.merges, graph, drawn, report)
        return
    report.residual = policy
    for layer, _ in graph.leaves:
        if isinstance(layer, keras.layers.Add):
            action = (
                "nothing done: the subclassed model's call could not be traced, so branch "
                "and shortcut cannot be told apart"
            )
            report.merges.append(MergeRecord(layer.name, "Add", policy=policy, action=action))
