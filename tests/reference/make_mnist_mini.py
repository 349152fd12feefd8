"""Make ``kerasdl/datasets/mnist_mini.npz`` and its ``PROVENANCE.md`` from full MNIST.

Usage (NumPy only; the four standard IDX ``.gz`` files in one folder)::

    python tests/reference/make_mnist_mini.py /work/shared/data/mnist
    python tests/reference/make_mnist_mini.py /work/shared/data/mnist --out /tmp/x   # elsewhere

Selection rule: for each digit 0-9, ``TRAIN_PER_CLASS`` images of the training file and
``TEST_PER_CLASS`` of the test file, drawn without replacement by
``numpy.random.default_rng(SEED).choice`` over that digit's indices (digits in order 0..9, the
training file first); the chosen images are stored in their order in the original file, with
those original indices (``train_index``, ``test_index``). The arrays use the names of Keras's
``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``), uint8.

The output is byte-for-byte reproducible: the zip entries carry a fixed timestamp. This script
parses IDX on its own (not with ``kerasdl.data``), so the test that compares the subset with
full MNIST checks two independent readers.
"""

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

SEED = 20240607
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "kerasdl" / "datasets"


def _read(path, magic, header_ints):
    raw = gzip.decompress(path.read_bytes())
    header = np.frombuffer(raw, ">u4", count=header_ints)
    assert header[0] == magic, f"{path}: magic {header[0]}, expected {magic}"
    dims = tuple(int(d) for d in header[1:])
    data = np.frombuffer(raw, np.uint8, offset=4 * header_ints)
    assert data.size == int(np.prod(dims)), f"{path}: {data.size} bytes for shape {dims}"
    return data.reshape(dims)


def load(source):
    source = Path(source)
    return (
        _read(source / FILES["train_images"], 2051, 4),
        _read(source / FILES["train_labels"], 2049, 2),
        _read(source / FILES["test_images"], 2051, 4),
        _read(source / FILES["test_labels"], 2049, 2),
    )


def select(labels, per_class, rng):
    """Indices of ``per_class`` examples of each digit, ascending."""
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), size=per_class, replace=False)
        for digit in range(10)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int32)


def make(source):
    x_train, y_train, x_test, y_test = load(source)
    rng = np.random.default_rng(SEED)
    train_index = select(y_train, TRAIN_PER_CLASS, rng)
    test_index = select(y_test, TEST_PER_CLASS, rng)
    return {
        "x_train": x_train[train_index],
        "y_train": y_train[train_index],
        "x_test": x_test[test_index],
        "y_test": y_test[test_index],
        "train_index": train_index,
        "test_index": test_index,
    }


def npz_bytes(arrays):
    """``np.savez_compressed`` with a fixed zip timestamp, so equal arrays give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def provenance(source, arrays, npz):
    source = Path(source)
    rows = "\n".join(
        f"| `{name}` | `{sha256((source / name).read_bytes())}` |" for name in FILES.values()
    )
    train_counts = ", ".join(str(int(c)) for c in np.bincount(arrays["y_train"], minlength=10))
    test_counts = ", ".join(str(int(c)) for c in np.bincount(arrays["y_test"], minlength=10))
    n_train, n_test = len(arrays["y_train"]), len(arrays["y_test"])
    return (
        f"""# mnist-mini: a stratified subset of MNIST bundled with kerasdl

`mnist_mini.npz` holds {n_train} training and {n_test} test images of MNIST,
{TRAIN_PER_CLASS} and {TEST_PER_CLASS} of each digit. It lets `kerasdl train` run on a machine
without the full dataset and without a network: `kerasdl.data` uses it for
`data.name = "mnist-mini"`, and falls back to it, with a notice, when full MNIST can be neither
found nor downloaded.

## Licence and authors

MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, and is available under
the Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,
<https://creativecommons.org/licenses/by-sa/3.0/>). This subset is a derivative of it and is
shared under the same licence. MNIST itself is derived from NIST Special Databases 1 and 3.
Original page: <http://yann.lecun.com/exdb/mnist/>.

## Source

The four files of the standard distribution (byte-identical to the official ones; see
`shared/data/mnist/SOURCE.md` in the kerasdl workspace), SHA-256 of the compressed files:

| file | sha256 |
| --- | --- |
{rows}

## Selection rule

Made by `tests/reference/make_mnist_mini.py` (NumPy {np.__version__}):

1. For each digit 0, 1, ..., 9 in turn, `numpy.random.default_rng({SEED}).choice` draws
   {TRAIN_PER_CLASS} indices without replacement from that digit's indices in the training
   file; then, with the same generator, {TEST_PER_CLASS} per digit from the test file.
2. The chosen images keep their pixels unchanged (uint8, 28x28) and are stored in their
   order in the original file; `train_index` and `test_index` give each image's index there.

## Contents

| array | shape | dtype |
| --- | --- | --- |
"""
        + "\n".join(f"| `{name}` | {tuple(a.shape)} | {a.dtype} |" for name, a in arrays.items())
        + f"""

Images per digit 0-9: train {train_counts}; test {test_counts}.

`mnist_mini.npz`: {len(npz):,} bytes, sha256 `{sha256(npz)}`. The script
reproduces it byte for byte (fixed zip timestamps; the same zlib).
"""
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args = parser.parse_args(argv)
    arrays = make(args.source)
    npz = npz_bytes(arrays)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mnist_mini.npz").write_bytes(npz)
    (out / "PROVENANCE.md").write_text(provenance(args.source, arrays, npz))
    print(f"{out / 'mnist_mini.npz'}: {len(npz):,} bytes, sha256 {sha256(npz)}")


if __name__ == "__main__":
    main()
