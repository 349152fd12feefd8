"""kerasdl's optimizers under the machinery of Keras's optimizer base class: the chapter's seven,
torch.optim's Adadelta, Adamax, NAdam and RAdam, and SGD with PyTorch's momentum and Nesterov.

Every feature is checked with each optimizer against an independent NumPy model
of what should happen: the kerasdl update rule (PyTorch's semantics, chapter 3.2
and docs/optimizers.md) written out below in float64, wrapped in the semantics
Keras documents for the feature (base_optimizer.py): learning rate as a float,
a schedule or a callable; clipnorm / clipvalue / global_clipnorm (clip first,
then the update); EMA of the weights; gradient accumulation; static and dynamic
loss scaling; variable constraints; missing gradients; ``stateless_apply``.

Training-loop features (mixed precision, XLA, saving mid-training) live in
test_optimizer_features_training.py, tf.distribute in
test_optimizer_features_distribute.py; both import the table and the reference
from here.
"""

import keras
import numpy as np
import pytest
from keras import ops

import kerasdl.optimizers

NAMES = (
    "SGD",
    "Momentum",
    "Nesterov",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "SGD-momentum",
    "SGD-nesterov",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
)
# A name of the table -> the kerasdl class (the SGD rows are torch.optim.SGD's options).
CLASSES = {name: name.split("-")[0] for name in NAMES}

# Non-default hyperparameters, chosen so that each feature changes the numbers: a
# weight decay everywhere (the L2 term breaks the scale invariance of the adaptive
# methods, so a wrong mean / sum / scale shows), and an epsilon of 0.1 against
# gradients of order 1 (so Adagrad, RMSprop and Adam are not sign-like).
KWARGS = {
    "SGD": dict(learning_rate=0.1, weight_decay=0.05),
    "Momentum": dict(learning_rate=0.1, momentum=0.8, weight_decay=0.05),
    "Nesterov": dict(learning_rate=0.1, momentum=0.8, weight_decay=0.05),
    "Adagrad": dict(
        learning_rate=0.1, epsilon=0.1, initial_accumulator_value=0.2, weight_decay=0.05
    ),
    "RMSprop": dict(learning_rate=0.05, rho=0.9, epsilon=0.1, weight_decay=0.05),
    "Adam": dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.1, weight_decay=0.05),
    "AdamW": dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.1, weight_decay=0.1),
    "SGD-momentum": dict(learning_rate=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
    "SGD-nesterov": dict(learning_rate=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
    "Adadelta": dict(learning_rate=0.5, rho=0.8, epsilon=0.1, weight_decay=0.05),
    "Adamax": dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.1, weight_decay=0.05),
    "NAdam": dict(
        learning_rate=0.05,
        beta_1=0.8,
        beta_2=0.9,
        epsilon=0.1,
        weight_decay=0.05,
        momentum_decay=0.04,
    ),
    # beta_2 = 0.9: the rectification is off for t <= 2 (rho_t <= 5) and on after.
    "RAdam": dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=0.1, weight_decay=0.05),
}

RTOL, ATOL = 1e-5, 1e-6  # float32 variables against a float64 reference


def make_optimizer(name, **overrides):
    """The kerasdl optimizer `name` with the hyperparameters of `KWARGS`."""
    return optimizer_class(name)(**{**KWARGS[name], **overrides})


def optimizer_class(name):
    """The kerasdl optimizer class of the table's row `name`."""
    return getattr(kerasdl.optimizers, CLASSES[name])


# ---------------------------------------------------------------------------
# The kerasdl update rules in NumPy (float64): w, g -> new w; `s` holds the slots.
# ---------------------------------------------------------------------------


def _sgd(w, g, s, lr, t, weight_decay):
    g = g + weight_decay * w
    return w - lr * g


def _momentum(w, g, s, lr, t, momentum, weight_decay):
    g = g + weight_decay * w
    s["v"] = momentum * s.get("v", 0.0) + (1 - momentum) * g  # chapter 3.2.3, v_0 = 0
    return w - lr * s["v"]


