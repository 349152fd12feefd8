"""kerasdl.optimizers against torch.optim and against the chapter's formulas (3.2).

References:

- Golden trajectories from ``torch.optim`` (tests/golden/optimizers.json, made by
  tests/reference/golden_optimizers.py): 120 steps of a tanh regression with a
  kernel (5x3) and a bias (3,), whose gradient is written out below in keras.ops
  (the generator checks the same formula against torch autograd).
- The chapter's formulas written out in NumPy: Momentum (3.2.3, no torch
  equivalent), Nesterov in the chapter's look-ahead-gradient form (3.2.4), and one
  hand-computed pair of steps per optimizer.
"""

import json

import goldens
import keras
import numpy as np
import pytest
from goldens import assert_close, floatx, tanh
from keras import ops

import kerasdl.optimizers
from kerasdl.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSprop,
)

CHAPTER = (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW)
ALL = (*CHAPTER, Adadelta, Adamax, NAdam, RAdam)
TOLERANCE = {"float64": 1e-6, "float32": 1e-5}

IDS, CASES = goldens.cases("optimizers")
TRAJECTORIES = [case for case in CASES if case["kind"] == "trajectory"]
BY_ID = dict(zip(IDS, CASES, strict=True))


# ---------------------------------------------------------------------------
# The golden problem: its gradient, written out, and the loop that steps it.
# ---------------------------------------------------------------------------


def gradient(X, Y, kernel, bias):
    """d/d(kernel, bias) of 0.5 * sum((tanh(X @ kernel + bias) - Y)^2) / n."""
    pred = tanh(ops.add(ops.matmul(X, kernel), bias))
    D = (pred - Y) * (1 - ops.square(pred)) / X.shape[0]
    return ops.matmul(ops.transpose(X), D), ops.sum(D, axis=0)


def numpy_gradient(X, Y, kernel, bias):
    pred = np.tanh(X @ kernel + bias)
    D = (pred - Y) * (1 - pred**2) / X.shape[0]
    return X.T @ D, D.sum(axis=0)


def make_optimizer(spec, dtype="float64", **extra):
    """The kerasdl optimizer a golden case's `keras` field describes (and `extra` arguments)."""
    kwargs = dict(spec["kwargs"], **extra)
    if spec["schedule"] is not None:
        schedule = getattr(keras.optimizers.schedules, spec["schedule"]["class"])
        config = dict(spec["schedule"]["config"])
        # Keras's schedules compute in the dtype of `initial_learning_rate` as a tensor
        # (float32 for a Python float on TensorFlow, whatever floatx says) and cast
        # their Python-float arguments to it through float32: a float64 run needs
        # float64 numbers.
        config = {k: np.asarray(v, dtype) if isinstance(v, float) else v for k, v in config.items()}
        kwargs["learning_rate"] = schedule(**config)
    if spec["exclusion"] == "exclude_bias_and_norm":
        kwargs["exclude_bias_and_norm"] = True
    optimizer = getattr(kerasdl.optimizers, spec["class"])(**kwargs)
    if spec["exclusion"] == "var_names":
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


def run_keras(case, optimizer=None):
    """Step a kerasdl optimizer through a golden case; {step: (kernel, bias)}."""
    dtype = case["dtype"]
    with floatx(dtype):
        optimizer = optimizer or make_optimizer(case["keras"], dtype)
        X = ops.convert_to_tensor(np.asarray(case["X"]), dtype=dtype)
        Y = ops.convert_to_tensor(np.asarray(case["Y"]), dtype=dtype)
        kernel = keras.Variable(np.asarray(case["kernel0"]), dtype=dtype, name="kernel")
        bias = keras.Variable(np.asarray(case["bias0"]), dtype=dtype, name="bias")
        checkpoints = {}
        for step in range(1, case["steps"] + 1):
            optimizer.apply(gradient(X, Y, kernel, bias), [kernel, bias])
            if str(step) in case["checkpoints"]:
                checkpoints[step] = (kernel.numpy(), bias.numpy())
    return checkpoints


@pytest.mark.parametrize("case", TRAJECTORIES, ids=[c["id"] for c in TRAJECTORIES])
def test_matches_torch_trajectory(case):
    tolerance = TOLERANCE[case["dtype"]]
    for step, (kernel, bias) in run_keras(case).items():
        expected = case["checkpoints"][str(step)]
        assert_close(kernel, expected["kernel"], tolerance, f"kernel at step {step}")
        assert_close(bias, expected["bias"], tolerance, f"bias at step {step}")


ADAM_TRAJECTORIES = [c for c in TRAJECTORIES if c["keras"]["class"] in ("Adam", "AdamW")]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="fused is TensorFlow's kernel")
@pytest.mark.parametrize("case", ADAM_TRAJECTORIES, ids=[c["id"] for c in ADAM_TRAJECTORIES])
def test_keras_ops_update_matches_torch_trajectory_too(case):
    """On TensorFlow `Adam`/`AdamW` run the fused kernel by default (the test above); the
    keras.ops update that the other backends run matches PyTorch there as well."""
    optimizer = make_optimizer(case["keras"], case["dtype"], fused=False)
    tolerance = TOLERANCE[case["dtype"]]
    for step, (kernel, bias) in run_keras(case, optimizer).items():
        expected = case["checkpoints"][str(step)]
        assert_close(kernel, expected["kernel"], tolerance, f"kernel at step {step}")
        assert_close(bias, expected["bias"], tolerance, f"bias at step {step}")


