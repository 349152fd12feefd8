"""kerasdl's one-device training loop: ``model.fit``'s job over arrays held in memory.

At the chapter's batch size (64) an epoch of MNIST is ~850 small steps, and the cost of a step
is overhead, not arithmetic (see ``docs/benchmarks.md``). Keras's ``fit`` pays, per call of its
train function, for its ``tf.data`` iterator and the bookkeeping around it. `fit` here keeps the
training set in two tensors and runs ``steps_per_execution`` steps per call of one compiled
function (a ``tf.while_loop`` of ``unroll`` steps an iteration); each step is the model's own
``train_step`` (Keras's forward pass, loss with the
regularization losses, gradients, ``optimizer.apply_gradients``, compiled metrics), on the
batch gathered from the epoch's order::

    for epoch in range(initial_epoch, epochs):
        model.reset_metrics(); callbacks.on_epoch_begin(epoch)
        order = epoch_order(epoch)                          # a permutation of the examples
        for first in range(0, steps, steps_per_execution):  # one compiled call each:
            # for i in [first, first + k):  model.train_step((x[order[i*b:(i+1)*b]], ...))
            callbacks.on_train_batch_end(first + k - 1, model.get_metrics_result())
        logs |= {"val_" + k: v for k, v in model.evaluate(validation_data).items()}
        callbacks.on_epoch_end(epoch, logs)

Batches, order, step and callbacks are those of ``model.fit(EpochDataset(...).dataset, ...)``:
the same examples in the same order (the last batch smaller), the same ``train_step``, the same
callback calls with the same logs (a test checks the weights agree). One difference: a short
last execution of an epoch ends at its real last step in ``on_train_batch_end`` (``fit`` numbers
it as if it were full). `kerasdl.runner.train`
uses it for the default strategy on the TensorFlow backend unless ``loop = "fit"`` or XLA
(``jit_compile = true``) is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["fit"]


def fit(
    model,
    x,
    y,
    *,
    batch_size: int,
    order: Callable[[int], object],
    epochs: int,
    initial_epoch: int = 0,
    validation_data=None,
    callbacks=(),
    steps_per_execution: int = 1,
    validation_batch_size: int = 1000,
    unroll: int = 4,
    x_levels=None,
):
    """Train the compiled ``model`` on ``(x, y)`` like ``model.fit`` would, and return its
    ``History``.

    Args:
        model: A compiled Keras model (TensorFlow backend, no distribution strategy).
        x: The training inputs, an array (held as one tensor).
        y: The training targets, an array of the same length.
        batch_size: Examples a step; the last batch of an epoch is smaller if need be.
        order: ``order(epoch)`` gives the permutation of ``range(len(x))`` that epoch
            ``epoch`` (0-based) visits (`kerasdl.data.epoch_order`).
        epochs: The epoch to end before (as ``fit``'s ``epochs``).
        initial_epoch: The epoch to start at. Defaults to 0.
        validation_data: Evaluated after each epoch (``val_`` logs): a tuple ``(x_val, y_val)``
            of arrays, held as tensors and evaluated in one compiled call per epoch (batches of
            ``validation_batch_size``, the model's ``test_step``), or a ``tf.data.Dataset``,
            evaluated with ``model.evaluate``. Defaults to None.
        validation_batch_size: Examples per evaluation batch of an array ``validation_data``.
            Defaults to 1000.
        callbacks: Keras callbacks, called as ``fit`` calls them (batch hooks once per
            ``steps_per_execution`` steps). Defaults to none.
        steps_per_execution: Steps per call of the compiled function. Defaults to 1.
        unroll: Steps traced one after another in each iteration of the compiled loop.
            That loop runs the steps whose batch is full, traced with a static batch size
            (the shapes of the whole step are then known, which lets TensorFlow fold the
            shape arithmetic of the loss and metrics and start dropout's random numbers
            without waiting for the activations); the steps left over at an epoch's end,
            including a short last batch, run one per iteration in a second function,
            traced only when there are some. Each iteration of a
            ``tf.while_loop`` pays for passing every captured variable through the loop; 4
            steps an iteration made the preset's epoch about 8% shorter on 2 cores, for
            about 1 s more tracing in the first epoch (``docs/engine.md``). Defaults to 4.
        x_levels: None, or 256 float32 values: then ``x`` holds uint8 codes, and the inputs,
            ``x_levels[x]``, are looked up per batch in the step (a quarter of the memory, the
            same values; MNIST's: `kerasdl.data.Dataset`'s ``x_train_codes``, ``x_levels``).

    Returns:
        The ``keras.callbacks.History`` of the run, as ``fit`` returns it.
    """
    import keras

    n = len(x)
    if n == 0 or len(y) != n:
        raise ValueError(f"x and y must have the same, non-zero length; got {n} and {len(y)}")
    steps = -(-n // batch_size)
    per_call = max(1, min(int(steps_per_execution), steps))
    unroll = min(unroll, per_call)
    run_steps = _compiled_steps(model, x, y, batch_size, unroll=unroll, x_levels=x_levels)
    evaluate = _validation(model, validation_data, validation_batch_size)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, model=model, epochs=epochs, steps=steps, verbose=0
    )
    model.stop_training = False
    callback_list.on_train_begin()
    training_logs = None
    for epoch in range(initial_epoch, epochs):
        training_logs = _epoch(
            model, epoch, order, run_steps, steps, per_call, evaluate, callback_list
        )
        if model.stop_training:
            break
    if epochs > initial_epoch and isinstance(model.optimizer, keras.optimizers.Optimizer):
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=training_logs)
    return model.history


def _epoch(model, epoch, order, run_steps, steps, per_call, evaluate, callback_list) -> dict:
    """One epoch: ``per_call`` steps a compiled call, the batch hooks between calls, then the
    validation and the epoch hooks. Returns the epoch's logs."""
    model.reset_metrics()
    callback_list.on_epoch_begin(epoch)
    indices = run_steps.indices(order(epoch))
    logs = {}
    for first in range(0, steps, per_call):
        count = min(per_call, steps - first)
        callback_list.on_train_batch_begin(first)
        logs = run_steps(indices, first, count)
        callback_list.on_train_batch_end(first + count - 1, logs)
        if model.stop_training:
            break
    epoch_logs = {name: float(value) for name, value in logs.items()}
    if evaluate is not None:
        results = evaluate()
        epoch_logs.update({f"val_{name}": value for name, value in results.items()})
    callback_list.on_epoch_end(epoch, epoch_logs)
    return epoch_logs


def _validation(model, validation_data, batch_size: int):
    """A function giving the validation results (see `fit`), or None without validation data."""
    if isinstance(validation_data, tuple):
        if _on_jax():
            from kerasdl import loop_jax

            return loop_jax.array_evaluation(model, *validation_data, batch_size)
        return _array_evaluation(model, *validation_data, batch_size)
    if validation_data is None:
        return None

    def evaluate():
        return model.evaluate(validation_data, verbose=0, return_dict=True)

    return evaluate


def _compiled_steps(model, x, y, batch_size: int, *, unroll: int, x_levels=None):
    """``run_steps(indices, first, count)``: training steps ``first .. first + count - 1`` of an
    epoch whose order is ``indices`` (``run_steps.indices(order)`` makes them from the epoch's
    permutation), in compiled loops over the arrays held as tensors (see `fit`'s ``unroll`` and
    ``x_levels``); returns the metrics after the last one. On JAX: `kerasdl.loop_jax`."""
    if _on_jax():
        from kerasdl import loop_jax

        return loop_jax.compiled_steps(model, x, y, batch_size, unroll=unroll, x_levels=x_levels)
    import tensorflow as tf

    x_all = tf.convert_to_tensor(x)
    y_all = tf.convert_to_tensor(y)
    full_steps = len(x) // batch_size  # steps whose batch is full (the last one may be short)
    inputs = _batch_inputs(x_all, x_levels)
    unroll = max(1, int(unroll))

    def step(indices, i, full=False):
        start = i * batch_size
        if full:  # a static batch size: shapes known when traced (see run_unrolled)
            batch = tf.slice(indices, tf.reshape(start, [1]), [batch_size])
        else:
            batch = indices[start : start + batch_size]
        model.train_step((inputs(batch), tf.gather(y_all, batch)))

    @tf.function(reduce_retracing=True)
    def run_unrolled(indices, first, iterations):
        """``iterations * unroll`` steps from ``first``, ``unroll`` per loop iteration."""

        def body(i):
            for k in range(unroll):
                step(indices, i + k, full=True)
            return (i + unroll,)

        end = first + iterations * unroll
        tf.while_loop(lambda i: i < end, body, (first,), parallel_iterations=1)
        return model.get_metrics_result()

    @tf.function(reduce_retracing=True)
    def run_single(indices, first, count):
        """``count`` steps from ``first``, one per loop iteration (traced only if needed)."""

        def body(i):
            step(indices, i)
            return (i + 1,)

        tf.while_loop(lambda i: i < first + count, body, (first,), parallel_iterations=1)
        return model.get_metrics_result()

    def run_steps(indices, first, count):
        whole = max(0, min(count, full_steps - first)) // unroll
        rest = count - whole * unroll
        if whole:
            logs = run_unrolled(indices, tf.constant(first, tf.int64), tf.constant(whole, tf.int64))
        if rest:
            first = tf.constant(first + whole * unroll, tf.int64)
            logs = run_single(indices, first, tf.constant(rest, tf.int64))
        return logs

    run_steps.indices = lambda order: tf.convert_to_tensor(order, dtype=tf.int64)
    return run_steps


def _on_jax() -> bool:
    import keras

    return keras.backend.backend() == "jax"


def _batch_inputs(x_all, x_levels):
    """``inputs(batch)``: the rows ``batch`` of ``x_all``, or with ``x_levels`` the values of
    those rows' uint8 codes."""
    import numpy as np
    import tensorflow as tf

    if x_levels is None:
        return lambda batch: tf.gather(x_all, batch)
    levels = np.asarray(x_levels, dtype=np.float32)
    if levels.shape != (256,) or x_all.dtype != tf.uint8:
        raise ValueError(
            "x_levels needs uint8 inputs and 256 float32 values; got "
            f"{x_all.dtype.name} inputs and {levels.shape} levels"
        )
    table = tf.constant(levels)
    return lambda batch: tf.gather(table, tf.cast(tf.gather(x_all, batch), tf.int32))


_EVALUATION_UNROLL = 16


def _array_evaluation(model, x, y, batch_size: int):
    """``model.evaluate((x, y))``'s results as a function: every batch of the arrays (held as
    tensors) through the model's ``test_step`` in one compiled call, the metrics reset first.

    Up to `_EVALUATION_UNROLL` batches are traced one after another, not in a loop: their
    forward passes do not depend on each other, so TensorFlow runs them side by side (the
    preset's 6 validation batches in 16 ms instead of 30 on 2 cores); more run in a loop."""
    import tensorflow as tf

    n = len(x)
    if n == 0 or len(y) != n:
        raise ValueError(f"x_val and y_val must have the same, non-zero length; got {n}, {len(y)}")
    x_all = tf.convert_to_tensor(x)
    y_all = tf.convert_to_tensor(y)
    steps = -(-n // batch_size)

    @tf.function
    def run_all():
        if steps <= _EVALUATION_UNROLL:
            for start in range(0, n, batch_size):
                model.test_step(
                    (x_all[start : start + batch_size], y_all[start : start + batch_size])
                )
            return model.get_metrics_result()

        def body(i):
            start = i * batch_size
            model.test_step((x_all[start : start + batch_size], y_all[start : start + batch_size]))
            return (i + 1,)

        tf.while_loop(lambda i: i < steps, body, (tf.constant(0),), parallel_iterations=1)
        return model.get_metrics_result()

    def evaluate():
        model.reset_metrics()
        return {name: float(value) for name, value in run_all().items()}

    return evaluate
