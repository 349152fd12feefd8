"""Keras's own image datasets: ``fashion_mnist``, ``cifar10`` and ``cifar100``.

They come from Keras's loaders (``keras.datasets.<name>.load_data()``) and Keras's cache
(``$KERAS_HOME/datasets/``, default ``~/.keras/datasets/``), with MNIST's bounded behaviour:

- a copy in Keras's cache is used as it is (`cached_copy` says where, without Keras);
- otherwise Keras downloads it, given `KerasDataset.timeout_s` seconds in a daemon thread
  (`kerasdl.data.run_bounded`); ``load_dataset(..., download_timeout=...)`` changes it;
- with ``KERASDL_OFFLINE`` set and no cached copy, nothing is tried: there is no bundled copy,
  so `load_keras_dataset` raises a `kerasdl.data.DataError` saying how to get the data (exit 2,
  before anything trains); so does a download that fails or does not answer in time.

Preparing: the labels are flattened to ``(n,)`` int32; the pixels become ``(x/255 - mean)/std``
with the mean and standard deviation of the training split (after the validation split is held
out): one for Fashion-MNIST's grayscale, one per channel for CIFAR's RGB
(`kerasdl.data.pixel_statistics`). Images are flat for the chapter's MLP and
``(height, width, channels)`` for any other network (`kerasdl.data.flat_inputs`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from kerasdl import data as _data
from kerasdl.config import TrainConfig
from kerasdl.data import (
    ENV_OFFLINE,
    IMAGE_DATASETS,
    DataError,
    Dataset,
    DownloadFailed,
    image_inputs,
    pixel_statistics,
    run_bounded,
    split_indices,
)

__all__ = ["KERAS_DATASETS", "KerasDataset", "cached_copy", "check_available", "load_keras_dataset"]


@dataclasses.dataclass(frozen=True)
class KerasDataset:
    """One of Keras's datasets as kerasdl loads it.

    Attributes:
        module: ``keras.datasets.<module>.load_data`` loads it.
        title: Its name in messages.
        cache: What Keras keeps under ``datasets/``: alternatives (one per Keras version), each
            the files that must all be there.
        size: About how much Keras downloads.
        timeout_s: How long the download may take.
        per_channel: Standardise each colour channel apart.
    """

    module: str
    title: str
    cache: tuple
    size: str
    timeout_s: float
    per_channel: bool


_FASHION_FILES = tuple(
    f"fashion-mnist/{name}"
    for name in (
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    )
)
#: The datasets `load_keras_dataset` takes, by ``data.name``.
KERAS_DATASETS = {
    "fashion_mnist": KerasDataset(
        "fashion_mnist", "Fashion-MNIST", (_FASHION_FILES,), "30 MB", 120.0, False
    ),
    "cifar10": KerasDataset(
        "cifar10",
        "CIFAR-10",
        (("cifar-10-batches-py-target_archive",), ("cifar-10-batches-py.tar.gz",)),
        "170 MB",
        600.0,
        True,
    ),
    "cifar100": KerasDataset(
        "cifar100",
        "CIFAR-100",
        (("cifar-100-python-target_archive",), ("cifar-100-python.tar.gz",)),
        "170 MB",
        600.0,
        True,
    ),
}


def cached_copy(name: str):
    """The first file of ``name``'s copy in Keras's cache, or None (Keras would download it).

    Looks where Keras's ``get_file`` does (`kerasdl.data.keras_cache_paths`); imports nothing.
    """
    for datasets in (path.parent for path in _data.keras_cache_paths()):  # .../.keras/datasets
        for files in KERAS_DATASETS[name].cache:
            if all((datasets / f).is_file() for f in files):
                return datasets / files[0]
    return None


def _how_to_get(name: str) -> str:
    spec = KERAS_DATASETS[name]
    where = _data.keras_cache_paths()[0].parent
    return (
        f'to get it ({spec.size}), run once with network access: python -c "import keras; '
        f"keras.datasets.{spec.module}.load_data()\" (it fills Keras's cache, {where}), or "
        "copy that folder from a machine that has it; there is no bundled copy"
    )


def check_available(name: str):
    """``name``'s copy in Keras's cache (`cached_copy`), or None when Keras may download it.

    Imports nothing heavy (``kerasdl train`` asks before TensorFlow is imported).

    Raises:
        DataError: No cached copy and ``KERASDL_OFFLINE`` is set; the message says how to get
            the data.
    """
    cached = cached_copy(name)
    if cached is None and os.environ.get(ENV_OFFLINE, ""):
        raise DataError(
            f"{name}: no copy in Keras's cache and {ENV_OFFLINE} is set, so no download is "
            f"tried; {_how_to_get(name)}"
        )
    return cached


def _arrays(name: str, timeout: float | None):
    """``((x_train, y_train, x_test, y_test), source label)`` from the cache or a download."""
    spec = KERAS_DATASETS[name]
    cached = check_available(name)
    import keras

    loader = getattr(keras.datasets, spec.module).load_data
    timeout = spec.timeout_s if timeout is None else timeout
    try:
        result = run_bounded(loader, timeout, f"kerasdl-{name}-download")
    except DownloadFailed as err:
        raise DataError(
            f"{name}: keras.datasets.{spec.module}.load_data() failed ({err}); {_how_to_get(name)}"
        ) from None
    label = f"keras cache {cached}" if cached is not None else "keras download"
    return _checked(name, result), label


def _checked(name: str, result):
    """Keras's arrays as uint8 images ``(n, h, w[, c])`` (channels last) and int labels
    ``(n,)``, or a `DataError`."""
    shape, classes = IMAGE_DATASETS[name]
    where = f"keras.datasets.{KERAS_DATASETS[name].module}.load_data()"
    try:
        (x_train, y_train), (x_test, y_test) = result
        arrays = [np.asarray(a) for a in (x_train, y_train, x_test, y_test)]
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: unexpected result ({err})") from None
    out = []
    for x, y in (arrays[:2], arrays[2:]):
        if x.ndim == 4 and x.shape[1] == shape[2] != x.shape[3]:  # channels first
            x = x.transpose(0, 2, 3, 1)
        if x.ndim == 3:
            x = x[..., None]
        y = y.reshape(-1)
        if x.shape[1:] != shape or x.dtype != np.uint8 or len(y) != len(x) or len(x) == 0:
            raise DataError(
                f"{where}: images {x.shape} {x.dtype}, labels {y.shape}, not "
                f"(n, {', '.join(map(str, shape))}) uint8 and (n,)"
            )
        if y.min() < 0 or y.max() >= classes:
            raise DataError(f"{where}: labels outside 0-{classes - 1}")
        out += [x, y.astype(np.int32)]
    return out


def load_keras_dataset(config: TrainConfig, *, timeout: float | None = None) -> Dataset:
    """The `Dataset` of ``config.data.name``, one of `KERAS_DATASETS` (the module docstring).

    Raises:
        DataError: Not cached and offline, or the loader failed (the message says how to get
            the data).
    """
    d = config.data
    spec = KERAS_DATASETS[d.name]
    (x_pool, y_pool, x_test, y_test), label = _arrays(d.name, timeout)
    if d.limit is not None:
        x_pool, y_pool = x_pool[: d.limit], y_pool[: d.limit]
        x_test, y_test = x_test[: d.limit], y_test[: d.limit]
    train, val = split_indices(y_pool, config.validation_split, config.seed, stratify=True)
    if config.validation_split > 0 and len(val) == 0:
        raise DataError(
            f"validation_split={config.validation_split} of a single training example leaves "
            f"no validation set; raise data.limit (now {d.limit}) or set validation_split to 0"
        )
    mean, std = pixel_statistics(x_pool[train], per_channel=spec.per_channel)
    per = mean if spec.per_channel else mean[0]
    scale = std if spec.per_channel else std[0]
    x_train = image_inputs(x_pool[train], per, scale, config)
    _, classes = IMAGE_DATASETS[d.name]
    return Dataset(
        name=d.name,
        source=label,
        notice=None,
        x_train=x_train,
        y_train=y_pool[train],
        x_val=image_inputs(x_pool[val], per, scale, config),
        y_val=y_pool[val],
        x_test=image_inputs(x_test, per, scale, config),
        y_test=y_test,
        task="classification",
        num_classes=classes,
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        train_index=train,
        val_index=val,
        details={"scaling": {"mean": mean, "std": std, "from": "the training split"}},
    )
