"""What the peer scripts of `peers.py` share: the preset's own data split and the JSON line.

Every peer trains on the arrays kerasdl's preset trains on: `kerasdl.data.load_dataset` of the
default `TrainConfig` on full MNIST at ``--data-dir`` (54,000 training images, 6,000 held out
for validation, stratified by the default seed, normalised ``(x/255 - 0.1307) / 0.3081`` as
float32, flat 784), so the splits are identical, not just equal in size. ``--limit N`` is
``data.limit``: the first N training and test images, 10% of those N held out (smoke runs).
Loading imports numpy and kerasdl's data module only (no TensorFlow).

A peer prints one JSON line (`report`). Its wall time counts from the moment the driver
started the process, which the driver passes in ``PEERS_SPAWN_TIME`` (``time.time()``); run by
hand, it counts from this module's import (interpreter start-up then not included).
"""

import os
import resource
import statistics
import time

_IMPORTED = time.time()


def spawn_time() -> float:
    """The wall-clock time the process was started (``PEERS_SPAWN_TIME``), else this module's
    import."""
    return float(os.environ.get("PEERS_SPAWN_TIME", _IMPORTED))


def add_arguments(parser, epochs=20):
    """The options every peer takes."""
    parser.add_argument("--data-dir", required=True, help="the four MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--limit", type=int, default=None, help="data.limit (smoke runs)")


def load_split(data_dir, limit=None):
    """The preset's `kerasdl.data.Dataset` (x_train, y_train, x_val, y_val, x_test, y_test)."""
    from kerasdl.config import TrainConfig
    from kerasdl.data import load_dataset

    overrides = {"data.name": "mnist", "data.data_dir": data_dir}
    if limit is not None:
        overrides["data.limit"] = limit
    return load_dataset(TrainConfig().override(overrides))


def peak_rss_mb() -> float:
    """The process's peak resident memory (``ru_maxrss``, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(impl, epoch_seconds, *, test_accuracy, val_accuracy, train_examples, **extra):
    """The JSON-ready dict of one run: per-epoch seconds, first epoch, steady median (first
    epoch left out), accuracies, peak RSS and the wall time since `spawn_time`."""
    steady = statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else None
    return {
        "impl": impl,
        "epoch_seconds": list(epoch_seconds),
        "first_epoch_s": epoch_seconds[0] if epoch_seconds else None,
        "steady_s": steady,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "peak_rss_mb": peak_rss_mb(),
        "wall_s": time.time() - spawn_time(),
        "train_examples": int(train_examples),
        "batch_size": 64,
        "epochs": len(epoch_seconds),
        **extra,
    }


def step_lr(epoch, base=1e-3, step_size=10, gamma=0.5):
    """The chapter's ``StepLR(step_size=10, gamma=0.5)`` rate for 0-based ``epoch``."""
    return base * gamma ** (epoch // step_size)
