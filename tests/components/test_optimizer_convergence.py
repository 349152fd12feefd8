"""Every kerasdl optimizer on a quadratic and on Rosenbrock, as optax tests its own.

Each optimizer has a tuned learning rate per problem (`TUNED`); the test counts the
steps it needs to bring the parameters within `TOLERANCE` of the minimum, asserts
that it gets there within the step budget, and that the count equals the count of
the same rule written out in NumPy (float64), within a step or two of float32
rounding. `benchmarks/convergence_table.py` prints the counts as the Markdown table
of docs/optimizers.md.
"""

from dataclasses import dataclass

import keras
import numpy as np
import pytest
from keras import ops

import kerasdl.optimizers

NAMES = ("SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdamW")


@dataclass(frozen=True)
class Problem:
    """A function to minimise: its start, its minimum, its gradient (NumPy, float64)."""

    name: str
    start: tuple
    minimum: tuple
    tolerance: float  # on max |w - minimum|
    budget: int  # steps allowed
    gradient: object  # w -> gradient


def _quadratic_gradient(w):
    # f(w) = 0.5 * (1 * (w0 - 1)^2 + 10 * (w1 + 2)^2): condition number 10.
    return np.array([1.0, 10.0]) * (w - np.array([1.0, -2.0]))


def _rosenbrock_gradient(w):
    # f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1).
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


QUADRATIC = Problem("quadratic", (-2.0, 1.0), (1.0, -2.0), 1e-3, 5000, _quadratic_gradient)
ROSENBROCK = Problem("rosenbrock", (0.0, 0.0), (1.0, 1.0), 1e-2, 10000, _rosenbrock_gradient)
PROBLEMS = (QUADRATIC, ROSENBROCK)

# Learning rates tuned on the grid {1, 2, 5} x 10^k, k = -4..-1, plus 0.5, for the
# fewest steps (of the NumPy rules below); every other hyperparameter is kerasdl's
# default (PyTorch's), AdamW's weight_decay=0.01 included.
TUNED = {
    ("SGD", "quadratic"): 0.1,
    ("Momentum", "quadratic"): 0.1,
    ("Nesterov", "quadratic"): 0.1,
    ("Adagrad", "quadratic"): 0.5,
    ("RMSprop", "quadratic"): 0.2,
    ("Adam", "quadratic"): 0.2,
    ("AdamW", "quadratic"): 0.5,
    ("SGD", "rosenbrock"): 2e-3,
    ("Momentum", "rosenbrock"): 2e-2,
    ("Nesterov", "rosenbrock"): 1e-3,
    ("Adagrad", "rosenbrock"): 5e-2,
    ("RMSprop", "rosenbrock"): 2e-3,
    ("Adam", "rosenbrock"): 0.1,
    ("AdamW", "rosenbrock"): 1e-2,
}


def _compiled(step):
    """`step` compiled where eager steps are slow (TensorFlow); as is elsewhere.

    The optimizer runs the same code either way; a `tf.function` is how Keras's own
    TensorFlow trainer calls it. JAX's eager steps are fast enough.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(step)
    return step


def steps_to_tolerance(name, problem, learning_rate=None, budget=None):
    """Steps a kerasdl optimizer (float32) needs to reach the tolerance; None if it does not."""
    learning_rate = learning_rate or TUNED[name, problem.name]
    optimizer = getattr(kerasdl.optimizers, name)(learning_rate=learning_rate)
    w = keras.Variable(np.array(problem.start, "float32"), name="w")
    step = _compiled(lambda gradient: optimizer.apply([gradient], [w]))
    minimum = np.array(problem.minimum)
    value = np.array(problem.start)
    for count in range(1, (budget or problem.budget) + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            gradient = problem.gradient(value).astype("float32")
        step(ops.convert_to_tensor(gradient))
        value = w.numpy().astype("float64")
        if not np.all(np.isfinite(value)):
            return None
        if np.abs(value - minimum).max() < problem.tolerance:
            return count
    return None


# ---------------------------------------------------------------------------
# The same rules in NumPy (float64), written from the chapter and docs/optimizers.md.
# ---------------------------------------------------------------------------


def numpy_rule(name, lr):
    """A step function (w, g, t) -> w with kerasdl's default hyperparameters."""
    state = {}

    def step(w, g, t):
        if name == "SGD":
            return w - lr * g
        if name == "Momentum":
            state["v"] = 0.9 * state.get("v", 0.0) + 0.1 * g
            return w - lr * state["v"]
        if name == "Nesterov":
            state["v"] = 0.9 * state.get("v", 0.0) + g
            return w - lr * (g + 0.9 * state["v"])
        if name == "Adagrad":
            state["G"] = state.get("G", 0.0) + g * g
            return w - lr * g / (np.sqrt(state["G"]) + 1e-10)
        if name == "RMSprop":
            state["G"] = 0.99 * state.get("G", 0.0) + 0.01 * g * g
            return w - lr * g / (np.sqrt(state["G"]) + 1e-8)
        if name == "AdamW":
            w = w * (1 - lr * 0.01)
        state["m"] = 0.9 * state.get("m", 0.0) + 0.1 * g
        state["v"] = 0.999 * state.get("v", 0.0) + 0.001 * g * g
        m_hat, v_hat = state["m"] / (1 - 0.9**t), state["v"] / (1 - 0.999**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)

    return step


def numpy_steps_to_tolerance(name, problem, learning_rate=None, budget=None):
    rule = numpy_rule(name, learning_rate or TUNED[name, problem.name])
    w, minimum = np.array(problem.start), np.array(problem.minimum)
    for step in range(1, (budget or problem.budget) + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            w = rule(w, problem.gradient(w), step)
        if not np.all(np.isfinite(w)):
            return None
        if np.abs(w - minimum).max() < problem.tolerance:
            return step
    return None


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("name", NAMES)
def test_converges_with_tuned_learning_rate(name, problem, record_property):
    expected = numpy_steps_to_tolerance(name, problem)
    assert expected is not None, "the tuned learning rate must converge in NumPy"
    steps = steps_to_tolerance(name, problem, budget=expected + 50)
    record_property("steps", steps)
    assert steps is not None, f"{name} did not reach {problem.tolerance} on {problem.name}"
    assert steps <= problem.budget
    # float32 against float64: the count may move by a few steps, no more.
    assert abs(steps - expected) <= 2 + 0.01 * expected, (steps, expected)


def test_too_large_learning_rate_diverges_or_stalls():
    """The counter reports failure: SGD with lr 0.25 > 2 / 10 on the quadratic diverges."""
    assert steps_to_tolerance("SGD", QUADRATIC, learning_rate=0.25, budget=200) is None
    assert numpy_steps_to_tolerance("SGD", QUADRATIC, learning_rate=0.25, budget=200) is None
