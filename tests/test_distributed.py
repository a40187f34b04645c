"""README's model-parallel snippet on JAX with 8 virtual CPU devices (a 2 x 4 mesh):
``initialize()`` keeps every variable's sharding, and its draws are bitwise those of the
same model on one device with the same seed."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from tests.test_readme import JAX_ONLY, blocks

if importlib.util.find_spec("jax") is None:
    pytest.skip("needs JAX (the [jax] extra)", allow_module_level=True)

# Runs README's block twice in one process: as written (sharded), then with
# set_distribution a no-op (every variable on one device). A wrapper around initialize()
# records each variable's sharding before and after the redraw.
CHECK = textwrap.dedent(
    """
    import json, sys
    import jax
    import keras
    import numpy as np
    import keras_glorot

    block = sys.stdin.read()
    seen = []
    draw = keras_glorot.initialize

    def recording_initialize(model, **kwargs):
        before = [v.value.sharding for v in model.variables]
        report = draw(model, **kwargs)
        after = [v.value.sharding for v in model.variables]
        seen.append((model, before, after))
        return report

    keras_glorot.initialize = recording_initialize
    exec(block, {})
    keras.backend.clear_session()  # the same layer names, so the same variable paths
    keras.distribution.set_distribution = lambda distribution: None
    exec("\\n".join(line for line in block.splitlines() if "sharding" not in line), {})
    (sharded, before, after), (single, _, single_after) = seen
    print(json.dumps({
        "paths": [v.path for v in sharded.variables],
        "kept": [str(b) == str(a) and b == a for b, a in zip(before, after)],
        "specs": [str(s.spec) for s in after],
        "split": str(jax.sharding.PartitionSpec(None, "model")),
        "devices": [len(s.device_set) for s in after],
        "single_devices": [len(s.device_set) for s in single_after],
        "bitwise": [
            np.array_equal(np.asarray(a.value), np.asarray(b.value))
            for a, b in zip(sharded.variables, single.variables)
        ],
    }))
    """
)


def test_initialize_keeps_the_shards_and_draws_what_one_device_draws():
    (block,) = [b for b in blocks("python") if b.startswith(JAX_ONLY)]
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", CHECK], input=block, capture_output=True, text=True,
        env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    # README's block prints the first kernel's spec: P(None, 'model') in JAX 0.10's spelling.
    assert done.stdout.splitlines()[0] == result["split"]
    assert all(result["kept"]), result
    kernels = [i for i, path in enumerate(result["paths"]) if path.endswith("kernel")]
    assert len(kernels) == 2
    for i in kernels:  # split over the mesh, not replicated
        assert result["specs"][i] == result["split"] and result["devices"][i] == 8
    assert set(result["single_devices"]) == {1}
    assert all(result["bitwise"]), result