def traced_op_types(optimizer, variables):
    """The op types of one `apply` of `optimizer` traced into a TensorFlow graph."""
    import tensorflow as tf

    optimizer.build(variables)
    grads = [ops.ones(v.shape) for v in variables]
    graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
    return [op.type for op in graph.get_operations()]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="fused is TensorFlow's kernel")
@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_fused_kernel_runs_unless_turned_off(cls):
    variables = [keras.Variable(np.ones((3, 2))), keras.Variable(np.ones(2))]
    fused = traced_op_types(cls(weight_decay=0.1), variables)
    assert fused.count("ResourceApplyAdam") == 2
    unfused = traced_op_types(cls(weight_decay=0.1, fused=False), variables)
    assert "ResourceApplyAdam" not in unfused


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="traces a TensorFlow graph")
@pytest.mark.parametrize("fused", [None, False])
@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_per_step_values_are_computed_once_per_step(cls, fused):
    """The bias corrections (two `Pow`s) are computed once for all variables, not per variable."""
    variables = [keras.Variable(np.ones((3, 2))) for _ in range(5)]
    op_types = traced_op_types(cls(weight_decay=0.1, fused=fused), variables)
    assert op_types.count("Pow") == 2


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="fused is TensorFlow's kernel")
@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_fused_true_refuses_a_stateless_scope(cls):
    """A `keras.StatelessScope` records updates instead of making them, which an in-place kernel
    cannot honour: `fused=True` says so (on TensorFlow Keras's own update code writes through
    the scope, which is why Keras refuses `stateless_apply` there)."""
    w = keras.Variable(W0, dtype="float64", name="kernel")
    strict = cls(fused=True)
    strict.build([w])
    with pytest.raises(ValueError, match=r"fused=True.*StatelessScope"), keras.StatelessScope():
        strict.apply([ops.convert_to_tensor(G1)], [w])
    np.testing.assert_array_equal(w.numpy(), W0)


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="fused=True works there")
@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_fused_true_needs_tensorflow(cls):
    with pytest.raises(ValueError, match="`fused=True` needs the TensorFlow backend"):
        cls(fused=True)
    assert cls(fused=None).get_config()["fused"] is None


def test_golden_file_covers_every_optimizer_dtype_and_exclusion():
    cases = [(c["keras"]["class"], c["dtype"]) for c in TRAJECTORIES]
    for cls in ALL:
        assert (cls.__qualname__, "float64") in cases
        assert (cls.__qualname__, "float32") in cases
        decayed = [
            c
            for c in TRAJECTORIES
            if c["keras"]["class"] == cls.__qualname__ and c["keras"]["kwargs"].get("weight_decay")
        ]
        assert decayed, cls.__qualname__
        assert any(not c["torch"]["bias_decays"] for c in decayed), cls.__qualname__
    exclusions = {c["keras"]["exclusion"] for c in TRAJECTORIES}
    assert exclusions == {None, "exclude_bias_and_norm", "var_names"}
    assert all(c["steps"] >= 100 for c in CASES)


def test_bias_exemption_changes_the_trajectory():
    """Without the exclusion the bias decays and the torch trajectory is missed."""
    case = BY_ID["adam-l2-bias-exempt-float64"]
    spec = {**case["keras"], "exclusion": None}
    kernel, bias = run_keras(case, make_optimizer(spec))[120]
    expected = case["checkpoints"]["120"]
    assert np.abs(bias - expected["bias"]).max() > 1e-3
    assert np.abs(kernel - expected["kernel"]).max() > 1e-3


# ---------------------------------------------------------------------------
# The chapter's formulas, written out in NumPy.
# ---------------------------------------------------------------------------


def test_momentum_is_the_chapters_moving_average():
    """3.2.3: v = beta v + (1 - beta) g, v_0 = 0; with L2 on the kernel only."""
    case = BY_ID["momentum-0.5-l2-bias-exempt-float64"]
    lr, beta, wd = 0.4, 0.5, 0.1
    assert case["keras"]["kwargs"] == {"learning_rate": lr, "momentum": beta, "weight_decay": wd}
    X, Y = np.asarray(case["X"]), np.asarray(case["Y"])
    kernel, bias = np.asarray(case["kernel0"]), np.asarray(case["bias0"])
    v_kernel, v_bias = np.zeros_like(kernel), np.zeros_like(bias)
    expected = {}
    for step in range(1, case["steps"] + 1):
        g_kernel, g_bias = numpy_gradient(X, Y, kernel, bias)
        g_kernel = g_kernel + wd * kernel  # the bias is exempt
        v_kernel = beta * v_kernel + (1 - beta) * g_kernel
        v_bias = beta * v_bias + (1 - beta) * g_bias
        kernel, bias = kernel - lr * v_kernel, bias - lr * v_bias
        expected[step] = (kernel, bias)
    for step, (kernel, bias) in run_keras(case).items():
        assert_close(kernel, expected[step][0], 1e-9, f"kernel at step {step}")
        assert_close(bias, expected[step][1], 1e-9, f"bias at step {step}")


