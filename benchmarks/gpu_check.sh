#!/usr/bin/env bash
# The parts (setup, tests, ...) are functions that main calls by name.
# shellcheck disable=SC2317
# GPU check of keras-glorot: the test suite, mixed-precision lsuv/initialize, a short VGG study.
#
# For a machine with a GPU, with or without a network, with or without TensorFlow: it runs
# on the backends you have (JAX and PyTorch by default; BACKENDS="tensorflow jax torch" for
# all three) and installs nothing from the network. Run from the repository root:
#
#   bash benchmarks/gpu_check.sh --help        # this text
#   bash benchmarks/gpu_check.sh               # setup tests mixed study, in turn
#   bash benchmarks/gpu_check.sh tests         # or any of: setup tests mixed study
#   bash benchmarks/gpu_check.sh prepare       # on a machine with a network, see below
#
# Where Keras 3.15+, absl-py, rich, namex, h5py, optree, ml-dtypes, packaging and pytest
# are installed already (with a network: pip install ".[jax,test]"), nothing needs
# preparing; run with SETUP=0. An offline GPU
# machine needs their wheels in .whl/ in the repository: `prepare`, run on any machine with a
# network (and the same Python version: PY_VERSION overrides it), fills .whl/ and you copy
# the folder over. `setup` then installs, from .whl/ only, what the machine lacks:
#   .whl/keras-*.whl                 Keras itself (installed with --no-index --no-deps)
#   .whl/*.whl                       absl-py, rich (markdown-it-py, mdurl, pygments), namex,
#                                    h5py, optree (typing-extensions), ml-dtypes, packaging,
#                                    pytest (pluggy, iniconfig). Without a wheel for one,
#                                    the part that needs it is skipped and the script says
#                                    which module is missing.
#   .whl/cifar10_subset.npz          optional: the first 10,000 training and 2,000 test
#                                    images of CIFAR-10 (37 MB, against 170 MB for all),
#                                    cut by `prepare` from $CIFAR_NPZ or ./cifar10.npz
#                                    (examples/get_cifar10.py writes it). The study reads
#                                    $CIFAR_NPZ, else ./cifar10.npz, else this subset, else
#                                    random images: its img/s still hold, its accuracies
#                                    are then chance.
# matplotlib is optional (without it the study writes summary.md but no curves.png).
#
# Outputs go to $OUT (or out/gpu_check): one log per part, pytest's JUnit XML per backend,
# mixed_precision.json and the study's runs.jsonl and summary.md. Each part runs under a
# `timeout` (seconds, overridable: TESTS_TIMEOUT, MIXED_TIMEOUT, STUDY_TIMEOUT) so that the
# whole default run stays within about 9 minutes; BACKENDS="jax" (or "torch") limits it to
# one backend; SETUP=0 skips the setup; PYTHON picks the interpreter. The exit status is that
# of the first failed part (0 when all passed).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 2
PY=${PYTHON:-python3}
OUT=${OUT:-$REPO/out/gpu_check}
WHEELS=$REPO/.whl
TESTS_TIMEOUT=${TESTS_TIMEOUT:-180}
MIXED_TIMEOUT=${MIXED_TIMEOUT:-90}
STUDY_TIMEOUT=${STUDY_TIMEOUT:-150}
STUDY_WIDTH=${STUDY_WIDTH:-1}    # smaller (e.g. 0.0625) only to try the script on a CPU
STUDY_EPOCHS=${STUDY_EPOCHS:-3}
read -ra BACKENDS <<<"${BACKENDS:-jax torch}"
# import name -> wheel name, for everything the setup may have to install
MODULES=(absl:absl_py rich:rich markdown_it:markdown_it_py mdurl:mdurl pygments:pygments
  namex:namex h5py:h5py optree:optree typing_extensions:typing_extensions
  ml_dtypes:ml_dtypes packaging:packaging pytest:pytest pluggy:pluggy iniconfig:iniconfig)
STATUS=0

say() { printf '\n=== %s ===\n' "$*"; }
fail() {
  echo "FAILED: $1"
  if [ "$STATUS" -eq 0 ]; then STATUS=${2:-1}; fi
}