def _nesterov(w, g, s, lr, t, momentum, weight_decay):
    g = g + weight_decay * w
    s["buf"] = momentum * s.get("buf", 0.0) + g  # PyTorch's look-ahead form
    return w - lr * (g + momentum * s["buf"])


def _adagrad(w, g, s, lr, t, epsilon, initial_accumulator_value, weight_decay):
    g = g + weight_decay * w
    s["G"] = s.get("G", initial_accumulator_value) + g * g
    return w - lr * g / (np.sqrt(s["G"]) + epsilon)


def _rmsprop(w, g, s, lr, t, rho, epsilon, weight_decay):
    g = g + weight_decay * w
    s["G"] = rho * s.get("G", 0.0) + (1 - rho) * g * g
    return w - lr * g / (np.sqrt(s["G"]) + epsilon)


def _adam_step(w, g, s, lr, t, beta_1, beta_2, epsilon):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    m_hat = s["m"] / (1 - beta_1**t)
    v_hat = s["v"] / (1 - beta_2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def _adam(w, g, s, lr, t, beta_1, beta_2, epsilon, weight_decay):
    return _adam_step(w, g + weight_decay * w, s, lr, t, beta_1, beta_2, epsilon)


def _adamw(w, g, s, lr, t, beta_1, beta_2, epsilon, weight_decay):
    w = w - lr * weight_decay * w  # decoupled, before the Adam step (as torch.optim.AdamW)
    return _adam_step(w, g, s, lr, t, beta_1, beta_2, epsilon)


def _torch_sgd(w, g, s, lr, t, momentum, weight_decay, dampening=0.0, nesterov=False):
    """torch.optim.SGD: the heavy-ball buffer starts at g, then mu * buf + (1 - dampening) g.

    "Starts" at the optimizer's first step (t = 1), the step count Keras keeps for all variables
    (as `t` in the Adam family's bias corrections here); torch counts each parameter's own steps,
    so a variable whose first gradient comes later starts from (1 - dampening) g in kerasdl.
    """
    g = g + weight_decay * w
    s["buf"] = g if t == 1 else momentum * s.get("buf", 0.0) + (1 - dampening) * g
    return w - lr * (g + momentum * s["buf"] if nesterov else s["buf"])


def _adadelta(w, g, s, lr, t, rho, epsilon, weight_decay):
    g = g + weight_decay * w
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(s.get("u", 0.0) + epsilon) / np.sqrt(s["v"] + epsilon) * g
    s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
    return w - lr * delta


def _adamax(w, g, s, lr, t, beta_1, beta_2, epsilon, weight_decay):
    g = g + weight_decay * w
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g) + epsilon)
    return w - lr / (1 - beta_1**t) * s["m"] / s["u"]


def _nadam(w, g, s, lr, t, beta_1, beta_2, epsilon, weight_decay, momentum_decay):
    g = g + weight_decay * w
    mu = beta_1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta_1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    s["mu_product"] = s.get("mu_product", 1.0) * mu
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    denom = np.sqrt(s["v"] / (1 - beta_2**t)) + epsilon
    w = w - lr * (1 - mu) / (1 - s["mu_product"]) * g / denom
    return w - lr * mu_next / (1 - s["mu_product"] * mu_next) * s["m"] / denom


def _radam(w, g, s, lr, t, beta_1, beta_2, epsilon, weight_decay):
    g = g + weight_decay * w
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    m_hat = s["m"] / (1 - beta_1**t)
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
    if rho_t <= 5:
        return w - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = np.sqrt(1 - beta_2**t) / (np.sqrt(s["v"]) + epsilon)
    return w - lr * m_hat * rect * adaptive


