"""Whole-model initialization: layer-aware Glorot (``initialize``).

An initializer sees only a shape. ``initialize`` looks at the whole model instead:
for every kernel it finds the activation that actually follows it (the layer's
own, or an activation layer after it, possibly behind normalization or dropout)
and the true fans of its layer kind (depthwise, grouped, transposed, einsum,
recurrent gates), re-draws it with ``Glorot`` and records the initializer in the
layer's config so that saving and ``clone_model`` reproduce the scheme.

It reads the model through ``read_model`` (``reading``), plans a law per kernel
(``laws``), scales residual branches (``residual``, ``streams``) and draws each kernel
once (``draw``). ``lsuv`` is the data-driven alternative, on the same reading.
"""

from __future__ import annotations

import keras

from keras_glorot.gains import CONVENTIONS
from keras_glorot.initializers import DISTRIBUTIONS, MODES, Glorot, _validate_choice, validate_seed
from keras_glorot.whole_model import copies, draw, measured, streams
from keras_glorot.whole_model import explicit as _explicit
from keras_glorot.whole_model import found as _found
from keras_glorot.whole_model import laws as _laws
from keras_glorot.whole_model import residual as _residual
from keras_glorot.whole_model.kinds import Kernel
from keras_glorot.whole_model.reading import LeftAlone, open_reading, validate_model
from keras_glorot.whole_model.report import InitReport, KernelRecord, MergeRecord

# ---------------------------------------------------------------------------
# Drawing.


def _validate_seed(seed) -> int | None:
    # initialize() mixes one int into a seed per kernel, so a SeedGenerator has no use here.
    return validate_seed(seed, generator=False)


def _validate_options(mode, distribution, convention) -> dict:
    return {
        "mode": _validate_choice("mode", mode, MODES),
        "distribution": _validate_choice("distribution", distribution, DISTRIBUTIONS),
        "convention": _validate_choice("convention", convention, CONVENTIONS),
    }


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
    """Re-draws every kernel of a built model for the activation that follows it.

    It reads the model once (``read_model``): what follows each kernel, its true fans.
    Each kernel is drawn with ``Glorot`` (recurrent ones ``Orthogonal``) and recorded in
    its layer's config; ``residual`` bounds the growth at residual merges. An error
    leaves every weight as it was. The rules, case by case: docs/initialize.md.

    ``Var(W) = gain**2 / n``, ``gain = calculate_gain(activation)``, ``n`` the fan of
    ``mode``; ``"fixup"`` scales a norm-free branch's inner kernels by
    ``L**(-1/(2m-2))`` and zeroes its last; a pre-norm branch's last kernels get
    ``1/sqrt(N)``.

    Example:

    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...     keras.layers.DepthwiseConv2D(3), keras.layers.LeakyReLU(0.1),
    ...     keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    >>> print(keras_glorot.initialize(model, seed=0))

    Args:
        model: A built ``keras.Model`` (one without a ``call`` that holds models, a
            VAE say, has each of them read as a model of its own).
        mode: ``"fan_avg"`` (Glorot), ``"fan_in"`` (He/LeCun) or ``"fan_out"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        convention: Gain convention, ``"moment"`` or ``"pytorch"`` (see ``calculate_gain``).
        seed: An int (kernel ``k`` drawn with a seed mixed from ``(seed, k)``, saved
            in its config) or None (unseeded draws).
        residual: ``"fixup"`` (default), ``"scaled"``, ``"zero"`` or None (no
            change at merges: every kernel drawn as for a plain network).
        explicit: For a kernel given an initializer other than its layer's default:
            ``"override"`` (default) redraws it and says so; ``"keep"`` leaves it as
            built. Under either, a constant or near-zero start an author chose is kept
            (docs/initialize.md).

    Returns:
        An ``InitReport``: per kernel the activation found, fans, gain and std;
        skipped layers with the reason; each merge and what was done there; every
        place not read (``report.fallbacks``, also warned of once).

    Reference:
    - Glorot & Bengio, 2010; He et al., 2015; Saxe et al., 2014.
    - Zhang, Dauphin & Ma, 2019, "Fixup initialization", §3; De & Smith, 2020 (SkipInit).
    - Radford et al., 2019 (GPT-2), §2.3: 1/sqrt(N) on residual output projections.
    """
    models = _models_to_read(model)
    options = _validate_options(mode, distribution, convention)
    seed = _validate_seed(seed)
    keep = _validate_choice("explicit", explicit, _explicit.CHOICES) == "keep"
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
    entries = copies.tie(
        [d for drawn, _ in planned for each_layer in drawn.values() for d in each_layer], models
    )
    draw.commit(entries)
    if not entries:
        report.nothing_drawn()
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
    plan = _laws.Plan(reading, InitReport("initialize"), policy, seeds.seed)
    plan.convention = options["convention"]
    for text in reading.fallbacks:
        plan.report.fallback(text)
    plan.library = _explicit.library_laws(
        [(e.layer, k) for e in reading.layers if not isinstance(e, LeftAlone) for k in e.kernels]
    )
    for entry in reading.layers:
        entries = _plan_layer(entry, options, seeds, keep, plan)
        if entries:
            plan.kernels[id(entry.layer)] = entries
    measured.measure(plan)
    _residual_merges(plan)
    streams.residual_streams(plan)
    attention = [
        (r.layer, [rec for d in plan.kernels[id(r.layer)] for rec in d.records])
        for r in reading.kernels
        if isinstance(r.layer, keras.layers.MultiHeadAttention) and id(r.layer) in plan.kernels
    ]
    report.extend(plan.report, prefix)
    return plan.kernels, attention


