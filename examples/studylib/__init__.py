"""The machinery the study scripts in ``examples/`` share; nothing here is run directly.

- ``cli_args``: the options every script shares (seeds, data, the backend check), checked
  before anything heavy is imported;
- ``cifar10_data`` (CIFAR-10 from an ``.npz``, TFDS or the official tarball) and
  ``kjv_data`` (the King James Bible as bytes): the data;
- ``study`` (one ``model.fit`` per start and seed, recorded in ``runs.jsonl`` with resume),
  ``training`` (optimizers, schedules, the whole-model tools) and ``determinism``;
- ``report`` (``summary.md`` and ``curves.png``), ``article_claims`` and
  ``article_report`` (the article's tables), ``zoo_report`` (the zoo's table);
- ``signal_measure``: the activation and gradient ratios of ``signal_propagation.py``.

Importing the package imports nothing heavy; each module imports Keras only where it
needs it. The nets themselves are in ``examples/nets/``.
"""