RULES = {
    "SGD": _sgd,
    "Momentum": _momentum,
    "Nesterov": _nesterov,
    "Adagrad": _adagrad,
    "RMSprop": _rmsprop,
    "Adam": _adam,
    "AdamW": _adamw,
    "SGD-momentum": _torch_sgd,
    "SGD-nesterov": _torch_sgd,
    "Adadelta": _adadelta,
    "Adamax": _adamax,
    "NAdam": _nadam,
    "RAdam": _radam,
}


class Reference:
    """One kerasdl optimizer in NumPy float64, stepped by hand.

    `step(grads, lr)` takes one optimizer step (Keras's `iterations` + 1, so `t`
    counts from 1); a `None` gradient leaves its variable and its slots alone.
    """

    def __init__(self, name, params, **overrides):
        hyper = {**KWARGS[name], **overrides}
        hyper.pop("learning_rate")
        self.rule = RULES[name]
        self.hyper = hyper
        self.params = [np.asarray(p, np.float64).copy() for p in params]
        self.slots = [{} for _ in params]
        self.t = 0

    def step(self, grads, lr):
        self.t += 1
        for i, g in enumerate(grads):
            if g is not None:
                g = np.asarray(g, np.float64)
                self.params[i] = self.rule(
                    self.params[i], g, self.slots[i], lr, self.t, **self.hyper
                )
        return self.params


# ---------------------------------------------------------------------------
# Fixed problem: a kernel (rank 2) and a bias (rank 1), gradients of order 1.
# ---------------------------------------------------------------------------

_rng = np.random.default_rng(31)
PARAMS = [
    _rng.normal(size=(3, 4)).astype("float32"),
    _rng.normal(size=(4,)).astype("float32"),
]
# The kernel's gradients are large (norm about 6), the bias's small (about 0.6), so
# a per-variable clip of 1 clips one and not the other.
GRADS = [
    [
        (1.8 * _rng.normal(size=(3, 4))).astype("float32"),
        (0.3 * _rng.normal(size=(4,))).astype("float32"),
    ]
    for _ in range(8)
]


def keras_variables(params=PARAMS):
    return [
        keras.Variable(p.copy(), name=n) for p, n in zip(params, ("kernel", "bias"), strict=True)
    ]


def tensors(grads):
    return [None if g is None else ops.convert_to_tensor(g) for g in grads]


def numpy_values(variables):
    return [ops.convert_to_numpy(v) for v in variables]


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        np.testing.assert_allclose(
            ops.convert_to_numpy(a), e, rtol=rtol, atol=atol, err_msg=f"{what} variable {i}"
        )


def slot_values(optimizer):
    """The optimizer's per-variable state (not its counters, learning rate, accumulators)."""
    skip = ("iteration", "learning_rate", "gradient_accumulator")
    return [
        ops.convert_to_numpy(v) for v in optimizer.variables if not any(s in v.name for s in skip)
    ]


def is_backend(name):
    return keras.backend.backend() == name


# ---------------------------------------------------------------------------
# Learning rate: a float (and its setter), a LearningRateSchedule, a callable.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["float", "schedule", "callable"])
@pytest.mark.parametrize("name", NAMES)
def test_learning_rate_float_schedule_callable(name, kind):
    base = KWARGS[name]["learning_rate"]
    steps = 4
    if kind == "float":
        # Two steps at `base`, then the setter (what keras.callbacks.LearningRateScheduler
        # uses) changes the learning-rate variable.
        lrs = [base, base, base / 4, base / 4]
        optimizer = make_optimizer(name, learning_rate=base)
    elif kind == "schedule":
        # Keras documents ExponentialDecay as lr0 * rate ** (step / decay_steps), called
        # with the optimizer's iterations before the step (0, 1, 2, ...).
        schedule = keras.optimizers.schedules.ExponentialDecay(base, decay_steps=2, decay_rate=0.5)
        lrs = [base * 0.5 ** (i / 2) for i in range(steps)]
        optimizer = make_optimizer(name, learning_rate=schedule)
    else:
        # A callable without arguments, re-evaluated at every step.
        lrs = [base, base / 4, base * 0.75, base / 2]
        current = {"lr": None}
        optimizer = make_optimizer(name, learning_rate=lambda: current["lr"])

    variables = keras_variables()
    reference = Reference(name, PARAMS)
    for i in range(steps):
        if kind == "float" and i == 2:
            optimizer.learning_rate = lrs[2]
        if kind == "callable":
            current["lr"] = lrs[i]
        optimizer.apply(tensors(GRADS[i]), variables)
        reference.step(GRADS[i], lrs[i])
        assert_close(variables, reference.params, what=f"step {i + 1}")
    assert int(optimizer.iterations) == steps