def _plan_layer(entry, options: dict, seeds, keep: bool, plan) -> list:
    """The laws of one layer's kernels (none for a layer left alone), rows written; a
    start kept on purpose is recorded in ``plan.kept``."""
    name, layer, report = entry.path, entry.layer, plan.report
    if isinstance(entry, LeftAlone):
        report.add(KernelRecord(name, type(layer).__name__, skipped=entry.reason))
        return []
    entries = []
    for kernel in entry.kernels:
        chosen = _explicit.chosen(layer, kernel)
        statement = _explicit.deliberate(layer, kernel, chosen, plan.library)
        if statement:
            plan.kept[id(layer)] = statement
            report.add(KernelRecord(name, type(layer).__name__, _part(kernel), skipped=statement))
            continue
        if chosen and keep:
            why = f"the author's {chosen} kept (explicit='keep'); drawn at build time"
            report.add(KernelRecord(name, type(layer).__name__, _part(kernel), skipped=why))
            continue
        entries.append(_laws.plan_kernel(kernel, options, seeds, layer, report, name))
        if entry.found_by in GUESSED:
            _keep_own_gain(entries[-1], layer, options["convention"], entry.found_by)
        for record in entries[-1].records if chosen else []:
            record.note = f"replaces the author's {chosen} (explicit='override')"
    return entries


# Readings that guess what follows a kernel (an untraced call read in the order
# __init__ assigned the layers; a composite read by its layout): a guess never raises
# a kernel's gain above its own layer's.
GUESSED = ("layer order", "composite")


def _keep_own_gain(planned, layer, convention: str, found_by: str) -> None:
    ceiling = _found.own_gain(layer, convention)
    gain = max((r.gain or 0.0) for r in planned.records)
    if gain <= ceiling or not isinstance(planned.init, Glorot):
        return
    planned.rescale((ceiling / gain) ** 2, (
        f"gain {gain:.3g} read by {found_by}, a guess: kept at its layer's own {ceiling:.3g}"
    ))  # fmt: skip
    for record in planned.records:
        record.gain = ceiling


def _record_attention_configs(attention: list, report: InitReport) -> None:
    # After the draws, with the laws the residual policies may have rescaled or zeroed.
    for layer, records in attention:
        note = draw.record_attention_config(layer)
        for record in records if note else []:
            record.note = note


def _residual_merges(plan) -> None:
    policy, report = plan.policy, plan.report
    if plan.graph.graph:
        _residual.apply(plan, plan.reading.merges)
        return
    report.residual = policy
    for layer, _, _ in plan.reading.leaves:
        if isinstance(layer, keras.layers.Add):
            action = (
                "nothing done: the subclassed model's call could not be traced, so branch "
                "and shortcut cannot be told apart"
            )
            report.merges.append(MergeRecord(layer.name, "Add", policy=policy, action=action))
