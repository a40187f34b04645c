"""End-to-end tests of examples/cifar10_vgg.py (with studylib/, nets/vgg.py and
cifar10_data.py) on tiny data the tests write themselves.

Every path runs on the backend of the session (KERAS_BACKEND); the TFDS path runs where
tensorflow_datasets imports, through ``tfds.testing.mock_data`` (no network, no download).
The command line itself is tested in test_examples_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import BACKEND, REPO

import keras_glorot

sys.path.insert(0, str(REPO / "examples"))
import cifar10_vgg  # noqa: E402
from nets.augment import PadCropFlip  # noqa: E402
from studylib import cifar10_data, study, training  # noqa: E402

SCRIPT = REPO / "examples" / "cifar10_vgg.py"
# Smallest useful model: VGG-11 with 4..32 channels, one epoch, no progress bar.
TINY = ["--model", "vgg11", "--width", "0.0625", "--epochs", "1", "--batch-size", "32"]
TINY += ["--verbose", "0", "--inits", "glorot_uniform", "glorot_gain", "--seeds", "2"]


def is_commit_of_this_checkout(commit) -> bool:
    """The recorded commit is HEAD or one of its ancestors (others may commit meanwhile)."""
    git = ["git", "-C", str(REPO)]
    if subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        return commit is None  # not a git checkout: nothing to record
    done = subprocess.run([*git, "merge-base", "--is-ancestor", str(commit), "HEAD"])
    return len(str(commit)) == 40 and done.returncode == 0


def write_tiny_npz(path, n_train: int = 64, n_test: int = 32, column_labels: bool = True):
    """Random CIFAR-shaped data in keras.datasets.cifar10 layout (labels (N, 1))."""
    rng = np.random.default_rng(0)
    shape = (-1, 1) if column_labels else (-1,)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train, dtype=np.uint8).reshape(shape),
        x_test=rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test, dtype=np.uint8).reshape(shape),
    )
    return path


@pytest.fixture
def tiny_npz(tmp_path):
    return write_tiny_npz(tmp_path / "tiny.npz")


def read_lines(out):
    return [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]


def check_outputs(out, inits=("glorot_uniform", "glorot_gain"), seeds=(0, 1)):
    """runs.jsonl, summary.md and curves.png exist, parse and hold what was asked."""
    runs = read_lines(out)
    assert sorted((r["init"], r["seed"]) for r in runs) == sorted(
        (i, s) for i in inits for s in seeds
    )
    for r in runs:
        assert r["backend"] == BACKEND
        assert r["epochs_run"] == 1 and len(r["test_accuracy"]) == 1
        assert 0.0 <= r["final_test_accuracy"] <= 1.0
        assert 0.0 <= r["train_accuracy"][0] <= 1.0
        assert np.isfinite(r["train_loss"][0]) and not r["diverged"]
        assert r["images_per_second"] > 0 and r["wall_seconds"] > 0
        assert r["options"]["model"] == "vgg11" and r["options"]["width"] == 0.0625
        assert r["deterministic"] is False and r["dtype_policy"] == "float32"
        assert is_commit_of_this_checkout(r["git_commit"]), r["git_commit"]
        assert isinstance(r["git_dirty"], bool)
    summary = (out / "summary.md").read_text()
    for init in inits:
        assert f"| `{init}` | {len(seeds)} |" in summary
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return runs


@pytest.mark.one_backend
def test_npz_end_to_end_resume_and_interruption(tmp_path, tiny_npz, monkeypatch, capsys):
    """A crash in the second run keeps the first line; rerunning finishes the rest; a third
    run of the same command trains nothing."""
    out = tmp_path / "out"
    argv = [*TINY, "--npz", str(tiny_npz), "--out", str(out)]
    real_train_one, calls = study.train_one, []

    def crash_on_second(*args, **kwargs):
        calls.append(args[1:3])
        if len(calls) == 2:
            raise RuntimeError("simulated crash mid-study")
        return real_train_one(*args, **kwargs)

    monkeypatch.setattr(study, "train_one", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cifar10_vgg.main(argv)
    first = (out / "runs.jsonl").read_text()
    assert len(first.splitlines()) == 1 and json.loads(first)["init"] == "glorot_uniform"

    monkeypatch.setattr(study, "train_one", real_train_one)
    capsys.readouterr()
    assert cifar10_vgg.main(argv) == 0
    # The note on GPU nondeterminism only where it applies: not on a CPU-only machine.
    on_cpu = study.device_description().startswith("CPU")
    assert ("GPU runs with the same seed can differ" in capsys.readouterr().err) is not on_cpu
    assert not (out / "backup").exists()  # every run finished: no empty folder left behind
    assert (out / "runs.jsonl").read_text().startswith(first)  # earlier line untouched
    runs = check_outputs(out)
    # Different seeds give different starting points, hence different curves.
    assert len({r["train_loss"][0] for r in runs}) > 1

    capsys.readouterr()
    monkeypatch.setattr(study, "train_one", crash_on_second)  # would raise if called
    assert cifar10_vgg.main(argv) == 0
    assert capsys.readouterr().out.count("skip ") == 4
    assert len(read_lines(out)) == 4


def test_nan_run_is_recorded_as_diverged(tmp_path, tiny_npz):
    """An absurd learning rate overflows the weights: the run is recorded, not a crash."""
    out = tmp_path / "out"
    argv = [*TINY, "--npz", str(tiny_npz), "--out", str(out), "--no-batch-norm"]
    argv += ["--lr", "1e30", "--schedule", "constant", "--inits", "he_normal", "--seeds", "0,"]
    assert cifar10_vgg.main(argv) == 0
    (run,) = read_lines(out)
    assert run["diverged"] is True and run["final_test_accuracy"] is None
    assert "| 1/1 |" in (out / "summary.md").read_text()


def test_tfds_path_with_mock_data(tmp_path, monkeypatch):
    """The real TFDS code path (builder, download_and_prepare, as_dataset), mocked by TFDS."""
    tfds = pytest.importorskip("tensorflow_datasets")
    # Pretend the download host answers, so the code goes on to download_and_prepare, which
    # mock_data turns into a no-op: nothing leaves this machine.
    monkeypatch.setattr(cifar10_data, "source_reachable", lambda *a, **k: True)
    out = tmp_path / "out"
    argv = [*TINY, "--data-dir", str(tmp_path / "tfds"), "--out", str(out), "--subset", "48"]
    with tfds.testing.mock_data(num_examples=64):
        assert cifar10_vgg.main(argv) == 0
    runs = check_outputs(out)
    assert all(r["options"]["data"] == "tfds:cifar10" and r["n_train"] == 48 for r in runs)


def test_missing_tfds_data_fails_fast_naming_both_options(tmp_path, monkeypatch, capsys):
    """No prepared data and no network: an error before any training, not minutes of
    retries. Where tensorflow_datasets is absent the same message says so."""
    monkeypatch.setattr(cifar10_data, "source_reachable", lambda *a, **k: False)
    monkeypatch.setattr(study, "train_one", lambda *a, **k: pytest.fail("trained"))
    argv = [*TINY, "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]
    assert cifar10_vgg.main(argv) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "--npz" in err and "CIFAR-10 is not available" in err


def test_source_reachable_is_false_for_a_closed_port():
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listened
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert cifar10_data.source_reachable(("127.0.0.1", port), timeout=1.0) is False


def test_npz_with_missing_arrays_is_a_data_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(cifar10_data.DataError, match="lacks arrays"):
        cifar10_data.load_npz(str(path))


def test_flat_labels_accepted(tmp_path):
    data = cifar10_data.load_npz(str(write_tiny_npz(tmp_path / "t.npz", column_labels=False)))
    assert data["y_train"].shape == (64,) and data["y_test"].dtype == np.int32


def test_augmentation_is_a_pad4_crop_and_flip(tmp_path):
    """Each augmented image is a shifted (by at most 4 px, zero fill) and maybe mirrored
    copy of its input; at inference the layer is the identity."""
    import keras

    layer = PadCropFlip(seed=1)
    x = np.random.default_rng(0).uniform(1, 2, (16, 32, 32, 3)).astype("float32")
    y = np.asarray(keras.ops.convert_to_numpy(layer(x, training=True)))
    np.testing.assert_array_equal(
        np.asarray(keras.ops.convert_to_numpy(layer(x, training=False))), x
    )
    padded = np.pad(x, [(0, 0), (4, 4), (4, 4), (0, 0)])
    seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if np.array_equal(
                (padded[i, :, ::-1] if flip else padded[i])[dy : dy + 32, dx : dx + 32], y[i]
            )
        ]
        assert matches, f"image {i} is not a pad-4 crop (and flip) of its input"
        seen.update(matches)
    assert len(seen) > 4  # offsets and flips are drawn per image


@pytest.mark.skipif(BACKEND == "torch", reason="--distribute: jax and tensorflow only")
def test_distribute_on_two_virtual_cpus_keeps_initial_weights(tmp_path):
    """Two virtual CPU devices in a fresh process: the data-parallel model starts from
    exactly the single-device weights for the same seed, and trains."""
    npz = write_tiny_npz(tmp_path / "tiny.npz")
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO / "examples")!r})
        import keras, numpy as np
        if keras.config.backend() == "tensorflow":
            import tensorflow as tf
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
            assert len(tf.config.list_logical_devices("CPU")) == 2
        else:
            assert len(keras.distribution.list_devices()) == 2
        import cifar10_vgg
        from studylib import cifar10_data, study, training
        argv = {TINY!r} + ["--npz", {str(npz)!r}, "--inits", "glorot_gain", "--seeds", "3,"]
        args = cifar10_vgg.parse_args(argv)
        data = cifar10_data.load_data(args.npz)
        build = training.build_for_run
        single = build(args, "glorot_gain", 3, data, 2).get_weights()
        args.distribute = True
        multi = build(args, "glorot_gain", 3, data, 2).get_weights()
        assert len(single) == len(multi) > 10
        for a, b in zip(single, multi):
            np.testing.assert_array_equal(a, b)
        record = study.train_one(args, "glorot_gain", 3, data, build)
        assert 0 <= record["final_test_accuracy"] <= 1, record
        print("OK", len(single))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_summary_statistics_and_epochs_to_target():
    """Mean ± std, the t-interval and epochs to target, on runs with known numbers."""
    from studylib import report as cifar10_report

    def run(seed, curve, diverged=False):
        final = None if diverged else curve[-1]
        return {"init": "he_normal", "seed": seed, "options": {"model": "vgg11"},
                "test_accuracy": curve, "final_test_accuracy": final, "diverged": diverged,
                "wall_seconds": 10.0, "images_per_second": 100.0}  # fmt: skip

    runs = [run(0, [0.3, 0.5]), run(1, [0.45, 0.6]), run(2, [0.2, 0.3, 0.7]), run(3, [0.1], True)]
    text = cifar10_report.summary_markdown(runs, target=0.45)
    # accs 0.5, 0.6, 0.7: mean 60, std 10, half-width t(2) * 10 / sqrt(3) = 24.84
    # epochs to 45%: 2, 1, 3 -> median 2 in 3 of 4 runs; one of four diverged.
    assert "| `he_normal` | 4 | 60.00 ± 10.00 | [35.16, 84.84] | 2 (3/4) | 1/4 |" in text


def test_onecycle_schedule_shape():
    import keras

    sched = training.OneCycle(peak=0.1, total_steps=100)
    lr = [float(keras.ops.convert_to_numpy(sched(s))) for s in (0, 15, 30, 65, 100)]
    assert lr[0] < lr[1] < lr[2] and abs(lr[2] - 0.1) < 1e-6
    assert lr[2] > lr[3] > lr[4] and lr[4] < 1e-6


def test_mixed_precision_policy_keeps_float32_logits(tiny_npz):
    import keras

    args = cifar10_vgg.parse_args([*TINY, "--npz", str(tiny_npz), "--mixed-precision"])
    data = cifar10_data.load_data(args.npz)
    with study.dtype_policy(study.policy_name(args.mixed_precision)):
        model = training.build_for_run(args, "glorot_gain", 0, data, 2)
    conv = next(la for la in model.layers if isinstance(la, keras.layers.Conv2D))
    assert conv.compute_dtype in ("float16", "bfloat16") and conv.kernel.dtype == "float32"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the scope put it back


def test_mixed_precision_run_does_not_leak_into_the_next(tmp_path, tiny_npz, monkeypatch):
    """The global dtype policy is back to what it was after a --mixed-precision study, and
    after a run that failed half-way."""
    import keras

    argv = [*TINY, "--npz", str(tiny_npz), "--mixed-precision", "--inits", "he_normal"]
    argv += ["--seeds", "0,", "--out", str(tmp_path / "mixed")]
    assert cifar10_vgg.main(argv) == 0
    (run,) = read_lines(tmp_path / "mixed")
    assert run["dtype_policy"] in ("mixed_float16", "mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"

    seen = []

    def fail_in_fit(model, *args, **kwargs):
        seen.append(keras.config.dtype_policy().name)
        raise RuntimeError("simulated failure in fit")

    monkeypatch.setattr(study, "fit_model", fail_in_fit)
    with pytest.raises(RuntimeError, match="simulated failure"):
        cifar10_vgg.main([*argv[:-1], str(tmp_path / "failed")])
    assert seen == [run["dtype_policy"]] and keras.config.dtype_policy().name == "float32"


@pytest.fixture
def restore_determinism():
    """--deterministic switches process-wide backend flags: put them back for other tests."""
    yield
    if BACKEND == "torch":
        import torch

        torch.use_deterministic_algorithms(False)
    elif BACKEND == "tensorflow":
        from tensorflow.python.framework import config

        config.disable_op_determinism()


def test_deterministic_runs_repeat_and_are_recorded(tmp_path, tiny_npz, restore_determinism):
    """Two --deterministic studies with the same seed give the same curves, the backend's
    switch is on, and each line says deterministic=true."""
    argv = [*TINY, "--npz", str(tiny_npz), "--deterministic", "--inits", "glorot_gain"]
    argv += ["--seeds", "1,", "--no-batch-norm"]
    runs = []
    for name in ("a", "b"):
        assert cifar10_vgg.main([*argv, "--out", str(tmp_path / name)]) == 0
        (run,) = read_lines(tmp_path / name)
        runs.append(run)
    assert all(r["deterministic"] is True for r in runs)
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert runs[0][key] == runs[1][key], key
    assert "--xla_gpu_deterministic_ops=true" in os.environ["XLA_FLAGS"]
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    if BACKEND == "torch":
        import torch

        assert torch.are_deterministic_algorithms_enabled()
    elif BACKEND == "tensorflow":
        from tensorflow.python.framework import config

        assert config.is_op_determinism_enabled()


@pytest.mark.one_backend
def test_a_killed_run_resumes_after_its_last_finished_epoch(tmp_path):
    """SIGKILL after an epoch's backup; the rerun continues from there, and its runs.jsonl
    line holds every epoch once, with the package version and commit."""
    npz = write_tiny_npz(tmp_path / "kill.npz", n_train=1024, n_test=64)
    out = tmp_path / "out"
    argv = [str(SCRIPT), "--npz", str(npz), "--out", str(out), "--model", "vgg11"]
    argv += ["--width", "0.125", "--epochs", "5", "--batch-size", "32", "--verbose", "0"]
    argv += ["--inits", "glorot_gain", "--seeds", "0,", "--no-augment"]
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    process = subprocess.Popen([sys.executable, *argv], env=env, stderr=subprocess.DEVNULL)
    metadata = None
    try:
        for _ in range(6000):  # up to 10 minutes on a busy machine
            for path in out.glob("backup/*/state/training_metadata.json"):
                try:
                    if json.loads(path.read_text()).get("epoch", 0) >= 1:
                        metadata = path
                except ValueError:  # caught mid-write: look again
                    pass
            if metadata is not None:
                break
            if process.poll() is not None:
                break
            time.sleep(0.1)
        process.kill()  # SIGKILL: no cleanup in the child
    finally:
        process.wait()
    assert metadata is not None, "no epoch was backed up before the run ended"
    assert not (out / "runs.jsonl").exists() or not read_lines(out)
    saved = json.loads(metadata.read_text())["epoch"]
    assert 1 <= saved < 5
    rerun = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    (run,) = read_lines(out)
    assert run["resumed_after_epoch"] >= saved
    assert run["epochs_run"] == 5
    for curve in ("train_loss", "test_accuracy", "train_seconds_per_epoch"):
        assert len(run[curve]) == 5 and all(np.isfinite(run[curve])), curve
    assert run["package_version"] == keras_glorot.__version__
    assert is_commit_of_this_checkout(run["git_commit"])
    assert not (out / "backup").exists()


def test_a_run_recorded_under_an_old_name_is_not_run_again(tmp_path, tiny_npz, monkeypatch):
    """Resume keys hold the initializer's name: a glorot_leaky run of a leaky-ReLU study
    is the glorot_gain run of the same command (the same kernels), and rerunning that command
    skips it."""
    out = tmp_path / "out"
    argv = [*TINY, "--npz", str(tiny_npz), "--out", str(out), "--activation", "leaky_relu"]
    argv = [a for a in argv if a != "glorot_uniform"]  # --inits glorot_gain, seeds 0, 1
    args = cifar10_vgg.parse_args(argv)
    out.mkdir()
    old = [{"init": "glorot_leaky", "seed": s, "options": study.run_options(args)}
           for s in (0, 1)]  # fmt: skip
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))

    def must_not_train(*args, **kwargs):
        raise AssertionError("a run already recorded was trained again")

    monkeypatch.setattr(study, "train_one", must_not_train)
    monkeypatch.setattr(study, "write_reports", lambda *a, **k: None)
    assert cifar10_vgg.main(argv) == 0


def test_a_package_imported_from_another_checkout_is_named_with_its_own_state(tmp_path):
    """A run records the commit of the scripts' checkout; where Python imported the package
    from elsewhere (an editable install of another checkout), that commit does not describe
    the code that ran, so the record names the package's own checkout and its state."""
    other = tmp_path / "other"
    (other / "keras_glorot").mkdir(parents=True)
    init = other / "keras_glorot" / "__init__.py"
    init.write_text("x = 1\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(other), *args], check=True, text=True,
                              capture_output=True).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    record = study.source_record.__wrapped__(str(init))
    assert record["package_path"] == str(other.resolve())
    assert (record["package_git_commit"], record["package_git_dirty"]) == (git("rev-parse", "HEAD"),
                                                                            False)  # fmt: skip
    init.write_text("x = 2\n")  # an edit the commit does not hold
    assert study.source_record.__wrapped__(str(init))["package_git_dirty"] is True
    # An installed copy in a folder inside a work tree (a virtual env in a clone) is not
    # that work tree's code: no commit is claimed for it.
    installed = other / "venv" / "site-packages" / "keras_glorot"
    installed.mkdir(parents=True)
    record = study.source_record.__wrapped__(str(installed / "__init__.py"))
    assert record["package_path"] == str(installed.parent.resolve())
    assert (record["package_git_commit"], record["package_git_dirty"]) == (None, None)
    # The package of this checkout: nothing more to say than the checkout's own commit.
    here = study.source_record.__wrapped__(str(REPO / "keras_glorot" / "__init__.py"))
    assert "package_path" not in here