# ---------------------------------------------------------------------------
# Clipping: Keras clips the raw gradients, then the optimizer (and its L2) runs.
# ---------------------------------------------------------------------------


def clip_numpy(grads, kind, c):
    grads = [np.asarray(g, np.float64) for g in grads]
    if kind == "clipnorm":
        return [g * c / max(np.linalg.norm(g), c) for g in grads]
    if kind == "clipvalue":
        return [np.clip(g, -c, c) for g in grads]
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    return [g * c / max(norm, c) for g in grads]


CLIPS = {"clipnorm": 1.0, "clipvalue": 0.5, "global_clipnorm": 1.5}


@pytest.mark.parametrize("kind", list(CLIPS))
@pytest.mark.parametrize("name", NAMES)
def test_gradient_clipping_precedes_the_update(name, kind):
    c = CLIPS[kind]
    # The problem must exercise the clip: some values clipped, some not.
    kernel_grad, bias_grad = GRADS[0]
    if kind == "clipnorm":
        assert np.linalg.norm(kernel_grad) > c > np.linalg.norm(bias_grad)
    elif kind == "clipvalue":
        assert np.any(np.abs(kernel_grad) > c) and np.any(np.abs(kernel_grad) < c)
    else:
        assert np.sqrt(np.sum(kernel_grad**2) + np.sum(bias_grad**2)) > c

    optimizer = make_optimizer(name, **{kind: c})
    variables = keras_variables()
    reference = Reference(name, PARAMS)
    for i in range(3):
        optimizer.apply(tensors(GRADS[i]), variables)
        reference.step(clip_numpy(GRADS[i], kind, c), KWARGS[name]["learning_rate"])
        assert_close(variables, reference.params, what=f"{kind} step {i + 1}")


# ---------------------------------------------------------------------------
# EMA of the weights (use_ema, ema_momentum, ema_overwrite_frequency).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [None, 3], ids=["no_overwrite", "overwrite_every_3"])
@pytest.mark.parametrize("name", NAMES)
def test_ema_of_weights(name, frequency):
    """Keras's EMA: after each update, `average = w` at the first step and
    `average = m * average + (1 - m) * w` afterwards; every `frequency` steps the
    weights are overwritten by the average (the optimizer goes on from there);
    `finalize_variable_values` copies the average into the weights."""
    m = 0.7
    optimizer = make_optimizer(
        name, use_ema=True, ema_momentum=m, ema_overwrite_frequency=frequency
    )
    variables = keras_variables()
    reference = Reference(name, PARAMS)
    lr = KWARGS[name]["learning_rate"]
    average = None
    for i in range(7):
        optimizer.apply(tensors(GRADS[i]), variables)
        weights = reference.step(GRADS[i], lr)
        if average is None:
            average = [w.copy() for w in weights]
        else:
            average = [m * a + (1 - m) * w for a, w in zip(average, weights, strict=True)]
        if frequency and (i + 1) % frequency == 0:
            reference.params = [a.copy() for a in average]
        assert_close(variables, reference.params, what=f"weights after step {i + 1}")

    assert not np.allclose(numpy_values(variables)[0], average[0])  # finalizing changes them
    optimizer.finalize_variable_values(variables)
    assert_close(variables, average, what="finalized weights")


