"""Tools that read a whole model: what follows each kernel, and what to draw there.

The other half of the package, the initializers (``gains``, ``fans``, ``sampling``,
``initializers``, ``blocks``), draws a kernel from a shape and imports nothing from
here. This half reads a built model, then plans, then draws, as one road:

- read: its graph (``graph``), the ``call`` of subclassed models and composite layers
  run once on symbolic inputs without side effects (``trace``), each call of a layer
  on its own; what an activation is (``found``), which one follows each kernel
  (``activations``, with the patterns of several ops in ``patterns``), the kernels
  and fans of each layer (``plans``), composite layers read without a trace
  (``composite``), residual merges (``merges``) and initializers an author chose
  (``explicit``);
- plan: one law per kernel (``laws``), residual factors folded in (``residual``);
  every place the model could not be read goes to ``InitReport.fallbacks``;
- draw: each kernel once, at its final law, all assigned together (``laws.commit``).

The tools built on this road: ``initialize`` (``model_init``), ``lsuv``
(``unit_variance``), ``signal_report`` (``diagnostics``), ``mean_field_variances``
(``mean_field``) and ``jacobian_spectrum`` (``isometry``), with their reports
(``report``). Their public names are exported flat from ``keras_glorot``.
"""