prepare() {
  # On a machine with a registry: wheels for the GPU machine's Python, and a CIFAR subset.
  local version
  version=${PY_VERSION:-$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
  local keras_version
  keras_version=$("$PY" -c 'import importlib.metadata as m; print(m.version("keras"))' 2>/dev/null || echo 3.15.1)
  mkdir -p "$WHEELS"
  local names=("keras==$keras_version")
  local entry
  for entry in "${MODULES[@]}"; do names+=("${entry#*:}"); done
  "$PY" -m pip download --dest "$WHEELS" --no-deps --only-binary=:all: \
    --python-version "$version" --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 "${names[@]}" || return 1
  local cifar=${CIFAR_NPZ:-$REPO/cifar10.npz}
  if [ -f "$cifar" ]; then
    "$PY" - "$cifar" "$WHEELS/cifar10_subset.npz" <<'EOF' || return 1
import sys
import numpy as np
with np.load(sys.argv[1]) as f:
    np.savez(sys.argv[2], x_train=f["x_train"][:10000], y_train=f["y_train"][:10000],
             x_test=f["x_test"][:2000], y_test=f["y_test"][:2000])
print("wrote", sys.argv[2])
EOF
  fi
  du -sh "$WHEELS"
}

setup() {
  say "setup: $("$PY" --version 2>&1), GPUs"
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  local entry missing=()
  for entry in "${MODULES[@]}"; do
    "$PY" -c "import ${entry%%:*}" 2>/dev/null || missing+=("${entry#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing from .whl/: ${missing[*]}"
    local name wheel
    for name in "${missing[@]}"; do
      wheel=$(find "$WHEELS" -maxdepth 1 -iname "${name}-*.whl" 2>/dev/null | head -n 1)
      if [ -z "$wheel" ]; then
        echo "no wheel for $name in .whl/ (copy it there: see --help)"
        continue
      fi
      "$PY" -m pip install --no-index --no-deps --quiet "$wheel" || echo "could not install $wheel"
    done
  fi
  # keras_glorot needs Keras 3.15 or later; an older one on the machine is replaced.
  if ! "$PY" -c 'import keras, sys; sys.exit(tuple(map(int, keras.__version__.split(".")[:2])) < (3, 15))' 2>/dev/null; then
    local keras_wheel
    keras_wheel=$(find "$WHEELS" -maxdepth 1 -name 'keras-*.whl' 2>/dev/null | head -n 1)
    if [ -z "$keras_wheel" ]; then
      fail "Keras is not installed and no .whl/keras-*.whl was carried" 3
      return 1
    fi
    "$PY" -m pip install --no-index --no-deps --quiet --force-reinstall "$keras_wheel" || {
      fail "pip install $keras_wheel" 3
      return 1
    }
  fi
  # Offline, pip cannot fetch setuptools for an isolated build; the package is pure
  # Python, so the source tree on PYTHONPATH is the fallback.
  "$PY" -m pip install --no-deps --no-build-isolation --quiet -e . 2>/dev/null ||
    echo "pip install -e . failed: using PYTHONPATH=$REPO"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
  local backend
  for backend in "${BACKENDS[@]}"; do
    KERAS_BACKEND=$backend "$PY" - <<'EOF' || fail "setup: keras on $backend"
import keras, keras_glorot
b = keras.config.backend()
if b == "jax":
    import jax
    print("jax", jax.__version__, jax.devices())
else:
    import torch
    print("torch", torch.__version__, "cuda:", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print("keras", keras.__version__, "keras_glorot", keras_glorot.__version__)
EOF
  done
}

tests() {
  "$PY" -c 'import pytest' 2>/dev/null || {
    fail "tests: pytest is not installed and no wheel was carried"
    return 1
  }
  local backend
  for backend in "${BACKENDS[@]}"; do
    say "tests on $backend (timeout ${TESTS_TIMEOUT} s)"
    KERAS_BACKEND=$backend timeout "$TESTS_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider \
      --junitxml="$OUT/pytest-$backend.xml" tests 2>&1 | tail -n 40
    local code=${PIPESTATUS[0]}
    [ "$code" -eq 0 ] || fail "tests on $backend (exit $code; 124 = timeout)"
  done
}

mixed() {
  local backend
  for backend in "${BACKENDS[@]}"; do
    say "mixed precision lsuv/initialize on $backend (timeout ${MIXED_TIMEOUT} s)"
    KERAS_BACKEND=$backend timeout "$MIXED_TIMEOUT" "$PY" - "$OUT/mixed_precision-$backend.json" <<'EOF'
# After lsuv the pre-activation variance of every conv should be ~1 (lsuv's tolerance is
# 0.1 on the std) under float16 and bfloat16 compute too; kernels stay float32 variables.
# initialize's variances follow Glorot's fan average (below 1 where channels grow) and
# should match the float32 row.
import json, sys
import keras
import numpy as np
import keras_glorot

def model():
    x = inputs = keras.Input((32, 32, 3))
    for width in (32, 32, 64, 64, 128, 128, 256, 256):
        x = keras.layers.Conv2D(width, 3, padding="same")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, dtype="float32")(x))

batch = np.random.default_rng(0).standard_normal((256, 32, 32, 3)).astype("float32")
results, ok = {}, True
for policy in ("float32", "mixed_float16", "mixed_bfloat16"):  # float32: the reference
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        for tool in ("lsuv", "initialize"):
            m = model()
            if tool == "lsuv":
                keras_glorot.lsuv(m, batch, seed=0)
            else:
                keras_glorot.initialize(m, seed=0)
            convs = [la for la in m.layers if isinstance(la, keras.layers.Conv2D)]
            probe = keras.Model(m.input, [la.output for la in convs])
            outs = probe(batch)
            var = [float(np.var(np.asarray(keras.ops.convert_to_numpy(
                keras.ops.cast(o, "float32"))))) for o in outs]
            dtypes = sorted({str(la.kernel.dtype) for la in convs})
            finite = all(np.isfinite(var))
            good = finite and dtypes == ["float32"] and (
                tool != "lsuv" or all(0.7 < v < 1.45 for v in var))
            ok &= good
            compute = convs[0].compute_dtype
            results[f"{policy}/{tool}"] = {"pre_activation_var": var, "kernel_dtypes": dtypes,
                                           "compute_dtype": compute, "ok": good}
            print(f"{policy:15s} {tool:10s} {'ok  ' if good else 'FAIL'} compute {compute:8s} "
                  f"kernels {dtypes} "
                  "pre-activation var: " + " ".join(f"{v:.3f}" for v in var))
    finally:
        keras.config.set_dtype_policy(previous)
with open(sys.argv[1], "w") as f:
    json.dump({"backend": keras.config.backend(), "results": results}, f, indent=1)
sys.exit(0 if ok else 1)
EOF
    local code=$?
    [ "$code" -eq 0 ] || fail "mixed precision on $backend (exit $code; 124 = timeout)"
  done
}

study_data() {
  # The CIFAR copy to train on, or random images written to $OUT (chance accuracy).
  local candidate
  for candidate in "${CIFAR_NPZ:-}" "$REPO/cifar10.npz" "$WHEELS/cifar10_subset.npz"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  "$PY" - "$OUT/random_cifar.npz" <<'EOF' >&2
import sys
import numpy as np
rng = np.random.default_rng(0)
np.savez(sys.argv[1], x_train=rng.integers(0, 256, (10000, 32, 32, 3), dtype=np.uint8),
         y_train=rng.integers(0, 10, 10000), x_test=rng.integers(0, 256, (2000, 32, 32, 3),
         dtype=np.uint8), y_test=rng.integers(0, 10, 2000))
print("no CIFAR-10 copy: random images, so the accuracies below are chance; img/s hold")
EOF
  echo "$OUT/random_cifar.npz"
}

study() {
  local npz backend
  npz=$(study_data)
  for backend in "${BACKENDS[@]}"; do
    say "study on $backend: VGG-11 width $STUDY_WIDTH, no BN, mixed precision (timeout ${STUDY_TIMEOUT} s)"
    KERAS_BACKEND=$backend timeout "$STUDY_TIMEOUT" "$PY" examples/cifar10_vgg.py \
      --npz "$npz" --subset 10000 --model vgg11 --width "$STUDY_WIDTH" --no-batch-norm \
      --activation leaky_relu --lr 0.02 --inits glorot_uniform glorot_leaky --seed-list 0 \
      --epochs "$STUDY_EPOCHS" --mixed-precision --verbose 2 --out "$OUT/study-$backend"
    local code=$?
    [ "$code" -eq 0 ] || fail "study on $backend (exit $code; 124 = timeout)"
    if [ -f "$OUT/study-$backend/summary.md" ]; then
      cat "$OUT/study-$backend/summary.md"
    else
      fail "study on $backend wrote no summary.md"
    fi
  done
}

usage() {
  # The header above, without its comment marks.
  sed -n '/^# GPU check of keras-glorot/,/^set -uo pipefail/p' "$REPO/benchmarks/gpu_check.sh" |
    sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
  case ${1:-} in
    -h | --help | help)
      usage
      exit 0
      ;;
  esac
  local parts=("$@")
  [ "${#parts[@]}" -gt 0 ] || parts=(setup tests mixed study)
  local part
  for part in "${parts[@]}"; do
    case $part in
      prepare | setup | tests | mixed | study) ;;
      *)
        echo "gpu_check.sh: unknown part '$part'; use any of: prepare setup tests mixed study (--help explains them)" >&2
        exit 2
        ;;
    esac
  done
  if [ "${parts[0]}" = prepare ]; then
    prepare
    exit $?
  fi
  mkdir -p "$OUT"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=2
  # Every run sets up first (quietly, idempotent) unless asked for setup itself or told
  # SETUP=0 (an environment that already has Keras, keras_glorot and pytest).
  if [ "${parts[0]}" != setup ] && [ "${SETUP:-1}" != 0 ]; then
    setup >"$OUT/setup.log" 2>&1 || true
  fi
  for part in "${parts[@]}"; do
    # Process substitution, not a pipe: the part runs in this shell, so its exports and
    # its failures (STATUS) are kept.
    "$part" > >(tee "$OUT/$part.log") 2>&1 || [ "$STATUS" -ne 0 ] || STATUS=1
  done
  wait
  say "done: exit $STATUS; outputs in $OUT"
  exit "$STATUS"
}

main "$@"