# ---------------------------------------------------------------------------
# Gradient accumulation.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_gradient_accumulation_is_one_step_on_the_mean(name):
    k = 3
    optimizer = make_optimizer(name, gradient_accumulation_steps=k)
    variables = keras_variables()
    reference = Reference(name, PARAMS)
    lr = KWARGS[name]["learning_rate"]
    optimizer.build(variables)
    for cycle in range(2):
        before = numpy_values(variables)
        slots_before = slot_values(optimizer)
        batch = GRADS[cycle * k : (cycle + 1) * k]
        for j, grads in enumerate(batch):
            optimizer.apply(tensors(grads), variables)
            if j < k - 1:  # in between: weights and optimizer state untouched
                for v, b in zip(numpy_values(variables), before, strict=True):
                    np.testing.assert_array_equal(v, b)
                for s, b in zip(slot_values(optimizer), slots_before, strict=True):
                    np.testing.assert_array_equal(s, b)
        mean = [np.mean([np.float64(g[i]) for g in batch], axis=0) for i in range(2)]
        reference.step(mean, lr)
        assert_close(variables, reference.params, what=f"after cycle {cycle + 1}")
        assert int(optimizer.iterations) == cycle + 1  # counts updates, not micro-batches


# ---------------------------------------------------------------------------
# Loss scaling: the static loss_scale_factor and the dynamic LossScaleOptimizer.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_static_loss_scale_factor(name):
    scale = 1024.0
    optimizer = make_optimizer(name, loss_scale_factor=scale)
    assert float(ops.convert_to_numpy(optimizer.scale_loss(2.0))) == 2 * scale
    variables = keras_variables()
    reference = Reference(name, PARAMS)
    for i in range(3):
        optimizer.apply(tensors([g * scale for g in GRADS[i]]), variables)
        reference.step(GRADS[i], KWARGS[name]["learning_rate"])
        assert_close(variables, reference.params, what=f"step {i + 1}")


def _apply_wrapped(optimizer, grads, variables):
    """One step of a LossScaleOptimizer: stateful on TensorFlow; on JAX, which needs
    `stateless_apply` for it (its branches assign variables), stateless."""
    if is_backend("jax"):
        new_vars, new_opt_vars = optimizer.stateless_apply(
            [v.value for v in optimizer.variables],
            tensors(grads),
            [v.value for v in variables],
        )
        for v, value in zip(variables, new_vars, strict=True):
            v.assign(value)
        for v, value in zip(optimizer.variables, new_opt_vars, strict=True):
            v.assign(value)
    else:
        optimizer.apply(tensors(grads), variables)