def test_momentum_differs_from_torch_dampened_sgd_as_the_errata_says():
    """torch SGD(momentum=b, dampening=b) starts its buffer at g, not (1 - b) g.

    So its first step is 1 / (1 - b) times the chapter's; after that both use the
    same recursion, and the trajectories stay apart.
    """
    case = BY_ID["contrast-momentum-vs-torch-dampened-float64"]
    beta = case["keras"]["kwargs"]["momentum"]
    assert case["torch"]["kwargs"]["dampening"] == beta
    ours = run_keras(case)
    torch_1 = case["checkpoints"]["1"]
    for name, start, mine in (
        ("kernel", case["kernel0"], ours[1][0]),
        ("bias", case["bias0"], ours[1][1]),
    ):
        step_ours = mine - np.asarray(start)
        step_torch = np.asarray(torch_1[name]) - np.asarray(start)
        assert_close(step_torch, step_ours / (1 - beta), 1e-9, f"first {name} step")
        assert np.abs(step_torch - step_ours).max() > 0.1 * np.abs(step_torch).max()
    final = np.asarray(case["checkpoints"]["120"]["kernel"])
    assert np.abs(ours[120][0] - final).max() > 1e-3


def test_nesterov_is_the_chapters_look_ahead_gradient():
    """3.2.4: v = b v + grad L(W - lr b v), W -= lr v; the variable holds W - lr b v."""
    case = BY_ID["nesterov-float64"]
    lr, beta = case["keras"]["kwargs"]["learning_rate"], case["keras"]["kwargs"]["momentum"]
    X, Y = np.asarray(case["X"]), np.asarray(case["Y"])
    W_kernel, W_bias = np.asarray(case["kernel0"]), np.asarray(case["bias0"])
    v_kernel, v_bias = np.zeros_like(W_kernel), np.zeros_like(W_bias)
    expected = {}
    for step in range(1, case["steps"] + 1):
        g_kernel, g_bias = numpy_gradient(
            X, Y, W_kernel - lr * beta * v_kernel, W_bias - lr * beta * v_bias
        )
        v_kernel, v_bias = beta * v_kernel + g_kernel, beta * v_bias + g_bias
        W_kernel, W_bias = W_kernel - lr * v_kernel, W_bias - lr * v_bias
        expected[step] = (W_kernel - lr * beta * v_kernel, W_bias - lr * beta * v_bias)
    for step, (kernel, bias) in run_keras(case).items():
        assert_close(kernel, expected[step][0], 1e-9, f"kernel at step {step}")
        assert_close(bias, expected[step][1], 1e-9, f"bias at step {step}")


# Two hand-computed steps per optimizer (the second uses the state the first left),
# each written from the chapter's formula, not from the code under test.
W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
G1 = np.array([[0.3, -0.2], [0.1, 0.4]])
G2 = np.array([[-0.1, 0.5], [0.2, -0.3]])


def _sgd_steps(lr=0.1, wd=0.05):
    w1 = W0 - lr * (G1 + wd * W0)
    return w1, w1 - lr * (G2 + wd * w1)


def _momentum_steps(lr=0.1, beta=0.8, wd=0.05):
    v1 = (1 - beta) * (G1 + wd * W0)
    w1 = W0 - lr * v1
    v2 = beta * v1 + (1 - beta) * (G2 + wd * w1)
    return w1, w1 - lr * v2


def _nesterov_steps(lr=0.1, beta=0.8, wd=0.05):
    g1 = G1 + wd * W0
    w1 = W0 - lr * (g1 + beta * g1)
    g2 = G2 + wd * w1
    buf2 = beta * g1 + g2
    return w1, w1 - lr * (g2 + beta * buf2)


def _adagrad_steps(lr=0.1, eps=0.01, acc0=0.2, wd=0.05):
    g1 = G1 + wd * W0
    w1 = W0 - lr / (np.sqrt(acc0 + g1**2) + eps) * g1
    g2 = G2 + wd * w1
    return w1, w1 - lr / (np.sqrt(acc0 + g1**2 + g2**2) + eps) * g2


def _rmsprop_steps(lr=0.05, rho=0.9, eps=0.01, wd=0.05):
    g1 = G1 + wd * W0
    s1 = (1 - rho) * g1**2
    w1 = W0 - lr / (np.sqrt(s1) + eps) * g1
    g2 = G2 + wd * w1
    s2 = rho * s1 + (1 - rho) * g2**2
    return w1, w1 - lr / (np.sqrt(s2) + eps) * g2


