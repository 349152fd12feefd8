"""TensorFlow's thread pools for a run: the ``"auto"`` rule of ``intra_op_threads``, setting
the pools before TensorFlow's first op, and reading back what a run got (``run_started``'s
``threads``). ``docs/engine.md`` (Speed) has the measurements behind the rule.
"""

from __future__ import annotations

import itertools
import math
import os

__all__ = [
    "AUTO_ONE_THREAD_MACS",
    "AUTO_ONE_THREAD_MAX_CORES",
    "apply_threads",
    "intra_op_threads",
    "largest_layer_macs",
    "thread_pools",
]

# `intra_op_threads = "auto"`: one thread per op when every layer's matrix product is at
# most this many multiply-adds a step, on a CPU of at most this many cores (docs/engine.md).
AUTO_ONE_THREAD_MACS = 2**24
AUTO_ONE_THREAD_MAX_CORES = 4


def largest_layer_macs(config, dataset=None) -> int:
    """Multiply-adds a training step's largest Dense product costs (``batch x in x out``), for
    the mlp (the sizes come from the config alone: TensorFlow must not have run an op yet).

    Args:
        config: A validated `kerasdl.config.TrainConfig`.
        dataset: The loaded `kerasdl.data.Dataset`, needed for a file's data (its sizes are
            known once it is read, with NumPy). Defaults to None (`kerasdl.data.model_io_sizes`).

    Returns:
        The multiply-adds of the largest layer's product, for one batch.
    """
    from kerasdl.data import model_io_sizes

    if dataset is not None:
        inputs, outputs = math.prod(dataset.input_shape), dataset.output_units
    else:
        inputs, outputs = model_io_sizes(config)
    sizes = [inputs, *config.model.hidden, outputs]
    return config.batch_size * max(a * b for a, b in itertools.pairwise(sizes))


def intra_op_threads(
    config, cores: int | None = None, gpus: int | None = None, dataset=None
) -> int:
    """``config.intra_op_threads`` with ``"auto"`` decided: 1 when the run is small (every
    layer's product at most `AUTO_ONE_THREAD_MACS` multiply-adds a step), on a CPU of at most
    `AUTO_ONE_THREAD_MAX_CORES` cores and no GPU, with the default strategy and the mlp; else 0
    (TensorFlow's choice).

    Another ``model.architecture`` gets 0: its sizes are known only once it is built, and
    building runs TensorFlow ops, after which the pools are fixed (the cnn's second convolution
    on MNIST alone is 64 x 11 x 11 x 9 x 32 x 64 = 143M multiply-adds a step, far above the
    rule's bound, so the rule would give 0 too).

    Small products split over several threads cost more in hand-offs than they gain, and with
    one thread per op TensorFlow still runs independent ops (the backward pass's two products
    per layer) side by side. Measured on 2 cores only, hence the limit on cores.

    Args:
        config: A validated `kerasdl.config.TrainConfig`.
        cores: The CPU's cores. Defaults to None (``os.cpu_count()``).
        gpus: The GPUs TensorFlow sees. Defaults to None (asks TensorFlow).
        dataset: The loaded dataset, for a file's sizes (`largest_layer_macs`).

    Returns:
        The intra-op threads to set (0: TensorFlow's choice).
    """
    if config.intra_op_threads != "auto":
        return int(config.intra_op_threads)
    if config.strategy != "default" or config.model.architecture != "mlp":
        return 0
    if largest_layer_macs(config, dataset) > AUTO_ONE_THREAD_MACS:
        return 0
    if cores is None:
        cores = os.cpu_count() or 1
    if cores > AUTO_ONE_THREAD_MAX_CORES:
        return 0
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    return 0 if gpus else 1


def thread_pools() -> dict | None:
    """TensorFlow's thread pools as set (0: TensorFlow's choice); None on another backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def apply_threads(config, dataset=None) -> str | None:
    """Set TensorFlow's thread pools from ``intra_op_threads`` / ``inter_op_threads`` (0 leaves
    TensorFlow's choice; ``"auto"``: `intra_op_threads`).

    TensorFlow fixes them when it runs its first op: if that has happened in this process with
    other values, they stay, and the returned warning says so (for values asked for; an
    ``"auto"`` choice stays silently).

    Args:
        config: A validated `kerasdl.config.TrainConfig`.
        dataset: The loaded dataset, for a file's sizes (`largest_layer_macs`).

    Returns:
        The warning for a ``notice``, or None.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    intra = intra_op_threads(config, dataset=dataset)
    if not (intra or config.inter_op_threads):
        return None
    import tensorflow as tf

    pools = tf.config.threading
    kept = []
    for name, value, asked, get, set_ in (
        (
            "intra_op_threads",
            intra,
            config.intra_op_threads != "auto",
            pools.get_intra_op_parallelism_threads,
            pools.set_intra_op_parallelism_threads,
        ),
        (
            "inter_op_threads",
            config.inter_op_threads,
            True,
            pools.get_inter_op_parallelism_threads,
            pools.set_inter_op_parallelism_threads,
        ),
    ):
        if not value or get() == value:
            continue
        try:
            set_(value)
        except RuntimeError:  # TensorFlow is running already
            if asked:
                kept.append(f"{name}={value}")
    if not kept:
        return None
    return (
        f"{', '.join(kept)} not applied: TensorFlow already started in this process with "
        "its own thread pools (set them before TensorFlow runs, e.g. in a new process)"
    )
