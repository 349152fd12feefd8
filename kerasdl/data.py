"""Datasets for the chapter's runs: MNIST (full, or the bundled mnist-mini) and a regression set;
and beyond the chapter, Keras's Fashion-MNIST, CIFAR-10 and CIFAR-100 (`kerasdl.data_keras`) and
your own ``.npz`` or ``.csv`` file (`kerasdl.data_files`).

`load_dataset(config)` returns a `Dataset`: NumPy arrays ready for a model (float32 inputs,
normalised; integer labels), split into train / validation / test. The validation set is held
out of the training set (stratified by digit, seeded), so the test set is only for the end.
Images are flat vectors for the chapter's MLP and ``(height, width, channels)`` for any other
network (`flat_inputs`).

Full MNIST comes from the first of these that exists (`resolve_mnist_source` says which, and
why, without importing TensorFlow or downloading anything):

1. ``data.data_dir`` (``--data-dir``): a folder with the four IDX files
   (``train-images-idx3-ubyte.gz``, ...; gzipped or not) or a Keras-style ``mnist.npz``,
   or the path of such an ``.npz``;
2. the environment variable ``KERASDL_DATA_DIR``, likewise;
3. Keras's cache, ``$KERAS_HOME/datasets/mnist.npz`` (default ``~/.keras/datasets/``);
4. Keras's own download (``keras.datasets.mnist.load_data``), given `DOWNLOAD_TIMEOUT_S`
   seconds; skipped when ``KERASDL_OFFLINE`` is set;
5. the bundled ``mnist-mini`` (600 training and 100 test images per digit), with a one-line
   `Dataset.notice` saying so: in full the first time for this user, then in a short form
   (`mnist_mini_notice`; a marker file in `cache_dir` remembers).

A folder named in 1 or 2 that holds no MNIST, or a corrupt file, is a `DataError`, never a
silent fallback.

`make_tf_dataset` is the ``tf.data`` pipeline: the order of every epoch is a permutation fixed
by ``(seed, epoch)`` alone, so a resumed run sees the batches an uninterrupted one would.
`EpochDataset` packages it for ``model.fit``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import math
import os
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np

from kerasdl.config import TrainConfig

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "IMAGE_DATASETS",
    "MNIST_FILES",
    "DataError",
    "Dataset",
    "DownloadFailed",
    "EpochArrays",
    "EpochDataset",
    "SourceInfo",
    "cache_dir",
    "epoch_order",
    "flat_inputs",
    "image_inputs",
    "keras_cache_paths",
    "load_dataset",
    "load_mnist_arrays",
    "make_regression",
    "make_tf_dataset",
    "mnist_mini_notice",
    "model_io_sizes",
    "normalize_images",
    "pixel_statistics",
    "read_idx",
    "resolve_mnist_source",
    "run_bounded",
    "split_indices",
]

#: The four files of the standard MNIST distribution, by role.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
ENV_DATA_DIR = "KERASDL_DATA_DIR"
ENV_OFFLINE = "KERASDL_OFFLINE"
ENV_CACHE_DIR = "KERASDL_CACHE_DIR"
#: The file in `cache_dir` that says the mnist-mini notice was shown in full once.
MNIST_MINI_NOTICE_MARKER = "mnist-mini-notice-shown"
#: How long Keras's MNIST download may take before kerasdl gives up and uses mnist-mini.
DOWNLOAD_TIMEOUT_S = 20.0
BUNDLED_MNIST_MINI = Path(__file__).resolve().parent / "datasets" / "mnist_mini.npz"

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049
# Tags that keep the generators of one seed apart (the split, the regression set, ...).
_SPLIT_STREAM = 0x5350
_REGRESSION_STREAM = 0x5247


class DataError(ValueError):
    """A dataset that cannot be found or read; the message names the file or folder."""


# ---------------------------------------------------------------------------------------------
# Where MNIST comes from.


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """Which MNIST source `load_dataset` would use, and why.

    Attributes:
        kind: ``"data_dir"``, ``"env"``, ``"keras_cache"``, ``"keras_download"`` or
            ``"bundled"``.
        path: The file or folder read (``None`` for a download).
        format: ``"idx"``, ``"npz"`` or ``None`` (a download gives Keras's npz).
        label: A short description, e.g. ``"KERASDL_DATA_DIR=/data/mnist (IDX)"``; it becomes
            `Dataset.source`.
        reason: Why this source, in a sentence.
        skipped: The sources looked at before it and why each was not used.
    """

    kind: str
    path: str | None
    format: str | None
    label: str
    reason: str
    skipped: tuple[str, ...] = ()


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _mnist_in(location: Path, what: str) -> tuple[str, Path]:
    """``("idx", folder)`` or ``("npz", file)`` for a folder or .npz named by the user."""
    if location.is_file():
        if location.suffix == ".npz":
            return "npz", location
        raise DataError(f"{what}: {location} is a file but not an .npz; give the folder instead")
    if not location.is_dir():
        raise DataError(f"{what}: {location} does not exist")
    found = {role: _idx_file(location, stem) for role, stem in MNIST_FILES.items()}
    if all(found.values()):
        return "idx", location
    if (location / "mnist.npz").is_file():
        return "npz", location / "mnist.npz"
    if any(found.values()):
        missing = ", ".join(f"{MNIST_FILES[r]}.gz" for r, p in found.items() if p is None)
        raise DataError(f"{what}: {location} lacks {missing}")
    expected = ", ".join(f"{stem}.gz" for stem in MNIST_FILES.values())
    raise DataError(f"{what}: no MNIST in {location} (expected {expected}, or mnist.npz)")


def keras_cache_paths(name: str = "mnist.npz") -> list[Path]:
    """Where Keras keeps (or would keep) ``datasets/<name>``, as its ``get_file`` decides:
    ``$KERAS_HOME`` (default ``~/.keras``), then ``/tmp/.keras``."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home).expanduser()] if home else [Path.home() / ".keras"]
    bases.append(Path("/tmp") / ".keras")  # Keras's fallback when the first is not writable
    seen, paths = set(), []
    for base in bases:
        path = base / "datasets" / name
        if path not in seen:
            seen.add(path)
            paths.append(path)
    return paths


def resolve_mnist_source(data_dir: str | os.PathLike | None = None) -> SourceInfo:
    """Which full-MNIST source would be used, and why; downloads and imports nothing heavy.

    Raises `DataError` when ``data_dir`` or ``KERASDL_DATA_DIR`` names a location without
    MNIST (an explicit choice is never skipped silently).
    """
    skipped = []
    if data_dir:
        fmt, path = _mnist_in(Path(data_dir).expanduser(), "data.data_dir")
        return SourceInfo(
            "data_dir",
            str(path),
            fmt,
            f"data_dir={path} ({fmt.upper()})",
            "data.data_dir (--data-dir) was given",
        )
    skipped.append("data.data_dir: not set")
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        fmt, path = _mnist_in(Path(env).expanduser(), ENV_DATA_DIR)
        return SourceInfo(
            "env",
            str(path),
            fmt,
            f"{ENV_DATA_DIR}={path} ({fmt.upper()})",
            f"{ENV_DATA_DIR} is set",
            tuple(skipped),
        )
    skipped.append(f"{ENV_DATA_DIR}: not set")
    for path in keras_cache_paths():
        if path.is_file():
            return SourceInfo(
                "keras_cache",
                str(path),
                "npz",
                f"keras cache {path}",
                "Keras has already downloaded MNIST",
                tuple(skipped),
            )
    skipped.append("keras cache: no " + " or ".join(str(p) for p in keras_cache_paths()))
    if os.environ.get(ENV_OFFLINE, ""):
        return SourceInfo(
            "bundled",
            str(BUNDLED_MNIST_MINI),
            "npz",
            "bundled mnist-mini",
            f"{ENV_OFFLINE} is set, so no download is tried",
            tuple(skipped),
        )
    return SourceInfo(
        "keras_download",
        None,
        None,
        "keras download",
        f"no local copy: Keras would download it (given {DOWNLOAD_TIMEOUT_S:g} s; "
        "the bundled mnist-mini if that fails)",
        tuple(skipped),
    )


# ---------------------------------------------------------------------------------------------
# Reading.


def read_idx(path: str | os.PathLike, *, kind: str) -> np.ndarray:
    """An IDX file (gzipped or not) as uint8: images ``(n, rows, cols)`` or labels ``(n,)``.

    ``kind`` is ``"images"`` (magic 2051) or ``"labels"`` (magic 2049). A wrong magic number,
    a size that disagrees with the header, or a broken gzip stream raises `DataError`.
    """
    path = Path(path)
    magic, dims = (_IMAGES_MAGIC, 3) if kind == "images" else (_LABELS_MAGIC, 1)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    header = 4 + 4 * dims
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX {kind} header")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(
            f"{path}: magic number {found}, expected {magic} (MNIST {kind}); "
            "is it the right file, and is it intact?"
        )
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX {kind} header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: {len(raw) - header} data bytes, but the header says {shape} "
            f"({expected} bytes); the file is truncated or corrupt"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _check_arrays(x_train, y_train, x_test, y_test, where: str):
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{where}: {name} images have shape {x.shape}, not (n, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: {len(x)} {name} images but labels of shape {y.shape}")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{where}: {name} labels outside 0-9")
        if len(y) == 0:
            raise DataError(f"{where}: no {name} images")