@pytest.mark.parametrize("name", NAMES)
def test_loss_scale_optimizer_matches_unwrapped_and_skips_nonfinite(name):
    """`LossScaleOptimizer` divides the gradients by its scale and updates like the
    inner optimizer would on the unscaled gradients; a step with an inf or NaN
    anywhere is skipped (weights, slots and the inner step count untouched) and
    halves the scale; every `dynamic_growth_steps` finite steps double it."""
    wrapped = keras.optimizers.LossScaleOptimizer(
        make_optimizer(name), initial_scale=2.0**10, dynamic_growth_steps=2
    )
    plain = make_optimizer(name)
    wrapped_vars, plain_vars = keras_variables(), keras_variables()
    wrapped.build(wrapped_vars)
    plain.build(plain_vars)
    reference = Reference(name, PARAMS)
    lr = KWARGS[name]["learning_rate"]

    inf_grads = [g.copy() for g in GRADS[2]]
    inf_grads[0][1, 2] = np.inf  # the bias's gradient stays finite
    nan_grads = [g.copy() for g in GRADS[3]]
    nan_grads[1][0] = np.nan
    finite = [GRADS[0], GRADS[1], None, None, GRADS[4], GRADS[5], GRADS[6]]
    fed = [GRADS[0], GRADS[1], inf_grads, nan_grads, GRADS[4], GRADS[5], GRADS[6]]
    # The documented rule: x2 after 2 finite steps in a row, /2 on a nonfinite step.
    expected_scales = [2.0**10, 2.0**10, 2.0**11, 2.0**10, 2.0**9, 2.0**9, 2.0**10, 2.0**10]
    plain_steps = 0
    for i, (grads, good) in enumerate(zip(fed, finite, strict=True)):
        scale = float(ops.convert_to_numpy(wrapped.dynamic_scale))
        assert scale == expected_scales[i]
        before = numpy_values(wrapped_vars)
        slots_before = slot_values(wrapped.inner_optimizer)
        _apply_wrapped(wrapped, [g * np.float32(scale) for g in grads], wrapped_vars)
        if good is None:
            for v, b in zip(numpy_values(wrapped_vars), before, strict=True):
                np.testing.assert_array_equal(v, b)
            for s, b in zip(slot_values(wrapped.inner_optimizer), slots_before, strict=True):
                np.testing.assert_array_equal(s, b)
        else:
            plain.apply(tensors(good), plain_vars)
            reference.step(good, lr)
            plain_steps += 1
            # Scaling by a power of two and back is exact; on JAX the wrapped step runs
            # compiled inside lax.cond, so allow float32 rounding, not a different rule.
            assert_close(wrapped_vars, numpy_values(plain_vars), 1e-6, 1e-7, what=f"{i}")
            assert_close(wrapped_vars, reference.params, what=f"step {i + 1} vs NumPy")
        assert int(wrapped.inner_optimizer.iterations) == plain_steps
    assert float(ops.convert_to_numpy(wrapped.dynamic_scale)) == expected_scales[-1]


# ---------------------------------------------------------------------------
# Constraints, missing gradients, overwrite_with_gradient.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_constraint_projects_after_each_update(name):
    variables = keras_variables()
    variables[0].constraint = keras.constraints.NonNeg()
    optimizer = make_optimizer(name)
    reference = Reference(name, PARAMS)
    for i in range(3):
        optimizer.apply(tensors(GRADS[i]), variables)
        reference.step(GRADS[i], KWARGS[name]["learning_rate"])
        reference.params[0] = np.maximum(reference.params[0], 0.0)  # slots keep going
        assert_close(variables, reference.params, what=f"step {i + 1}")
    assert np.any(ops.convert_to_numpy(variables[0]) == 0)  # the projection was active


@pytest.mark.parametrize("name", NAMES)
def test_missing_gradient_leaves_variable_and_slots_alone(name):
    """Keras drops a `None` gradient (with a warning) before `update_step`; the
    optimizer must still find each remaining variable's own slots."""
    optimizer = make_optimizer(name)
    variables = keras_variables()
    optimizer.build(variables)
    reference = Reference(name, PARAMS)
    lr = KWARGS[name]["learning_rate"]
    schedule = [[None, GRADS[0][1]], GRADS[1], [GRADS[2][0], None], GRADS[3]]
    for i, grads in enumerate(schedule):
        if any(g is None for g in grads):
            with pytest.warns(UserWarning, match="Gradients do not exist"):
                optimizer.apply(tensors(grads), variables)
        else:
            optimizer.apply(tensors(grads), variables)
        reference.step(grads, lr)
        assert_close(variables, reference.params, what=f"step {i + 1}")


