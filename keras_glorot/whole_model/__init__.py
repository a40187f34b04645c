"""Tools that read a whole model: what follows each kernel, and what to draw there.

The other half of the package, the initializers (``gains``, ``fans``, ``sampling``,
``initializers``, ``composed``), draws a kernel from a shape and imports nothing from
here. This half reads a built model once, then each tool uses that reading:

- read (``reading.read_model``): the graph of a functional model (``graph``) or a
  trace of ``call`` run on symbolic inputs without side effects (``trace``); the
  layer kinds, their kernels and fans from one table (``kinds``, ``kernels``); what
  follows each kernel (``activations``, with the op patterns of ``patterns`` and the
  vocabulary of ``found``; inside a composite that cannot be traced, ``composite``);
  residual merges (``merges``); every fallback with its reason.
- plan (``initialize``): one law per kernel (``laws``), the author's own initializers
  (``explicit``), gains measured without data (``measured``), residual factors at
  merges (``residual``) and in pre-norm blocks (``streams``).
- draw (``draw``): each kernel once, at its final law, all assigned together.

The tools: ``initialize``, ``lsuv``, ``signal_report``, ``mean_field_variances``
(``mean_field``) and ``jacobian_spectrum`` (``jacobian``), with their reports
(``report``). Their public names are exported flat from ``keras_glorot``.
"""
