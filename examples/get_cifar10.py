"""Write CIFAR-10 as the ``cifar10.npz`` that every study script reads with ``--npz``.

Two routes, the same file (``keras.datasets.cifar10`` layout: x_train, y_train, x_test,
y_test, uint8)::

    # online: Keras' own download (170 MB, cached in ~/.keras/datasets), any backend
    python examples/get_cifar10.py

    # offline: from the official cifar-10-python.tar.gz, fetched elsewhere from
    # https://www.cs.toronto.edu/~kriz/cifar.html and copied here; needs only NumPy
    python examples/get_cifar10.py --tarball cifar-10-python.tar.gz

Data: Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
# The shared modules live in studylib/ next to this file; make them importable however it is run.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.cli_args import Parser, backend_problem  # noqa: E402  (no Keras yet)


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--tarball",
        metavar="PATH",
        help="the official cifar-10-python.tar.gz, read offline (default: none, download "
        "through keras.datasets.cifar10)",
    )
    p.add_argument(
        "--out",
        default="cifar10.npz",
        metavar="PATH",
        help="the file to write; .npz is added to a name without it, as NumPy does "
        "(default: %(default)s)",
    )
    args = p.parse_args(argv)
    if args.tarball and not pathlib.Path(args.tarball).is_file():
        p.error(f"--tarball {args.tarball}: no such file.")
    if not args.tarball and backend_problem():
        p.error(f"{backend_problem()} Or pass --tarball, which needs no backend.")
    from studylib import cifar10_data

    if args.tarball:
        try:
            data = cifar10_data.arrays_from_tarball(args.tarball)
        except cifar10_data.DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    else:
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        except Exception as e:  # the download: no network, a proxy, a full disk
            print(
                f"error: Keras could not download CIFAR-10 ({type(e).__name__}: {e}). "
                "Without a network, copy cifar-10-python.tar.gz here and pass --tarball.",
                file=sys.stderr,
            )
            return 2
        data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    written = cifar10_data.write_npz(data, args.out)
    print(
        f"wrote {written}: {len(data['x_train'])} training and {len(data['x_test'])} test "
        f"images; pass --npz {written} to the study scripts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