@pytest.mark.parametrize("name", NAMES)
def test_overwrite_with_gradient_variable(name):
    """A variable flagged `overwrite_with_gradient` (float8 scales) takes its
    gradient's value; the others are updated by the optimizer as usual."""
    variables = keras_variables()
    variables[1].overwrite_with_gradient = True
    optimizer = make_optimizer(name)
    reference = Reference(name, PARAMS)
    for i in range(3):
        optimizer.apply(tensors(GRADS[i]), variables)
        reference.step([GRADS[i][0], None], KWARGS[name]["learning_rate"])
        assert_close(variables[:1], reference.params[:1], what=f"step {i + 1}")
        np.testing.assert_array_equal(ops.convert_to_numpy(variables[1]), GRADS[i][1])


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name):
    """Keras optimizers pickle through their config (KerasSaveable)."""
    import pickle

    optimizer = make_optimizer(name, clipnorm=1.0, use_ema=True)
    restored = pickle.loads(pickle.dumps(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()


# ---------------------------------------------------------------------------
# JAX: stateless_apply, traced by jax.jit, equals apply.
# ---------------------------------------------------------------------------


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="stateless_apply is JAX's API")
@pytest.mark.parametrize("features", ["plain", "accumulation_and_ema"])
@pytest.mark.parametrize("name", NAMES)
def test_stateless_apply_matches_apply(name, features):
    import jax

    extra = {}
    if features != "plain":
        extra = dict(gradient_accumulation_steps=2, use_ema=True, ema_overwrite_frequency=2)
    stateless = make_optimizer(name, **extra)
    stateful = make_optimizer(name, **extra)
    stateless_vars, stateful_vars = keras_variables(), keras_variables()
    stateless.build(stateless_vars)

    @jax.jit
    def step(optimizer_values, grads, values):
        return stateless.stateless_apply(optimizer_values, grads, values)

    values = [v.value for v in stateless_vars]
    optimizer_values = [v.value for v in stateless.variables]
    for i in range(6):
        values, optimizer_values = step(optimizer_values, tensors(GRADS[i]), values)
        stateful.apply(tensors(GRADS[i]), stateful_vars)
        assert_close(values, numpy_values(stateful_vars), rtol=1e-6, atol=1e-7, what=f"{i}")
        for a, b in zip(optimizer_values, stateful.variables, strict=True):
            np.testing.assert_allclose(a, ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7)
    if features == "plain":
        reference = Reference(name, PARAMS)
        for i in range(6):
            reference.step(GRADS[i], KWARGS[name]["learning_rate"])
        assert_close(values, reference.params, what="stateless vs NumPy")
    # The stateless call must not have touched the optimizer's own variables.
    assert int(stateless.iterations) == 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.IndexedSlices")
@pytest.mark.parametrize("fused", [None, False], ids=["default", "keras_ops"])
@pytest.mark.parametrize("name", NAMES)
def test_embedding_gradient_with_a_repeated_row_is_its_dense_sum(name, fused):
    """An embedding's gradient arrives as tf.IndexedSlices with one row per lookup; row 1 here
    twice. The update must be the one for the summed (dense) gradient, as in PyTorch: squaring
    the two copies separately (Keras's ops on IndexedSlices) gives another second moment."""
    import tensorflow as tf

    sparse = tf.IndexedSlices(
        values=tf.constant([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]),
        indices=tf.constant([1, 1, 3]),
        dense_shape=tf.constant([4, 2]),
    )
    dense = tf.convert_to_tensor(sparse)
    np.testing.assert_array_equal(dense.numpy()[1], [4.0, 1.0])  # the two copies summed
    extra = {"weight_decay": 0.0}  # L2 would densify the gradient and hide the difference
    if name in ("Adam", "AdamW"):
        extra["fused"] = fused
    elif fused is not None:
        pytest.skip("only Adam and AdamW have a fused kernel")
    weights = {}
    for kind, gradient in (("sparse", sparse), ("dense", dense)):
        w = keras.Variable(np.ones((4, 2), "float32"))
        optimizer = make_optimizer(name, **extra)
        for _ in range(3):
            optimizer.apply([gradient], [w])
        weights[kind] = w.numpy()
    assert not np.allclose(weights["dense"], 1.0)  # it moved
    np.testing.assert_allclose(weights["sparse"], weights["dense"], rtol=1e-6, atol=1e-7)
