"""`kerasdl.loop.fit`'s compiled steps and array evaluation on the JAX backend.

Keras's JAX ``fit`` calls its jitted train step once per batch from Python, even with
``steps_per_execution`` (a Python loop over the iterator around the jitted step): each call
converts a NumPy batch and flattens the whole state (every variable of the model, optimizer and
metrics) in and out. Here the training arrays live on the device, and one ``jax.jit`` runs
``count`` steps (a ``lax.fori_loop`` whose body is the model's own stateless
``train_step(state, data)``), each on the batch gathered from the epoch's order inside the
compiled function::

    state = (trainable, non_trainable, optimizer, metrics variables' values)
    for i in range(first, first + count):             # one jit: the fori_loop
        batch = order[i * b : (i + 1) * b]
        logs, state = model.train_step(state, (x[batch], y[batch]))
    assign state to the variables                      # after every call

The values go back to the Keras variables after every call, so the batch and epoch hooks,
checkpoints and ``model.save`` see the weights as they are. A callback that changes what the
step was traced with asks for a new train function (``model.make_train_function(force=True)``,
as `kerasdl.callbacks.ReduceLROnPlateau` does on JAX): the steps notice that
``model.train_function`` changed and trace again.
"""

from __future__ import annotations

import numpy as np

__all__ = ["array_evaluation", "compiled_steps"]


class _State:
    """The model's variables as the state tuples of its stateless train and test steps."""

    def __init__(self, model, optimizer=True):
        self.groups = [model.trainable_variables, model.non_trainable_variables]
        if optimizer:
            self.groups.append(model.optimizer.variables)
        self.groups.append(model.metrics_variables)

    def read(self):
        return tuple([v.value for v in group] for group in self.groups)

    def write(self, state):
        for group, values in zip(self.groups, state, strict=True):
            for variable, value in zip(group, values, strict=True):
                variable.assign(value)


def _device_arrays(x, y, x_levels):
    """``(x, y, levels)`` on the device and ``inputs(arrays, batch)``: the rows ``batch`` of
    ``x``, or with ``x_levels`` the values of those rows' uint8 codes (`kerasdl.loop.fit`'s
    ``x_levels``). The arrays are passed to the jitted functions as arguments, not captured as
    constants (MNIST's 42 MB of codes folded into the program made each compilation seconds
    longer)."""
    import jax.numpy as jnp

    x_all, y_all = jnp.asarray(x), jnp.asarray(y)
    if x_levels is None:
        return (x_all, y_all, None), lambda arrays, batch: arrays[0][batch]
    levels = np.asarray(x_levels, dtype=np.float32)
    if levels.shape != (256,) or x_all.dtype != jnp.uint8:
        raise ValueError(
            "x_levels needs uint8 inputs and 256 float32 values; got "
            f"{x_all.dtype} inputs and {levels.shape} levels"
        )
    arrays = (x_all, y_all, jnp.asarray(levels))
    return arrays, lambda arrays, batch: arrays[2][arrays[0][batch].astype(jnp.int32)]


def compiled_steps(model, x, y, batch_size: int, *, unroll: int, x_levels=None):
    """`kerasdl.loop`'s ``run_steps(indices, first, count)`` on JAX (see the module docstring):
    steps ``first .. first + count - 1`` of the epoch whose order is ``indices``; returns the
    metrics after the last one.

    As on TensorFlow, the steps whose batch is full run in one function traced with a static
    batch size, ``unroll`` steps an iteration of its loop; full steps left over run one an
    iteration, and a short last batch in a function of its own (each traced only when needed).
    """
    import jax
    import jax.numpy as jnp

    arrays, inputs = _device_arrays(x, y, x_levels)
    full_steps = len(x) // batch_size
    unroll = max(1, int(unroll))
    first = np.asarray(x[: min(batch_size, len(x))])
    if x_levels is not None:  # decoded on the host: eager JAX ops would each compile first
        first = np.asarray(x_levels, dtype=np.float32)[first]
    # As Keras's fit does first: the optimizer's and the compiled metrics' variables built.
    model._symbolic_build(data_batch=(first, np.asarray(y[: len(first)])))
    state = _State(model)
    model.make_train_function()
    traced = {"for": None}  # the jitted functions, traced for model.train_function

    def step(carry, arrays, indices, i, size):
        batch = jax.lax.dynamic_slice_in_dim(indices, i * batch_size, size)
        return model.train_step(carry, (inputs(arrays, batch), arrays[1][batch]))[1]

    def run(carry, arrays, indices, first, iterations, per_iteration, size):
        def body(j, carry):
            for k in range(per_iteration):
                carry = step(carry, arrays, indices, first + j * per_iteration + k, size)
            return carry

        return jax.lax.fori_loop(0, iterations, body, carry)

    def function(per_iteration, size):
        if traced["for"] is not model.train_function:  # a callback asked for a new one
            traced.clear()
            traced["for"] = model.train_function
        key = (per_iteration, size)
        if key not in traced:
            traced[key] = jax.jit(lambda c, a, ix, f, n: run(c, a, ix, f, n, per_iteration, size))
        return traced[key]

    def run_steps(indices, first, count):
        full = max(0, min(count, full_steps - first))  # steps of this call with a full batch
        whole = full // unroll
        calls = [  # (per iteration, batch size, first step, iterations)
            (unroll, batch_size, first, whole),
            (1, batch_size, first + whole * unroll, full - whole * unroll),
            (1, len(x) - full_steps * batch_size, first + full, count - full),
        ]
        carry = state.read()
        try:
            for per_iteration, size, start, iterations in calls:
                if iterations:
                    carry = function(per_iteration, size)(carry, arrays, indices, start, iterations)
        finally:
            state.write(carry)
        return model.get_metrics_result()

    run_steps.indices = lambda order: jnp.asarray(np.asarray(order, dtype=np.int32))
    return run_steps


def array_evaluation(model, x, y, batch_size: int):
    """`kerasdl.loop._array_evaluation` on JAX: every batch of the arrays through the model's
    stateless ``test_step`` in one jit (the full batches in a ``lax.fori_loop``, a short last
    one after it), the metrics reset first; returns ``evaluate()`` giving ``{name: float}``."""
    import jax
    import jax.numpy as jnp

    n = len(x)
    if n == 0 or len(y) != n:
        raise ValueError(f"x_val and y_val must have the same, non-zero length; got {n}, {len(y)}")
    x_all, y_all = jnp.asarray(x), jnp.asarray(y)
    full, rest = divmod(n, batch_size)
    state = _State(model, optimizer=False)

    def batch(arrays, start, size):
        return tuple(jax.lax.dynamic_slice_in_dim(a, start, size) for a in arrays)

    @jax.jit
    def run_all(carry, arrays):  # the arrays an argument, not a constant (see _device_arrays)
        def body(i, carry):
            return model.test_step(carry, batch(arrays, i * batch_size, batch_size))[1]

        if full:
            carry = jax.lax.fori_loop(0, full, body, carry)
        if rest:
            carry = model.test_step(carry, batch(arrays, full * batch_size, rest))[1]
        return carry

    def evaluate():
        model.reset_metrics()
        state.write(run_all(state.read(), (x_all, y_all)))
        return {name: float(value) for name, value in model.get_metrics_result().items()}

    return evaluate