def _adam_steps(lr=0.05, b1=0.8, b2=0.9, eps=0.01, wd=0.05, decoupled=False):
    """Textbook form: m_hat / (sqrt(v_hat) + eps)."""
    w, m, v = W0, 0.0, 0.0
    out = []
    for t, g in ((1, G1), (2, G2)):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return tuple(out)


def _adadelta_steps(lr=0.5, rho=0.8, eps=0.01, wd=0.05):
    w, G, D = W0, 0.0, 0.0
    out = []
    for g in (G1, G2):
        g = g + wd * w
        G = rho * G + (1 - rho) * g**2
        delta = np.sqrt(D + eps) / np.sqrt(G + eps) * g
        D = rho * D + (1 - rho) * delta**2
        w = w - lr * delta
        out.append(w)
    return tuple(out)


def _adamax_steps(lr=0.05, b1=0.8, b2=0.9, eps=0.01, wd=0.05):
    w, m, u = W0, 0.0, 0.0
    out = []
    for t, g in ((1, G1), (2, G2)):
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - lr / (1 - b1**t) * m / u
        out.append(w)
    return tuple(out)


def _nadam_steps(lr=0.05, b1=0.8, b2=0.9, eps=0.01, wd=0.05, psi=0.1):
    """Dozat's NAdam with PyTorch's momentum schedule mu_t = b1 (1 - 0.5 0.96^(t psi))."""
    w, m, v, product = W0, 0.0, 0.0, 1.0
    out = []
    for t, g in ((1, G1), (2, G2)):
        g = g + wd * w
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_hat = v / (1 - b2**t)
        m_bar = (1 - mu) * g / (1 - product) + mu_next * m / (1 - product * mu_next)
        w = w - lr * m_bar / (np.sqrt(v_hat) + eps)
        out.append(w)
    return tuple(out)


def _radam_steps(lr=0.05, b1=0.8, b2=0.5, eps=0.01, wd=0.05):
    """beta_2 = 0.5: rho_inf = 3, so both steps are the un-rectified momentum step."""
    w, m = W0, 0.0
    out = []
    for t, g in ((1, G1), (2, G2)):
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        w = w - lr * m / (1 - b1**t)
        out.append(w)
    return tuple(out)


HAND = {
    "SGD": (dict(learning_rate=0.1, weight_decay=0.05), _sgd_steps),
    "Momentum": (dict(learning_rate=0.1, momentum=0.8, weight_decay=0.05), _momentum_steps),
    "Nesterov": (dict(learning_rate=0.1, momentum=0.8, weight_decay=0.05), _nesterov_steps),
    "Adagrad": (
        dict(learning_rate=0.1, epsilon=0.01, initial_accumulator_value=0.2, weight_decay=0.05),
        _adagrad_steps,
    ),
    "RMSprop": (
        dict(learning_rate=0.05, rho=0.9, epsilon=0.01, weight_decay=0.05),
        _rmsprop_steps,
    ),
    "Adam": (
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.01, weight_decay=0.05),
        _adam_steps,
    ),
    "AdamW": (
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.01, weight_decay=0.05),
        lambda: _adam_steps(decoupled=True),
    ),
    "Adadelta": (
        dict(learning_rate=0.5, rho=0.8, epsilon=0.01, weight_decay=0.05),
        _adadelta_steps,
    ),
    "Adamax": (
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.01, weight_decay=0.05),
        _adamax_steps,
    ),
    "NAdam": (
        dict(
            learning_rate=0.05,
            beta_1=0.8,
            beta_2=0.9,
            epsilon=0.01,
            weight_decay=0.05,
            momentum_decay=0.1,
        ),
        _nadam_steps,
    ),
    "RAdam": (
        dict(learning_rate=0.05, beta_1=0.8, beta_2=0.5, epsilon=0.01, weight_decay=0.05),
        _radam_steps,
    ),
}


def two_steps(optimizer, dtype="float64"):
    with floatx(dtype):
        w = keras.Variable(W0, dtype=dtype, name="kernel")
        out = []
        for g in (G1, G2):
            optimizer.apply([ops.convert_to_tensor(g, dtype=dtype)], [w])
            out.append(w.numpy())
    return out


@pytest.mark.parametrize("name", sorted(HAND))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_hand_computed_steps(name, dtype):
    kwargs, steps = HAND[name]
    with floatx(dtype):
        optimizer = getattr(kerasdl.optimizers, name)(**kwargs)
    got = two_steps(optimizer, dtype)
    for step, (actual, expected) in enumerate(zip(got, steps(), strict=True), start=1):
        assert_close(actual, expected, TOLERANCE[dtype], f"{name} step {step}")