def _read_npz(path: Path):
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
            arrays = tuple(np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    except KeyError as err:
        raise DataError(f"{path}: not an MNIST npz (missing {err})") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    if any(a.dtype.kind not in "ui" for a in arrays):
        raise DataError(f"{path}: MNIST arrays must be integers (uint8 pixels and labels)")
    x_train, y_train, x_test, y_test = arrays
    _check_arrays(x_train, y_train, x_test, y_test, str(path))
    if max(x_train.max(), x_test.max()) > 255 or min(x_train.min(), x_test.min()) < 0:
        raise DataError(f"{path}: pixels outside 0-255")
    return (
        x_train.astype(np.uint8, copy=False),
        y_train.astype(np.uint8, copy=False),
        x_test.astype(np.uint8, copy=False),
        y_test.astype(np.uint8, copy=False),
    )


def _read_idx_folder(folder: Path):
    arrays = []
    for role, stem in MNIST_FILES.items():
        arrays.append(read_idx(_idx_file(folder, stem), kind=role.split("_")[1]))
    _check_arrays(*arrays, str(folder))
    return tuple(arrays)


class DownloadFailed(Exception):
    """A Keras dataset loader that raised or did not answer in time (`run_bounded`)."""


_DownloadFailed = DownloadFailed


def run_bounded(loader, timeout: float, thread_name: str):
    """``loader()`` (a Keras dataset loader, which may download), abandoned after ``timeout`` s.

    The loader runs in a daemon thread: a download that hangs (a network that drops packets)
    costs at most ``timeout`` and never blocks the exit of the process.

    Raises:
        DownloadFailed: It raised (its first line, at most 200 characters) or did not answer.
    """
    outcome = {}

    def work():
        try:
            outcome["arrays"] = loader()
        except BaseException as err:  # reported to the caller
            outcome["error"] = err

    thread = threading.Thread(target=work, name=thread_name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _DownloadFailed(f"no answer within {timeout:g} s")
    if "error" in outcome:
        err = outcome["error"]
        raise _DownloadFailed(f"{type(err).__name__}: {err}".strip().splitlines()[0][:200])
    return outcome["arrays"]


def _keras_download(timeout: float):
    """``keras.datasets.mnist.load_data()``, abandoned after ``timeout`` seconds (`run_bounded`)."""
    import keras

    loader = keras.datasets.mnist.load_data  # looked up now, in this thread
    result = run_bounded(loader, timeout, "kerasdl-mnist-download")
    try:
        (x_train, y_train), (x_test, y_test) = result
        arrays = tuple(np.asarray(a) for a in (x_train, y_train, x_test, y_test))
        _check_arrays(*arrays, "keras.datasets.mnist.load_data()")
    except (TypeError, ValueError) as err:
        raise _DownloadFailed(f"unexpected result: {err}") from None
    return tuple(a.astype(np.uint8, copy=False) for a in arrays)


def _bundled():
    if not BUNDLED_MNIST_MINI.is_file():  # pragma: no cover - a broken installation
        raise DataError(f"the bundled mnist-mini is missing: {BUNDLED_MNIST_MINI}")
    return _read_npz(BUNDLED_MNIST_MINI)


def cache_dir() -> Path:
    """kerasdl's per-user cache folder: ``KERASDL_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/kerasdl``, else ``~/.cache/kerasdl``. Nothing is created here."""
    env = os.environ.get(ENV_CACHE_DIR, "")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "kerasdl"


def _first_time(marker: str) -> bool:
    """True unless the marker file ``cache_dir() / marker`` exists; creates it.

    Also True when the cache folder cannot be found or written (so nothing is ever remembered
    there, and a run never fails for it).
    """
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # not a folder, unwritable, or no home folder to be found
        return True
    try:
        fd = os.open(folder / marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError:
        return True
    with contextlib.suppress(OSError):
        os.write(fd, b"kerasdl showed the mnist-mini notice in full once; later runs shorten it\n")
    os.close(fd)
    return True


def mnist_mini_notice(reason: str, long: str) -> str:
    """The notice for a run that fell back to mnist-mini, in full once per user.

    The first call for this user creates the marker `MNIST_MINI_NOTICE_MARKER` in `cache_dir`
    and returns ``long``; later calls return one short line (under 100 characters) naming the
    data and how to get full MNIST. Where the marker cannot be written, ``long`` every time.

    Args:
        reason: Why mnist-mini, in a few words (``"MNIST download failed"``).
        long: The full notice.
    """
    if _first_time(MNIST_MINI_NOTICE_MARKER):
        return long
    return f"Using the bundled mnist-mini ({reason}); for full MNIST set {ENV_DATA_DIR}."


def load_mnist_arrays(source: SourceInfo, *, timeout: float | None = None):
    """``((x_train, y_train, x_test, y_test) as uint8, label, notice)`` from ``source``.

    A failed download, or ``KERASDL_OFFLINE`` without a local MNIST, falls back to the bundled
    mnist-mini; ``notice`` then says so in one line (``None`` otherwise): the full text the
    first time for this user, a short one after (`mnist_mini_notice`).
    """
    if source.kind == "keras_download":
        timeout = DOWNLOAD_TIMEOUT_S if timeout is None else timeout
        try:
            return _keras_download(timeout), "keras download", None
        except _DownloadFailed as err:
            notice = mnist_mini_notice(
                "MNIST download failed",
                f"MNIST could not be downloaded ({err}); using the bundled mnist-mini "
                f"(600 training and 100 test images per digit). For full MNIST, set "
                f"{ENV_DATA_DIR} or data.data_dir to a folder with the MNIST files. "
                f"(Shown in full once; later runs say it in one short line.)",
            )
            return _bundled(), "bundled mnist-mini", notice
    if source.kind == "bundled":  # resolve_mnist_source gives it only when offline
        notice = mnist_mini_notice(
            f"{ENV_OFFLINE} is set",
            f"No local MNIST and {ENV_OFFLINE} is set: using the bundled mnist-mini "
            f"(600 training and 100 test images per digit). For full MNIST, set "
            f"{ENV_DATA_DIR} or data.data_dir to a folder with the MNIST files. "
            f"(Shown in full once; later runs say it in one short line.)",
        )
        return _bundled(), source.label, notice
    path = Path(source.path)
    arrays = _read_idx_folder(path) if source.format == "idx" else _read_npz(path)
    return arrays, source.label, None


# ---------------------------------------------------------------------------------------------
# Preparing.


def normalize_images(x: np.ndarray, mean, std, *, flatten: bool = True):
    """``(x / 255 - mean) / std`` as float32, as PyTorch's ``ToTensor`` + ``Normalize`` do.

    The arithmetic is float32 step by step (divide, subtract, divide), like torchvision's,
    through a 256-entry lookup table, so the values equal PyTorch's bit for bit. ``flatten``
    turns ``(n, 28, 28)`` into ``(n, 784)``. ``mean`` and ``std`` may be sequences, one per
    channel of ``(n, height, width, channels)`` images (CIFAR's per-channel statistics).
    """
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    x = np.asarray(x, dtype=np.uint8)
    if np.ndim(mean) == 0 and np.ndim(std) == 0:
        out = image_levels(mean, std)[x]
    else:
        mean = np.asarray(mean, np.float32).reshape(-1, 1)
        std = np.asarray(std, np.float32).reshape(-1, 1)
        tables = (levels[None, :] - mean) / std  # (channels, 256)
        out = tables[np.arange(len(tables)), x]  # x's last axis indexes the channel
    return out.reshape(len(out), math.prod(out.shape[1:])) if flatten else out


def image_levels(mean: float, std: float) -> np.ndarray:
    """The float32 value of each of the 256 pixel levels, ``(level / 255 - mean) / std``, in
    `normalize_images`'s arithmetic: ``image_levels(m, s)[x]`` is ``normalize_images(x, m, s)``
    (before flattening) bit for bit."""
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    return (levels - np.float32(mean)) / np.float32(std)


def pixel_statistics(x: np.ndarray, *, per_channel: bool) -> tuple[list, list]:
    """``(mean, std)`` of ``x / 255`` for uint8 images, over the whole array or per channel
    (the last axis), exactly, from the 256 counts of each level."""
    x = np.asarray(x, dtype=np.uint8)
    channels = [x[..., c] for c in range(x.shape[-1])] if per_channel else [x]
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for values in channels:
        counts = np.bincount(values.ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float(counts @ levels / total)
        var = float(counts @ (levels - mean) ** 2 / total)
        means.append(mean)
        stds.append(math.sqrt(var) or 1.0)
    return means, stds


def flat_inputs(config: TrainConfig) -> bool:
    """Whether the model takes flat vectors: the chapter's MLP (``model.architecture`` mlp).

    Image datasets give ``(n, height * width * channels)`` to the MLP, as MNIST's 784, and
    ``(n, height, width, channels)`` (channels last, 1 for grayscale) to any other network.
    """
    return getattr(config.model, "architecture", "mlp") == "mlp"


def image_inputs(x: np.ndarray, mean, std, config: TrainConfig) -> np.ndarray:
    """uint8 images ``(n, h, w)`` or ``(n, h, w, c)`` normalised (`normalize_images`), flat for
    the MLP, else channels last (`flat_inputs`)."""
    out = normalize_images(x, mean, std, flatten=flat_inputs(config))
    return out[..., None] if out.ndim == 3 else out


def split_indices(
    n_or_labels, fraction: float, seed: int, *, stratify: bool = True, stream: int = _SPLIT_STREAM
):
    """``(train, val)`` indices, each ascending, holding out ``fraction`` of the examples.

    With labels and ``stratify``, every class gives the same fraction (the largest-remainder
    rounding makes the total ``round(fraction * n)``); otherwise a seeded random subset. A
    fraction above 0 holds out at least one example. Only ``seed`` (and ``stream``, which keeps
    a file's test split apart from its validation split) decides the split.
    """
    labels = None if np.isscalar(n_or_labels) else np.asarray(n_or_labels)
    n = int(n_or_labels) if labels is None else len(labels)
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    n_val = min(max(1, round(fraction * n)), n - 1) if n > 1 else 0
    rng = np.random.default_rng([seed, stream])
    order = rng.permutation(n)
    if labels is None or not stratify:
        val = order[:n_val]
    else:
        labels = labels[order]
        classes, counts = np.unique(labels, return_counts=True)
        exact = counts * (n_val / n)
        take = np.floor(exact).astype(int)
        left = n_val - take.sum()
        take[np.argsort(-(exact - take), kind="stable")[:left]] += 1
        val = np.concatenate([order[labels == c][:k] for c, k in zip(classes, take, strict=True)])
    mask = np.zeros(n, dtype=bool)
    mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


# ---------------------------------------------------------------------------------------------
# The dataset.


@dataclasses.dataclass
class Dataset:
    """Arrays ready for ``fit``: float32 inputs, int32 class labels (float32 regression targets).

    Attributes:
        name: ``"mnist"``, ``"mnist-mini"`` or ``"regression"``.
        source: Where the data came from, e.g. ``"KERASDL_DATA_DIR=/x (IDX)"``,
            ``"bundled mnist-mini"``, ``"synthetic (seed 42)"``.
        notice: One line when the data fell back (e.g. offline -> mnist-mini), else None.
        x_train, y_train, x_val, y_val, x_test, y_test: The splits; ``x_train`` is None when
            only its codes were loaded (`load_dataset`'s ``decoded``; see `train_inputs`).
        task: ``"classification"`` or ``"regression"``.
        num_classes: 10 for MNIST, None for regression.
        input_shape: The shape of one input, e.g. ``(784,)``.
        train_index, val_index: The positions of the training and validation examples in the
            source's training set (after ``data.limit``).
        w_true, b_true: Regression only: the true weights ``(features,)`` and bias.
        train_outliers, val_outliers: Regression only: which targets are outliers.
        task_reason: Why the data is its task, for a file whose task was inferred
            (``"target 'price' has non-integer values"``), else None.
        messages: ``(level, message)`` notices of the loading (the task a file was read as,
            arrays of a ``.npz`` left unused), for ``notice`` events.
        details: More of what the loading decided (a file's path, its classes, the features'
            standardisation), JSON-ready and bounded; `describe` adds it.
        file_sha256: The SHA-256 of a file's bytes (the resume fingerprint), else None.
        classes: A file's original labels, in the order of the class indices, else None.
        feature_mean, feature_std: A CSV's standardisation (from its training split), else None.
        x_train_codes, x_levels: MNIST's training inputs as the uint8 pixel levels they were
            normalised from, ``x_train``'s shape, and the float32 value of each level
            (`image_levels`): ``x_levels[x_train_codes]`` is ``x_train`` bit for bit. kerasdl's
            loop holds these (a quarter of the memory) and decodes each batch in the step;
            None for other data.
    """

    name: str
    source: str
    notice: str | None
    x_train: np.ndarray | None
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int | None
    input_shape: tuple
    train_index: np.ndarray | None = None
    val_index: np.ndarray | None = None
    w_true: np.ndarray | None = None
    b_true: float | None = None
    train_outliers: np.ndarray | None = None
    val_outliers: np.ndarray | None = None
    task_reason: str | None = None
    messages: tuple = ()
    details: dict | None = None
    file_sha256: str | None = None
    classes: tuple | None = None
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None
    x_train_codes: np.ndarray | None = None
    x_levels: np.ndarray | None = None

    def train_inputs(self) -> np.ndarray:
        """``x_train``, decoded from ``x_train_codes`` if it was not (``decoded=False``)."""
        if self.x_train is not None:
            return self.x_train
        return self.x_levels[self.x_train_codes]

    def compact_train_inputs(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(x_train_codes, x_levels)`` where the inputs have codes, else
        ``(train_inputs(), None)``: what a loop that decodes per batch holds."""
        if self.x_train_codes is not None and self.x_levels is not None:
            return self.x_train_codes, self.x_levels
        return self.train_inputs(), None

    @property
    def output_units(self) -> int:
        """Units of the output layer: ``num_classes``, or 1 for regression."""
        return self.num_classes or 1

    @property
    def num_outputs(self) -> int:
        """The model's outputs: ``num_classes`` logits, or 1 for regression (`output_units`)."""
        return self.output_units

    def describe(self) -> dict:
        """``{name, source, notice, n_train, n_val, n_test}``, for the ``run_started`` event,
        and `details` when there are any (``task``, ``classes``, ``scaling``, ...)."""
        described = {
            "name": self.name,
            "source": self.source,
            "notice": self.notice,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
        }
        return {**described, **(self.details or {})}


def make_regression(
    n_train: int,
    n_test: int,
    features: int,
    *,
    noise: float,
    outlier_fraction: float,
    outlier_scale: float,
    seed: int,
):
    """The synthetic regression set with outliers (for the chapter's MSE / MAE / Huber, 3.1.2).

    ::

        x ~ N(0, 1)^features,   w_true ~ N(0, 1)^features,   b_true ~ N(0, 1)
        y = x . w_true + b_true + noise * N(0, 1)
        k = round(outlier_fraction * n_train) training targets, chosen at random, get
        y += outlier_scale * std(y_clean) * U(1, 2)        (all upwards)

    The test targets have noise but no outliers, so test metrics measure the fit on clean
    points. One-sided outliers pull an MSE fit's bias up by about
    ``outlier_fraction * 1.5 * outlier_scale * std(y)``; MAE and Huber move far less.

    Returns ``(x_train, y_train, outliers, x_test, y_test, w_true, b_true)`` with float32
    ``x``, float32 ``y`` of shape ``(n, 1)``, a boolean ``outliers`` mask over the training set.
    """
    rng = np.random.default_rng([seed, _REGRESSION_STREAM])
    w_true = rng.standard_normal(features)
    b_true = float(rng.standard_normal())
    x_train = rng.standard_normal((n_train, features))
    x_test = rng.standard_normal((n_test, features))
    y_train = x_train @ w_true + b_true + noise * rng.standard_normal(n_train)
    y_test = x_test @ w_true + b_true + noise * rng.standard_normal(n_test)
    spread = float(np.std(y_train)) or 1.0
    k = round(outlier_fraction * n_train)
    chosen = rng.choice(n_train, size=k, replace=False)
    y_train[chosen] += outlier_scale * spread * rng.uniform(1.0, 2.0, size=k)
    outliers = np.zeros(n_train, dtype=bool)
    outliers[chosen] = True
    return (
        x_train.astype(np.float32),
        y_train.astype(np.float32)[:, None],
        outliers,
        x_test.astype(np.float32),
        y_test.astype(np.float32)[:, None],
        w_true,
        b_true,
    )


MNIST_SHAPE = (28, 28)
MNIST_PIXELS = 28 * 28
MNIST_CLASSES = 10
#: One image's ``(height, width, channels)`` and the classes of the image datasets.
IMAGE_DATASETS = {
    "mnist": ((28, 28, 1), MNIST_CLASSES),
    "mnist-mini": ((28, 28, 1), MNIST_CLASSES),
    "fashion_mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
}


def model_io_sizes(config: TrainConfig) -> tuple[int, int]:
    """``(inputs, outputs)`` of the model for ``config``'s dataset, known without loading it:
    784 pixels and 10 classes for MNIST (3,072 and 100 for CIFAR-100, ...),
    ``regression_features`` and 1 for the regression set.

    Raises:
        ValueError: For ``data.name = "file"``: a file's sizes are known once it is loaded
            (use the `Dataset`: ``math.prod(input_shape)``, `Dataset.num_outputs`).
    """
    if config.data.name == "regression":
        return config.data.regression_features, 1
    if config.data.name not in IMAGE_DATASETS:
        raise ValueError(f"the sizes of data.name {config.data.name!r} are known once it is loaded")
    shape, classes = IMAGE_DATASETS[config.data.name]
    return math.prod(shape), classes


def load_dataset(
    config: TrainConfig, *, download_timeout: float | None = None, decoded: bool = True
) -> Dataset:
    """The dataset ``config.data`` names, split and normalised (see the module docstring).

    ``data.limit`` keeps the first ``limit`` training and test examples; the validation set
    (``validation_split`` of the training examples) is then held out, stratified by class for
    the classification sets, by ``config.seed`` alone. Images are flat for the MLP, else
    ``(height, width, channels)`` (`flat_inputs`). A file (``data.name = "file"``) is read by
    `kerasdl.data_files`, a Keras dataset by `kerasdl.data_keras`; a file's inferred task is
    then checked against the loss and the monitors (`kerasdl.config.check_task`).

    ``decoded=False`` leaves MNIST's ``x_train`` None: the training inputs are then only
    ``x_train_codes`` and ``x_levels`` (`Dataset.train_inputs` decodes them), which is what the
    runner loads (161 MB less for full MNIST's float32 inputs); other data are always decoded.

    Raises:
        DataError: the data cannot be found or read (the message says which file and why).
        ConfigError: the config is invalid (for a file: also once its task is known).
    """
    config.validate()
    name = config.data.name
    if name == "regression":
        return _load_regression(config)
    if name == "file":
        from kerasdl import data_files
        from kerasdl.config import check_task

        dataset = data_files.load_file_dataset(config)
        if config.task is None:  # data.task = "auto": the data decided
            check_task(config, dataset.task, dataset.task_reason or "")
        return dataset
    if name in ("mnist", "mnist-mini"):
        return _load_mnist(config, download_timeout, decoded=decoded)
    from kerasdl import data_keras

    return data_keras.load_keras_dataset(config, timeout=download_timeout)


def _load_regression(config: TrainConfig) -> Dataset:
    d, seed = config.data, config.seed
    x_pool, y_pool, outliers, x_test, y_test, w_true, b_true = make_regression(
        d.regression_samples,
        d.regression_test_samples,
        d.regression_features,
        noise=d.regression_noise,
        outlier_fraction=d.outlier_fraction,
        outlier_scale=d.outlier_scale,
        seed=seed,
    )
    if d.limit is not None:
        x_pool, y_pool, outliers = x_pool[: d.limit], y_pool[: d.limit], outliers[: d.limit]
        x_test, y_test = x_test[: d.limit], y_test[: d.limit]
    train, val = split_indices(len(y_pool), config.validation_split, seed, stratify=False)
    _need_validation_examples(val, config)
    return Dataset(
        name=d.name,
        source=f"synthetic (seed {seed})",
        notice=None,
        x_train=x_pool[train],
        y_train=y_pool[train],
        x_val=x_pool[val],
        y_val=y_pool[val],
        x_test=x_test,
        y_test=y_test,
        task="regression",
        num_classes=None,
        input_shape=(d.regression_features,),
        train_index=train,
        val_index=val,
        w_true=w_true,
        b_true=b_true,
        train_outliers=outliers[train],
        val_outliers=outliers[val],
    )


def _load_mnist(
    config: TrainConfig, download_timeout: float | None, *, decoded: bool = True
) -> Dataset:
    d = config.data
    if d.name == "mnist-mini":
        arrays, label, notice = _bundled(), "bundled mnist-mini", None
    else:
        source = resolve_mnist_source(d.data_dir or None)
        arrays, label, notice = load_mnist_arrays(source, timeout=download_timeout)
    x_pool, y_pool, x_test, y_test = arrays
    if d.limit is not None:
        x_pool, y_pool = x_pool[: d.limit], y_pool[: d.limit]
        x_test, y_test = x_test[: d.limit], y_test[: d.limit]
    train, val = split_indices(y_pool, config.validation_split, config.seed, stratify=True)
    _need_validation_examples(val, config)
    images = x_pool[train]
    codes = images.reshape(len(images), -1) if flat_inputs(config) else images[..., None]
    x_train = image_inputs(images, d.mean, d.std, config) if decoded else None
    return Dataset(
        name=d.name,
        source=label,
        notice=notice,
        x_train=x_train,
        x_train_codes=codes,
        x_levels=image_levels(d.mean, d.std),
        y_train=y_pool[train].astype(np.int32),
        x_val=image_inputs(x_pool[val], d.mean, d.std, config),
        y_val=y_pool[val].astype(np.int32),
        x_test=image_inputs(x_test, d.mean, d.std, config),
        y_test=y_test.astype(np.int32),
        task="classification",
        num_classes=MNIST_CLASSES,
        input_shape=tuple(codes.shape[1:]),
        train_index=train,
        val_index=val,
    )


def _need_validation_examples(val, config):
    if config.validation_split > 0 and len(val) == 0:
        raise DataError(
            f"validation_split={config.validation_split} of a single training example leaves "
            f"no validation set; raise data.limit (now {config.data.limit}) or set "
            "validation_split to 0"
        )


# ---------------------------------------------------------------------------------------------
# The tf.data pipeline.


def _order_tensor(n: int, seed, epoch):
    """The permutation of ``range(n)`` for ``(seed, epoch)``, as an int64 tensor (see
    `_shuffled_size`)."""
    import tensorflow as tf

    size = _shuffled_size(n)
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    order = tf.random.experimental.index_shuffle(
        tf.range(size, dtype=tf.int64), seed=key, max_index=tf.constant(size - 1, tf.int64)
    )
    return order if size == n else tf.boolean_mask(order, order < n)


def _shuffle_block_bits(max_index: int) -> int:
    """The block TensorFlow's index shuffle enciphers for ``[0, max_index]``: ``ceil(log2(
    max_index))`` bits rounded up to even, at least 16."""
    return max(16, 2 * -(-math.ceil(math.log2(max_index)) // 2))


def _shuffled_size(n: int) -> int:
    """How many indices are shuffled for an order of ``n``: ``n``, or ``n + 1`` (the index ``n``
    then dropped from the result) where TensorFlow's block cannot hold ``n - 1``.

    TensorFlow sizes its cipher's block by ``ceil(log2(n - 1))``, which is one bit short when
    ``n - 1`` is a power of two: for ``n - 1 = 2**16, 2**18, ...`` (65,537 examples, 262,145,
    ...) the block has exactly as many values as ``n - 1`` and ``index_shuffle`` is then no
    permutation (some index comes out twice, one never). Shuffling ``n + 1`` indices and
    dropping ``n`` is one.
    """
    if n > 1 and 2 ** _shuffle_block_bits(n - 1) <= n - 1:
        return n + 1
    return n


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which `make_tf_dataset` visits ``n`` examples in ``epoch`` (shuffled).

    A permutation that depends on ``(seed, epoch)`` alone, the same in every process:
    TensorFlow's stateless ``tf.random.experimental.index_shuffle`` (what the ``tf.data``
    pipeline computes in its graph, `_order_tensor`), computed here in NumPy (`_index_shuffle`),
    so that a run on the JAX backend never imports TensorFlow. ``tests/engine/test_data.py``
    checks the two equal, element for element, over sizes, seeds and epochs.
    """
    return _index_shuffle(int(n), (_TF_SEED_PAD, int(seed), int(epoch)))


# `tf.random.experimental.index_shuffle` puts this word before a [2] seed (the op's key has 3),
# and runs 4 rounds.
_TF_SEED_PAD = 498247692
_SHUFFLE_ROUNDS = 4


def _index_shuffle(n: int, key: tuple) -> np.ndarray:
    """``[index_shuffle(i, key, n - 1) for i in range(n)]`` as TensorFlow's kernel computes it
    (``tensorflow/core/kernels/random_index_shuffle.cc``): a Simon block cipher on blocks of
    `_shuffle_block_bits` (two words of half of it), ``_SHUFFLE_ROUNDS`` rounds keyed by the
    three seed words (each cast to uint32, then to the word's width), and cycle-walking: a
    value above ``n - 1`` is enciphered again. The sizes of `_shuffled_size` shuffle one more
    index, as `_order_tensor` does."""
    if _shuffled_size(n) != n:
        order = _index_shuffle(n + 1, key)
        return order[order < n]
    max_index = n - 1
    if max_index <= 0:
        return np.zeros(max(n, 0), dtype=np.int64)
    width = _shuffle_block_bits(max_index) // 2
    mask = np.uint64((1 << width) - 1)
    w = np.uint64(width)

    def rotate_left(x, r):
        return ((x << np.uint64(r)) | (x >> (w - np.uint64(r)))) & mask

    def rotate_right(x, r):
        return ((x >> np.uint64(r)) | (x << (w - np.uint64(r)))) & mask

    round_keys = [np.uint64(word % 2**32) & mask for word in key]
    z = 0x7369F885192C0EF5
    for i in range(3, _SHUFFLE_ROUNDS):
        bit = np.uint64(z & 1)
        rotated = rotate_right(round_keys[i - 1], 3) ^ rotate_right(round_keys[i - 1], 4)
        round_keys.append((np.uint64(0xFFFFFFFC) & mask) ^ bit ^ round_keys[i - 3] ^ rotated)
        z >>= 1

    def mix(x):
        return (rotate_left(x, 1) & rotate_left(x, 8)) ^ rotate_left(x, 2)

    def encipher(value):
        left, right = (value >> w) & mask, value & mask
        for i in range(0, _SHUFFLE_ROUNDS, 2):
            left = left ^ mix(right) ^ round_keys[i]
            right = right ^ mix(left) ^ round_keys[i + 1]
        return (left << w) | right

    order = encipher(np.arange(n, dtype=np.uint64))
    outside = order > np.uint64(max_index)
    while outside.any():
        order[outside] = encipher(order[outside])
        outside = order > np.uint64(max_index)
    return order.astype(np.int64)


def make_tf_dataset(
    x,
    y,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch=0,
    drop_remainder: bool = False,
):
    """``tf.data`` batches of ``(x, y)``; shuffled, the order is `epoch_order(n, seed, epoch)`.

    ::

        order = epoch_order(n, seed, epoch) if shuffle else range(n)
        batches = [(x[order[i:i + b]], y[order[i:i + b]]) for i in range(0, n, b)]

    The arrays are copied once into tensors; each batch is a gather of its indices (no
    per-example Python), prefetched. ``epoch`` may be an int or an int64 ``tf.Variable``, read
    each time the dataset is iterated: `EpochDataset` uses that to give ``fit`` a new order
    every epoch. The last batch is smaller unless ``drop_remainder``. The dataset's cardinality
    (batches per pass) is known, so Keras shows steps and ETA from the first epoch.
    """
    import tensorflow as tf

    n = len(x)
    if n == 0 or len(y) != n:
        raise ValueError(f"x and y must have the same, non-zero length; got {n} and {len(y)}")
    if batch_size < 1:
        raise ValueError(f"Argument `batch_size` must be >= 1. Received: batch_size={batch_size}")
    x_tensor = tf.convert_to_tensor(x)
    y_tensor = tf.convert_to_tensor(y)
    if shuffle:
        indices = tf.data.Dataset.range(1).flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(_order_tensor(n, seed, epoch))
        )
    else:
        indices = tf.data.Dataset.range(n)
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    dataset = (
        indices.batch(batch_size, drop_remainder=drop_remainder)
        .map(
            lambda i: (tf.gather(x_tensor, i), tf.gather(y_tensor, i)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .apply(tf.data.experimental.assert_cardinality(steps))
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset


class EpochArrays:
    """`EpochDataset`'s batches as NumPy arrays, for ``model.fit`` on the JAX and torch backends.

    A ``keras.utils.PyDataset`` of the same batches in the same order (epoch ``k`` visits
    `epoch_order(n, seed, k)`, the last batch smaller), without ``tf.data``: Keras's JAX
    trainer turns a ``tf.data`` batch into a JAX array on every step, which made kerasdl's
    preset on JAX about twice as slow an epoch as Keras's own ``fit`` over arrays. Each batch is
    a NumPy gather of its rows; with ``levels`` the inputs ``x`` are uint8 codes and a batch is
    ``levels[x[rows]]`` (`Dataset.x_train_codes`). Same contract as `EpochDataset`:
    `set_epoch` (or `callback`) before each epoch, no ``steps_per_epoch`` to ``fit``.

    Attributes:
        dataset: The ``keras.utils.PyDataset`` to give ``fit``.
        steps_per_epoch: Batches in an epoch.
    """

    def __init__(self, x, y, batch_size: int, *, seed: int, epoch: int = 0, levels=None):
        import keras

        n = len(x)
        if n == 0 or len(y) != n:
            raise ValueError(f"x and y must have the same, non-zero length; got {n} and {len(y)}")
        owner = self
        self.steps_per_epoch = -(-n // batch_size)

        class _Batches(keras.utils.PyDataset):
            def __len__(self):
                return owner.steps_per_epoch

            def __getitem__(self, index):
                rows = owner._order[index * batch_size : (index + 1) * batch_size]
                inputs = x[rows] if levels is None else levels[x[rows]]
                return inputs, y[rows]

        self._n, self._seed = n, seed
        self.dataset = _Batches(workers=1, use_multiprocessing=False)
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int):
        """Make the next pass over `dataset` epoch ``epoch`` (0-based, as Keras counts)."""
        self._order = epoch_order(self._n, self._seed, int(epoch))

    def callback(self):
        """A ``keras.callbacks.Callback`` that calls `set_epoch` in ``on_epoch_begin``."""
        return _set_epoch_callback(self)


class EpochDataset:
    """A training set for ``model.fit`` whose epoch ``k`` order is fixed by ``(seed, k)``.

    Keras iterates a finite ``tf.data.Dataset`` afresh every epoch, and calls the callbacks'
    ``on_epoch_begin(k)`` just before. `callback` sets the epoch there, so epoch ``k`` is
    shuffled by `epoch_order(n, seed, k)` whether ``fit`` started at epoch 0 or resumed with
    ``initial_epoch=k``::

        train = EpochDataset(ds.x_train, ds.y_train, 64, seed=config.seed)
        model.fit(train.dataset, epochs=20, initial_epoch=k, callbacks=[train.callback(), ...])

    Do not pass ``steps_per_epoch`` to ``fit``: the dataset ends each epoch itself (with
    ``steps_per_execution > 1`` a fixed step count would let the last execution read into
    the next epoch's batches).

    Attributes:
        dataset: The ``tf.data.Dataset`` of ``(x, y)`` batches.
        epoch: The int64 ``tf.Variable`` the order is read from.
        steps_per_epoch: Batches in an epoch.
    """

    def __init__(self, x, y, batch_size: int, *, seed: int, shuffle: bool = True, epoch: int = 0):
        import tensorflow as tf

        with tf.init_scope():
            self.epoch = tf.Variable(
                epoch, dtype=tf.int64, trainable=False, name="kerasdl_data_epoch"
            )
        self.dataset = make_tf_dataset(
            x, y, batch_size, shuffle=shuffle, seed=seed, epoch=self.epoch
        )
        self.steps_per_epoch = -(-len(x) // batch_size)

    def set_epoch(self, epoch: int):
        """Make the next pass over `dataset` epoch ``epoch`` (0-based, as Keras counts)."""
        self.epoch.assign(int(epoch))

    def callback(self):
        """A ``keras.callbacks.Callback`` that calls `set_epoch` in ``on_epoch_begin``."""
        return _set_epoch_callback(self)


def _set_epoch_callback(owner):
    import keras

    class _SetDataEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            owner.set_epoch(epoch)

    return _SetDataEpoch()
