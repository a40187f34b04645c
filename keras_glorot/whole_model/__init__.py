"""Tools that read a whole model: what follows each kernel, and what to draw there.

The other half of the package, the initializers (``gains``, ``fans``, ``sampling``,
``initializers``, ``blocks``), draws a kernel from a shape and imports nothing from
here. This half walks a built model: its graph (``graph``), the ``call`` of
subclassed models and composite layers (``trace``), the activation after each
kernel (``activations``), each layer's kernels and fans (``plans``), composite
layers (``composite``), residual merges (``residual``), and the tools built on them:
``initialize`` (``model_init``), ``lsuv`` (``unit_variance``), ``signal_report``
(``diagnostics``), ``mean_field_variances`` (``mean_field``) and
``jacobian_spectrum`` (``isometry``), with their reports (``report``). Their public
names are exported flat from ``keras_glorot``.
"""