def test_each_optimizer_takes_the_chapters_first_step():
    """The defaults on one step of g = [3, -4]: the rules of chapter 3.2 by hand."""
    g = np.array([3.0, -4.0])
    w0 = np.array([1.0, 1.0])
    expected = {
        SGD: w0 - 0.01 * g,
        Momentum: w0 - 0.01 * (0.1 * g),
        Nesterov: w0 - 0.01 * (g + 0.9 * g),
        Adagrad: w0 - 0.01 * g / (np.abs(g) + 1e-10),
        RMSprop: w0 - 0.01 * g / (np.sqrt(0.01 * g**2) + 1e-8),
        Adam: w0 - 0.001 * g / (np.abs(g) + 1e-8),
        AdamW: w0 * (1 - 0.001 * 0.01) - 0.001 * g / (np.abs(g) + 1e-8),
    }
    for cls, want in expected.items():
        with floatx("float64"):
            w = keras.Variable(w0, dtype="float64")
            cls().apply([ops.convert_to_tensor(g, dtype="float64")], [w])
        assert_close(w.numpy(), want, 1e-12, cls.__qualname__)


# ---------------------------------------------------------------------------
# Weight decay: PyTorch's meaning, applied once, with both exclusions.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_keras_weight_decay_machinery_is_off(cls):
    """The base class's decoupled decay does nothing; kerasdl decays in update_step."""
    optimizer = cls(learning_rate=0.5, weight_decay=0.5)
    assert optimizer.weight_decay == 0.5  # Keras's base would decay with this ...
    w = keras.Variable(W0, dtype="float32")
    optimizer.build([w])
    optimizer._apply_weight_decay([w])  # ... but kerasdl's override does nothing.
    np.testing.assert_array_equal(w.numpy(), W0.astype("float32"))


@pytest.mark.parametrize("name", sorted(HAND))
def test_weight_decay_is_applied_once(name):
    """One step matches the single-decay formula and not Keras's decay on top of it."""
    kwargs, steps = HAND[name]
    lr, wd = kwargs["learning_rate"], kwargs["weight_decay"]
    with floatx("float64"):
        got = two_steps(getattr(kerasdl.optimizers, name)(**kwargs))[0]
    once = steps()[0]
    twice = once - lr * wd * W0  # what Keras's base-class decay would add
    assert_close(got, once, 1e-12, name)
    assert np.abs(got - twice).min() > 1e-4


def _decayed_after_zero_gradient(cls, configure, **kwargs):
    """Variables (kernel 2-D, bias 1-D, gamma 1-D) after one step with zero gradients."""
    optimizer = cls(learning_rate=0.1, weight_decay=0.5, **kwargs)
    configure(optimizer)
    variables = [
        keras.Variable(W0, dtype="float32", name="kernel"),
        keras.Variable([1.0, -2.0], dtype="float32", name="bias"),
        keras.Variable([1.5, 0.5], dtype="float32", name="gamma"),
    ]
    optimizer.apply([ops.zeros(v.shape, v.dtype) for v in variables], variables)
    starts = (W0, np.array([1.0, -2.0]), np.array([1.5, 0.5]))
    return {
        v.name: not np.array_equal(v.numpy(), start.astype("float32"))
        for v, start in zip(variables, starts, strict=True)
    }


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_exclusions_exempt_the_right_variables(cls):
    """With a zero gradient only the decay moves a variable (exactly 0 step otherwise)."""
    none = _decayed_after_zero_gradient(cls, lambda o: None)
    assert none == {"kernel": True, "bias": True, "gamma": True}
    by_rank = _decayed_after_zero_gradient(cls, lambda o: None, exclude_bias_and_norm=True)
    assert by_rank == {"kernel": True, "bias": False, "gamma": False}
    by_name = _decayed_after_zero_gradient(
        cls, lambda o: o.exclude_from_weight_decay(var_names=["bias"])
    )
    assert by_name == {"kernel": True, "bias": False, "gamma": True}
    both = _decayed_after_zero_gradient(
        cls, lambda o: o.exclude_from_weight_decay(var_names=["kern"]), exclude_bias_and_norm=True
    )
    assert both == {"kernel": False, "bias": False, "gamma": False}


def test_exclusions_by_variable_and_exact_decay():
    """SGD with g = 0: w1 = (1 - lr * wd) w0 for decayed variables (var_list works too)."""
    optimizer = SGD(learning_rate=0.1, weight_decay=0.5)
    kernel = keras.Variable(W0, dtype="float64", name="kernel")
    other = keras.Variable(W0, dtype="float64", name="other")
    optimizer.exclude_from_weight_decay(var_list=[other])
    optimizer.apply([ops.zeros(W0.shape, "float64")] * 2, [kernel, other])
    assert_close(kernel.numpy(), W0 * (1 - 0.1 * 0.5), 1e-7, "kernel")
    np.testing.assert_array_equal(other.numpy(), W0)


def test_exclusion_by_layer_name_is_the_same_on_every_backend():
    """Names match the variable's path, decided at build (not backend-specific names)."""
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, bias_initializer="ones", name="body"),
            keras.layers.Dense(1, bias_initializer="ones", name="head"),
        ],
        name="net",
    )
    optimizer = SGD(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["head"])
    variables = model.trainable_variables
    before = [v.numpy() for v in variables]
    optimizer.apply([ops.zeros(v.shape, v.dtype) for v in variables], variables)
    moved = {
        v.path: not np.array_equal(v.numpy(), b) for v, b in zip(variables, before, strict=True)
    }
    assert moved == {
        "net/body/kernel": True,
        "net/body/bias": True,
        "net/head/kernel": False,
        "net/head/bias": False,
    }


def test_exclude_after_build_raises():
    optimizer = AdamW()
    optimizer.build([keras.Variable(W0)])
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["bias"])


# ---------------------------------------------------------------------------
# Arguments and serialization.
# ---------------------------------------------------------------------------

INVALID = [
    (SGD, {"learning_rate": -0.1}, "Argument `learning_rate` must be >= 0. Received: "),
    (Adam, {"learning_rate": float("nan")}, "Argument `learning_rate` must be a real number"),
    (SGD, {"learning_rate": "fast"}, "Argument `learning_rate` must be a real number"),
    (SGD, {"weight_decay": -1e-4}, "Argument `weight_decay` must be >= 0. Received: "),
    (AdamW, {"weight_decay": -0.01}, "Argument `weight_decay` must be >= 0"),
    (Momentum, {"momentum": 1.0}, r"Argument `momentum` must be in \[0.0, 1.0\). Received: "),
    (Momentum, {"momentum": -0.1}, r"Argument `momentum` must be in \[0.0, 1.0\)"),
    (Nesterov, {"momentum": 1.5}, r"Argument `momentum` must be in \[0.0, 1.0\)"),
    (RMSprop, {"rho": 1.0}, r"Argument `rho` must be in \[0.0, 1.0\)"),
    (RMSprop, {"epsilon": 0.0}, "Argument `epsilon` must be > 0. Received: epsilon=0.0"),
    (Adagrad, {"epsilon": -1e-10}, "Argument `epsilon` must be > 0"),
    (Adagrad, {"initial_accumulator_value": -0.1}, "Argument `initial_accumulator_value`"),
    (Adam, {"beta_1": 1.0}, r"Argument `beta_1` must be in \[0.0, 1.0\). Received: beta_1=1.0"),
    (Adam, {"beta_2": -0.5}, r"Argument `beta_2` must be in \[0.0, 1.0\)"),
    (AdamW, {"beta_2": 1.0}, r"Argument `beta_2` must be in \[0.0, 1.0\)"),
    (AdamW, {"epsilon": 0}, "Argument `epsilon` must be > 0"),
    (Adam, {"fused": "yes"}, "Argument `fused` must be one of None, False, True"),
    (Adam, {"clipnorm": 1.0, "clipvalue": 1.0}, "Only one of `clipnorm`"),  # Keras's check
    (SGD, {"momentum": -0.9}, "Argument `momentum` must be >= 0"),
    (SGD, {"nesterov": True}, r"`nesterov=True` needs `momentum > 0` and `dampening == 0`"),
    (SGD, {"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "needs `momentum > 0`"),
    (SGD, {"dampening": float("nan")}, "Argument `dampening` must be a real number"),
    (SGD, {"maximize": "yes"}, "Argument `maximize` must be one of False, True"),
    (SGD, {"amsgrad": True}, "not recognized"),  # an option SGD does not have
    (RMSprop, {"momentum": -0.1}, "Argument `momentum` must be >= 0"),
    (Adagrad, {"lr_decay": -0.1}, "Argument `lr_decay` must be >= 0"),
    (Adam, {"amsgrad": 1.5}, "Argument `amsgrad` must be one of False, True"),
    (AdamW, {"weight_decay": None}, "AdamW does not take None"),
    (Adadelta, {"rho": 1.0}, r"Argument `rho` must be in \[0.0, 1.0\)"),
    (Adadelta, {"epsilon": 0.0}, "Argument `epsilon` must be > 0"),
    (Adamax, {"beta_2": 1.0}, r"Argument `beta_2` must be in \[0.0, 1.0\)"),
    (NAdam, {"momentum_decay": -1.0}, "Argument `momentum_decay` must be >= 0"),
    (NAdam, {"decoupled_weight_decay": "no"}, "Argument `decoupled_weight_decay` must be one"),
    (RAdam, {"beta_1": 1.0}, r"Argument `beta_1` must be in \[0.0, 1.0\)"),
    (RAdam, {"epsilon": -1.0}, "Argument `epsilon` must be > 0"),
]


@pytest.mark.parametrize(
    "cls, kwargs, message",
    INVALID,
    ids=[f"{c.__qualname__}-{'-'.join(k)}" for c, k, _ in INVALID],
)
def test_invalid_arguments(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_learning_rate_forms():
    """An int becomes a float; a schedule or a callable is accepted unchecked."""
    assert SGD(learning_rate=1).get_config()["learning_rate"] == 1.0
    assert SGD(learning_rate=0.0).get_config()["learning_rate"] == 0.0
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert Adam(learning_rate=schedule)._learning_rate is schedule
    optimizer = Adam(learning_rate=lambda: 0.25)
    assert float(optimizer.learning_rate) == 0.25
    assert SGD(weight_decay=None).weight_decay == 0.0


DEFAULTS = {
    SGD: {"learning_rate": 0.01, "weight_decay": 0.0},
    Momentum: {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    Nesterov: {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    Adagrad: {"learning_rate": 0.01, "epsilon": 1e-10, "initial_accumulator_value": 0.0},
    RMSprop: {"learning_rate": 0.01, "rho": 0.99, "epsilon": 1e-8, "centered": False},
    Adam: {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    AdamW: {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "weight_decay": 0.01},
    Adadelta: {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6, "weight_decay": 0.0},
    Adamax: {"learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    NAdam: {
        "learning_rate": 0.002,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
        "momentum_decay": 0.004,
        "decoupled_weight_decay": False,
    },
    RAdam: {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
        "decoupled_weight_decay": False,
    },
}
# PyTorch 2.13's defaults of the options, where kerasdl's optimizer has them.
OPTION_DEFAULTS = {
    SGD: {"momentum": 0.0, "dampening": 0.0, "nesterov": False},
    Adagrad: {"lr_decay": 0.0},
    RMSprop: {"momentum": 0.0, "centered": False},
    Adam: {"amsgrad": False},
    AdamW: {"amsgrad": False},
}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_defaults_are_pytorchs(cls):
    config = cls().get_config()
    for key, value in DEFAULTS[cls].items():
        assert config[key] == pytest.approx(value, rel=1e-7), key
    for key, value in OPTION_DEFAULTS.get(cls, {}).items():
        assert config[key] == value, key
    assert config["maximize"] is False
    assert config["exclude_bias_and_norm"] is False
    assert config["exclude_from_weight_decay"] is None


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
@pytest.mark.parametrize("lr", ["float", "schedule"])
def test_config_round_trip(cls, lr):
    learning_rate = (
        0.03 if lr == "float" else keras.optimizers.schedules.CosineDecay(0.03, decay_steps=100)
    )
    optimizer = cls(
        learning_rate=learning_rate, weight_decay=0.02, exclude_bias_and_norm=True, clipnorm=1.0
    )
    optimizer.exclude_from_weight_decay(var_names=["gamma", "bias"])
    config = optimizer.get_config()
    assert config["exclude_from_weight_decay"] == ["bias", "gamma"]
    json.dumps(config)  # JSON-able
    restored = cls.from_config(config)
    assert type(restored) is cls
    assert restored.get_config() == config
    assert restored.exclude_bias_and_norm is True
    if lr == "schedule":
        assert isinstance(restored._learning_rate, keras.optimizers.schedules.CosineDecay)
    # By registered name, as a saved model finds it.
    serialized = keras.optimizers.serialize(optimizer)
    assert serialized["registered_name"] == f"kerasdl>{cls.__qualname__}"
    again = keras.optimizers.deserialize(json.loads(json.dumps(serialized)))
    assert type(again) is cls
    assert again.get_config() == config


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_saved_model_keeps_optimizer_and_exclusions(cls, tmp_path):
    """model.save + load_model without custom_objects: same outputs, state, exclusions."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = cls(learning_rate=0.1, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=optimizer, loss="mse")
    x = np.arange(12.0).reshape(4, 3) / 10
    grads = [ops.ones(v.shape) * 0.3 for v in model.trainable_variables]
    optimizer.apply(grads, model.trainable_variables)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is cls
    assert loaded.optimizer.get_config() == optimizer.get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.optimizer.variables, optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Both go on alike (the restored exclusion still exempts the bias).
    assert loaded.optimizer.decays(loaded.layers[0].bias) is False
    assert loaded.optimizer.decays(loaded.layers[0].kernel) is True
    for m in (model, loaded):
        m.optimizer.apply([ops.ones(v.shape) * -0.2 for v in m.trainable_variables])
    for a, b in zip(loaded.trainable_variables, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="stateless_apply is for JAX")
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_stateless_apply_matches_apply(cls):
    """JAX's stateless path (used by fit) gives the same numbers as `apply`."""
    kwargs, _ = HAND[cls.__qualname__]
    stateful = two_steps(cls(**kwargs))[1]
    w = keras.Variable(W0, dtype="float64")
    optimizer = cls(**kwargs)
    optimizer.build([w])
    values, slots = [w.value], [v.value for v in optimizer.variables]
    for g in (G1, G2):
        values, slots = optimizer.stateless_apply(slots, [ops.convert_to_tensor(g)], values)
    np.testing.assert_allclose(np.asarray(values[0]), stateful, rtol=1e-12)


# ---------------------------------------------------------------------------
# PyTorch's options: maximize everywhere, amsgrad on the fused path, coverage.
# ---------------------------------------------------------------------------

# Every option kerasdl took from torch.optim, by class: each needs a golden case.
OPTIONS = {
    "SGD": ("momentum", "dampening", "nesterov", "maximize"),
    "Momentum": ("maximize",),
    "Nesterov": ("maximize",),
    "Adagrad": ("lr_decay", "maximize"),
    "RMSprop": ("momentum", "centered", "maximize"),
    "Adam": ("amsgrad", "maximize"),
    "AdamW": ("amsgrad", "maximize"),
    "Adadelta": ("rho", "epsilon", "maximize"),
    "Adamax": ("beta_1", "beta_2", "epsilon", "maximize"),
    "NAdam": ("momentum_decay", "decoupled_weight_decay", "maximize"),
    "RAdam": ("beta_1", "beta_2", "epsilon", "decoupled_weight_decay", "maximize"),
}


def test_golden_file_covers_every_option():
    for name, options in OPTIONS.items():
        cases = [c for c in TRAJECTORIES if c["keras"]["class"] == name]
        for option in options:
            assert any(c["keras"]["kwargs"].get(option) for c in cases), (name, option)
        maximized = [c for c in cases if c["keras"]["kwargs"].get("maximize")]
        assert maximized and all(c["torch"]["kwargs"]["maximize"] for c in maximized), name


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__qualname__)
def test_maximize_is_descent_on_the_negated_gradient(cls):
    kwargs, _ = HAND[cls.__qualname__]
    with floatx("float64"):
        ascended = two_steps(cls(**kwargs, maximize=True))
        w = keras.Variable(W0, dtype="float64", name="kernel")
        optimizer = cls(**kwargs)
        descended = []
        for g in (G1, G2):
            optimizer.apply([ops.convert_to_tensor(-g, dtype="float64")], [w])
            descended.append(w.numpy())
    for a, d in zip(ascended, descended, strict=True):
        np.testing.assert_array_equal(a, d)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="fused is TensorFlow's kernel")
@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_fused_kernel_covers_amsgrad_and_maximize(cls):
    variables = [keras.Variable(np.ones((3, 2))), keras.Variable(np.ones(2))]
    ams = traced_op_types(cls(amsgrad=True, maximize=True), variables)
    assert ams.count("ResourceApplyAdamWithAmsgrad") == 2
    assert "ResourceApplyAdam" not in ams
    unfused = traced_op_types(cls(amsgrad=True, fused=False), variables)
    assert not {"ResourceApplyAdam", "ResourceApplyAdamWithAmsgrad"} & set(unfused)


@pytest.mark.parametrize("cls", [Adam, AdamW], ids=lambda c: c.__qualname__)
def test_amsgrad_keeps_the_maximum_of_v(cls):
    """After a large then a small gradient the AMSGrad step is smaller than Adam's."""
    with floatx("float64"):
        steps = {}
        for amsgrad in (False, True):
            w = keras.Variable([1.0], dtype="float64")
            optimizer = cls(learning_rate=0.1, weight_decay=0.0, amsgrad=amsgrad, fused=False)
            for g in (10.0, 0.1):
                before = w.numpy()
                optimizer.apply([ops.convert_to_tensor([g], dtype="float64")], [w])
            steps[amsgrad] = float(before[0] - w.numpy()[0])
            if amsgrad:
                v, v_max = optimizer._velocities[0].numpy(), optimizer._velocity_maxima[0].numpy()
                assert v_max[0] > v[0]
    assert 0 < steps[True] < steps[False]


def test_sgd_momentum_buffer_starts_at_the_gradient():
    """torch.optim.SGD: b_1 = g_1 (not (1 - dampening) g_1), then b = mu b + (1 - tau) g."""
    with floatx("float64"):
        w = keras.Variable(W0, dtype="float64")
        optimizer = SGD(learning_rate=0.1, momentum=0.9, dampening=0.5)
        optimizer.apply([ops.convert_to_tensor(G1, dtype="float64")], [w])
        assert_close(w.numpy(), W0 - 0.1 * G1, 1e-12, "first step")
        optimizer.apply([ops.convert_to_tensor(G2, dtype="float64")], [w])
        assert_close(w.numpy(), W0 - 0.1 * G1 - 0.1 * (0.9 * G1 + 0.5 * G2), 1e-12, "second")


def test_plain_sgd_has_no_momentum_buffer():
    optimizer = SGD()
    optimizer.build([keras.Variable(W0)])
    assert [v.name for v in optimizer.variables] == ["iteration", "learning_rate"]


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (SGD, {"momentum": 0.9, "dampening": 0.1, "maximize": True}),
        (SGD, {"momentum": 0.9, "nesterov": True}),
        (RMSprop, {"momentum": 0.5, "centered": True}),
        (Adagrad, {"lr_decay": 0.01}),
        (Adam, {"amsgrad": True, "maximize": True}),
        (AdamW, {"amsgrad": True}),
        (NAdam, {"momentum_decay": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
        (RAdam, {"decoupled_weight_decay": True, "weight_decay": 0.1}),
    ],
    ids=lambda x: x.__qualname__ if isinstance(x, type) else "-".join(x),
)
def test_options_round_trip(cls, kwargs, tmp_path):
    optimizer = cls(**kwargs)
    config = optimizer.get_config()
    for key, value in kwargs.items():
        assert config[key] == value, key
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == config
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    variables = model.trainable_variables
    optimizer.apply([ops.ones(v.shape) * 0.3 for v in variables], variables)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.get_config() == config
    for a, b in zip(loaded.optimizer.variables, optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
