"""kerasdl.schedules (chapter 3.5) against PyTorch's schedulers and the formulas in NumPy.

References, independent of each other and of the code under test:

- golden files from PyTorch (tests/reference/golden_schedules.py): StepLR, ExponentialLR and
  CosineAnnealingLR stepped once an epoch, LambdaLR for the warmups, every optimizer step;
- the chapter's formulas written out below in NumPy (float64), `numpy_schedule`.

Then: float32 output for every kind of step, tracing under XLA / `jax.jit` without retracing,
the rate an optimizer actually applies at each step of `fit` (kerasdl's and Keras's
optimizers), serialization (configs, nesting, `model.save` / `load_model`), invalid arguments,
and the value tables of docs/schedules.md.
"""

import functools
import json
import re
from pathlib import Path

import goldens
import keras
import numpy as np
import pytest
from conftest import backend
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import kerasdl.optimizers
from kerasdl import schedules

RTOL = 1e-6  # float32 schedules against float64 references (zeros are exact)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "schedules.md"


# ---------------------------------------------------------------------------
# The formulas (chapter 3.5, ERRATA 3.5.1 / 3.5.2) in NumPy, float64.
# ---------------------------------------------------------------------------


def _epochs(steps, steps_per_epoch):
    return np.asarray(steps) // steps_per_epoch


def np_step_lr(steps, initial_learning_rate, step_size, gamma=0.1, steps_per_epoch=1):
    return initial_learning_rate * gamma ** (_epochs(steps, steps_per_epoch) // step_size)


def np_exponential_lr(steps, initial_learning_rate, gamma, steps_per_epoch=1):
    return initial_learning_rate * gamma ** _epochs(steps, steps_per_epoch).astype(float)


def np_cosine_annealing_lr(steps, initial_learning_rate, T_max, eta_min=0.0, steps_per_epoch=1):
    epoch = _epochs(steps, steps_per_epoch)
    return eta_min + (initial_learning_rate - eta_min) * (1 + np.cos(np.pi * epoch / T_max)) / 2


def np_noam_warmup(steps, d_model, warmup_steps, scale=1.0):
    s = np.asarray(steps, dtype=float) + 1  # counted from 1
    return scale * d_model**-0.5 * np.minimum(s**-0.5, s * warmup_steps**-1.5)


def np_linear_warmup(steps, after, warmup_steps, initial_learning_rate=0.0):
    steps = np.asarray(steps)
    after_fn = after if callable(after) else (lambda k: np.full(np.shape(k), float(after)))
    if warmup_steps == 0:
        return after_fn(steps)
    ramp = initial_learning_rate + (after_fn(0) - initial_learning_rate) * steps / warmup_steps
    return np.where(steps < warmup_steps, ramp, after_fn(np.maximum(steps - warmup_steps, 0)))


NUMPY = {
    "StepLR": np_step_lr,
    "ExponentialLR": np_exponential_lr,
    "CosineAnnealingLR": np_cosine_annealing_lr,
    "NoamWarmup": np_noam_warmup,
    "LinearWarmup": np_linear_warmup,
}


def numpy_schedule(name, config):
    """`steps -> float64 rates` for a `(class name, config)` as in the golden file."""
    config = dict(config)
    if name == "LinearWarmup" and isinstance(config["after"], dict):
        config["after"] = numpy_schedule(config["after"]["schedule"], config["after"]["config"])
    return lambda steps: NUMPY[name](steps, **config)


def kerasdl_schedule(name, config):
    """The kerasdl schedule for a `(class name, config)` as in the golden file."""
    config = dict(config)
    if name == "LinearWarmup" and isinstance(config["after"], dict):
        config["after"] = kerasdl_schedule(config["after"]["schedule"], config["after"]["config"])
    return getattr(schedules, name)(**config)


EVAL_SIZE = 2048


def evaluate(schedule, steps):
    """The schedule at every step, in one call (every op is elementwise).

    Steps are padded to one length: JAX compiles each eager op once per shape, so one shape for
    every call keeps the suite fast.
    """
    steps = np.asarray(steps, dtype="int64")
    assert steps.ndim == 1 and len(steps) <= EVAL_SIZE
    padded = np.zeros(EVAL_SIZE, dtype="int64")
    padded[: len(steps)] = steps
    return ops.convert_to_numpy(schedule(padded))[: len(steps)]


# One of each, used by several tests below.
EXAMPLES = {
    "StepLR": (
        "StepLR",
        dict(initial_learning_rate=0.1, step_size=2, gamma=0.5, steps_per_epoch=3),
    ),
    "ExponentialLR": (
        "ExponentialLR",
        dict(initial_learning_rate=0.1, gamma=0.9, steps_per_epoch=2),
    ),
    "CosineAnnealingLR": (
        "CosineAnnealingLR",
        dict(initial_learning_rate=0.1, T_max=5, eta_min=0.01, steps_per_epoch=2),
    ),
    "NoamWarmup": ("NoamWarmup", dict(d_model=64, warmup_steps=8, scale=2.0)),
    "LinearWarmup-cosine": (
        "LinearWarmup",
        dict(
            after={
                "schedule": "CosineAnnealingLR",
                "config": dict(initial_learning_rate=0.1, T_max=4, steps_per_epoch=3),
            },
            warmup_steps=5,
            initial_learning_rate=0.01,
        ),
    ),
    "LinearWarmup-constant": ("LinearWarmup", dict(after=0.05, warmup_steps=4)),
}


# ---------------------------------------------------------------------------
# Values: PyTorch's goldens and the NumPy formulas.
# ---------------------------------------------------------------------------

# The chapter's classes (test_schedules_torch.py has the rest; the ReduceLROnPlateau cases too).
GOLDEN_CASES = [
    c
    for c in goldens.cases("schedules")[1]
    if c["schedule"] in schedules.CHAPTER and "plateau" not in c
]
GOLDEN_IDS = [c["id"] for c in GOLDEN_CASES]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=GOLDEN_IDS)
def test_equals_pytorch_at_every_step(case):
    schedule = kerasdl_schedule(case["schedule"], case["config"])
    expected = np.asarray(case["lr"])
    np.testing.assert_allclose(evaluate(schedule, np.arange(len(expected))), expected, rtol=RTOL)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=GOLDEN_IDS)
def test_pytorch_equals_the_formula(case):
    """The references agree with each other, including PyTorch's recursive cosine past T_max."""
    expected = numpy_schedule(case["schedule"], case["config"])(np.arange(len(case["lr"])))
    np.testing.assert_allclose(case["lr"], expected, rtol=1e-12, atol=1e-15)


def test_goldens_cover_every_schedule_and_several_steps_per_epoch():
    names = {case["schedule"] for case in GOLDEN_CASES}
    assert names == set(schedules.CHAPTER)
    for name in ("StepLR", "ExponentialLR", "CosineAnnealingLR"):
        spes = {
            c["config"].get("steps_per_epoch", 1) for c in GOLDEN_CASES if c["schedule"] == name
        }
        assert 1 in spes and max(spes) > 1, name
    afters = {
        c["config"]["after"]["schedule"] if isinstance(c["config"]["after"], dict) else "float"
        for c in GOLDEN_CASES
        if c["schedule"] == "LinearWarmup"
    }
    assert {"StepLR", "CosineAnnealingLR", "float"} <= afters


@pytest.mark.parametrize(
    "name, config, steps",
    [
        ("StepLR", dict(initial_learning_rate=3e-4, step_size=7, gamma=0.3), range(0, 60)),
        ("StepLR", dict(initial_learning_rate=1.0, step_size=30, steps_per_epoch=1000), [
            0, 29_999, 30_000, 59_999, 60_000, 10**6, 2**31 - 1,
        ]),
        ("ExponentialLR", dict(initial_learning_rate=0.1, gamma=0.999), range(0, 5000, 37)),
        ("ExponentialLR", dict(initial_learning_rate=2.0, gamma=0.5, steps_per_epoch=7), range(90)),
        ("CosineAnnealingLR", dict(initial_learning_rate=1.0, T_max=1000), range(0, 5001, 7)),
        ("CosineAnnealingLR", dict(initial_learning_rate=0.5, T_max=3, eta_min=0.1,
                                   steps_per_epoch=250), range(0, 3000, 11)),
        ("NoamWarmup", dict(d_model=512, warmup_steps=4000), [0, 3998, 3999, 4000, 10**5, 10**7]),
        ("LinearWarmup", dict(after=1e-3, warmup_steps=10**4), [0, 1, 5000, 9999, 10**4, 10**6]),
    ],
)  # fmt: skip
def test_equals_the_formula(name, config, steps):
    steps = np.asarray(list(steps))
    expected = numpy_schedule(name, config)(steps)
    np.testing.assert_allclose(evaluate(kerasdl_schedule(name, config), steps), expected, rtol=RTOL)


_rates = st.floats(1e-5, 1.0)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    warmup_steps=st.integers(0, 20),
    start=st.floats(0.0, 1.0),
    after_kind=st.sampled_from(["float", "StepLR", "CosineAnnealingLR", "NoamWarmup"]),
    rate=_rates,
    period=st.integers(1, 6),
    spe=st.integers(1, 5),
    gamma=st.floats(0.05, 1.5),
)
def test_linear_warmup_into_anything_equals_the_formula(
    warmup_steps, start, after_kind, rate, period, spe, gamma
):
    after = {
        "float": rate,
        "StepLR": {"schedule": "StepLR", "config": dict(
            initial_learning_rate=rate, step_size=period, gamma=gamma, steps_per_epoch=spe)},
        "CosineAnnealingLR": {"schedule": "CosineAnnealingLR", "config": dict(
            initial_learning_rate=rate, T_max=period, eta_min=rate * gamma / 2,
            steps_per_epoch=spe)},
        "NoamWarmup": {"schedule": "NoamWarmup", "config": dict(
            d_model=period * 16, warmup_steps=spe, scale=rate)},
    }[after_kind]  # fmt: skip
    config = dict(after=after, warmup_steps=warmup_steps, initial_learning_rate=start)
    steps = np.arange(warmup_steps + 3 * period * spe + 2)
    expected = numpy_schedule("LinearWarmup", config)(steps)
    got = evaluate(kerasdl_schedule("LinearWarmup", config), steps)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-7 * max(rate, start))


def test_linear_warmup_meets_its_schedule():
    """Step 0 is the start, step W is after(0), and the ramp is a straight line between them."""
    cosine = schedules.CosineAnnealingLR(0.1, T_max=3, steps_per_epoch=2)
    warm = schedules.LinearWarmup(after=cosine, warmup_steps=4, initial_learning_rate=0.02)
    np.testing.assert_allclose(evaluate(warm, range(5)), [0.02, 0.04, 0.06, 0.08, 0.1], rtol=RTOL)
    np.testing.assert_array_equal(evaluate(warm, range(4, 20)), evaluate(cosine, range(16)))
    none = schedules.LinearWarmup(after=cosine, warmup_steps=0)
    np.testing.assert_array_equal(evaluate(none, range(20)), evaluate(cosine, range(20)))


def test_noam_peaks_at_step_warmup_minus_one():
    noam = schedules.NoamWarmup(d_model=512, warmup_steps=4000, scale=0.5)
    values = evaluate(noam, range(3990, 4010))
    assert 3990 + int(np.argmax(values)) == 3999
    np.testing.assert_allclose(values.max(), 0.5 * (512 * 4000) ** -0.5, rtol=RTOL)


def test_exponential_lr_is_keras_staircase_exponential_decay():
    """The equivalence the docstring states; Keras's float32 `gamma ** n` is less precise."""
    ours = schedules.ExponentialLR(0.1, gamma=0.9, steps_per_epoch=4)
    keras_decay = keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.9, staircase=True)
    steps = np.arange(200)
    np.testing.assert_allclose(evaluate(ours, steps), evaluate(keras_decay, steps), rtol=2e-5)


# ---------------------------------------------------------------------------
# The step: dtypes in and out, and tracing.
# ---------------------------------------------------------------------------


def _example(key):
    name, config = EXAMPLES[key]
    return kerasdl_schedule(name, config), numpy_schedule(name, config)


@pytest.mark.parametrize("key", EXAMPLES)
@pytest.mark.parametrize("kind", ["python-int", "int32", "int64", "float32", "int64-variable"])
def test_float32_for_every_kind_of_step(key, kind):
    schedule, reference = _example(key)
    make = {
        "python-int": lambda k: k,
        "int32": lambda k: ops.convert_to_tensor(k, dtype="int32"),
        "int64": lambda k: ops.convert_to_tensor(k, dtype="int64"),
        "float32": lambda k: ops.convert_to_tensor(float(k), dtype="float32"),
        "int64-variable": lambda k: keras.Variable(k, dtype="int64", trainable=False),
    }[kind]
    for step in (0, 3, 4, 11, 12, 25):
        value = schedule(make(step))
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        assert tuple(value.shape) == ()
        np.testing.assert_allclose(float(value), reference(step), rtol=RTOL)


def _compiled(fn):
    """`fn` compiled as each backend's training step is: XLA on TF, `jax.jit` on JAX."""
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiled check for the {backend()} backend")


@pytest.mark.parametrize("key", EXAMPLES)
def test_traces_once_and_matches_eager_under_compilation(key):
    schedule, reference = _example(key)
    traces = []

    def lr(step):
        traces.append(step)  # Python runs only while tracing
        return schedule(step)

    compiled = _compiled(lr)
    steps = (0, 1, 4, 5, 9, 12, 30, 1000)
    got = [float(compiled(ops.convert_to_tensor(k, dtype="int64"))) for k in steps]
    assert len(traces) == 1  # no Python branch on the step's value
    # StepLR's 0.5 ** 333 at step 1000 is below float32's range: 0 (XLA flushes subnormals).
    np.testing.assert_allclose(got, reference(np.asarray(steps)), rtol=RTOL, atol=1e-37)
    eager = [float(schedule(k)) for k in steps]
    np.testing.assert_allclose(got, eager, rtol=1e-6)


# ---------------------------------------------------------------------------
# In an optimizer: the rate actually applied at each step of `fit`.
# ---------------------------------------------------------------------------

FIT_STEPS_PER_EPOCH, FIT_EPOCHS = 4, 4  # 8 samples, batches of 2


def _fit_schedule():
    after = schedules.StepLR(0.1, step_size=1, gamma=0.5, steps_per_epoch=FIT_STEPS_PER_EPOCH)
    return schedules.LinearWarmup(after=after, warmup_steps=3, initial_learning_rate=0.01)


def _fit_reference(steps):
    def after(k):
        return np_step_lr(k, 0.1, 1, 0.5, FIT_STEPS_PER_EPOCH)

    return np_linear_warmup(steps, after, 3, 0.01)


# Adam's betas are 0.5 so that the bias corrections 1 - beta ** t are exact in float32 (Keras
# computes them in float32: with 0.999 each step is off by ~1e-5, relative), and Keras's epsilon,
# added to sqrt(v) before the correction, is kept out of the way.
_ADAM = dict(beta_1=0.5, beta_2=0.5, weight_decay=0.5)
OPTIMIZERS = {
    # name: (factory, the decoupled decay lambda: w *= 1 - lr * lambda before each step)
    "kerasdl.SGD": (lambda lr: kerasdl.optimizers.SGD(learning_rate=lr), 0.0),
    "kerasdl.AdamW": (lambda lr: kerasdl.optimizers.AdamW(learning_rate=lr, **_ADAM), 0.5),
    "keras.SGD": (lambda lr: keras.optimizers.SGD(learning_rate=lr), 0.0),
    "keras.AdamW": (
        lambda lr: keras.optimizers.AdamW(learning_rate=lr, epsilon=1e-12, **_ADAM),
        0.5,
    ),
}


def _mean_prediction(y_true, y_pred):
    """A loss whose gradient with respect to the kernel is exactly 1 (inputs are ones)."""
    return ops.mean(y_pred)


class _WeightRecorder(keras.callbacks.Callback):
    """The kernel's one weight after every batch."""

    def __init__(self):
        super().__init__()
        self.weights = [1.0]  # the initial kernel

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(float(self.model.get_weights()[0][0, 0]))


@pytest.mark.parametrize("optimizer_name", OPTIMIZERS)
def test_fit_applies_the_scheduled_rate_at_every_step(optimizer_name):
    factory, decay = OPTIMIZERS[optimizer_name]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    optimizer = factory(_fit_schedule())
    model.compile(optimizer=optimizer, loss=_mean_prediction)
    recorder = _WeightRecorder()
    model.fit(
        np.ones((8, 1), "float32"),
        np.zeros((8, 1), "float32"),
        batch_size=8 // FIT_STEPS_PER_EPOCH,
        epochs=FIT_EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[recorder],
    )
    steps = FIT_STEPS_PER_EPOCH * FIT_EPOCHS
    assert int(optimizer.iterations) == steps
    lrs = _fit_reference(np.arange(steps + 1))
    # The gradient is 1 at every step, so SGD moves by lr(k) and Adam's normalized step
    # m_hat / (sqrt(v_hat) + eps) is 1 / (1 + eps) ~ 1; AdamW first shrinks w by 1 - lr(k) * lambda.
    w, expected = 1.0, [1.0]
    for k in range(steps):
        w = w * (1 - lrs[k] * decay) - lrs[k]
        expected.append(w)
    np.testing.assert_allclose(recorder.weights, expected, rtol=1e-5, atol=1e-6)
    # The optimizer reports the rate of its next step.
    np.testing.assert_allclose(float(optimizer.learning_rate), lrs[steps], rtol=RTOL)


def test_keras_cosine_decay_inside_linear_warmup():
    """`after` may be any Keras schedule; it runs from its own step 0."""
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10, alpha=0.1)
    warm = schedules.LinearWarmup(after=cosine, warmup_steps=5)
    steps = np.arange(25)
    reference = np_linear_warmup(
        steps, lambda k: 0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(k, 10) / 10)) + 0.1), 5
    )
    np.testing.assert_allclose(evaluate(warm, steps), reference, rtol=1e-5)


# ---------------------------------------------------------------------------
# Serialization.
# ---------------------------------------------------------------------------


def _nested():
    inner = schedules.LinearWarmup(
        after=schedules.CosineAnnealingLR(0.1, T_max=4, eta_min=0.01, steps_per_epoch=3),
        warmup_steps=2,
        initial_learning_rate=0.05,
    )
    return schedules.LinearWarmup(after=inner, warmup_steps=3, name="outer")


SERIALIZED = {
    **{key: lambda key=key: _example(key)[0] for key in EXAMPLES},
    "LinearWarmup-nested": _nested,
    "LinearWarmup-keras-after": lambda: schedules.LinearWarmup(
        after=keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5), warmup_steps=3
    ),
}


@pytest.mark.parametrize("key", SERIALIZED)
def test_config_round_trips(key):
    schedule = SERIALIZED[key]()
    config = schedule.get_config()
    json.dumps(config)  # JSON-able, nested schedules included
    clone = type(schedule).from_config(config)
    assert clone.get_config() == config
    steps = np.arange(40)
    np.testing.assert_array_equal(evaluate(clone, steps), evaluate(schedule, steps))

    serialized = keras.optimizers.schedules.serialize(schedule)
    assert serialized["registered_name"] == f"kerasdl>{type(schedule).__qualname__}"
    revived = keras.optimizers.schedules.deserialize(json.loads(json.dumps(serialized)))
    assert type(revived) is type(schedule)
    assert revived.get_config() == config
    np.testing.assert_array_equal(evaluate(revived, steps), evaluate(schedule, steps))


def test_nested_config_holds_serialized_schedules():
    config = _nested().get_config()
    assert config["after"]["registered_name"] == "kerasdl>LinearWarmup"
    assert config["after"]["config"]["after"]["registered_name"] == "kerasdl>CosineAnnealingLR"
    revived = schedules.LinearWarmup.from_config(config)
    assert isinstance(revived.after.after, schedules.CosineAnnealingLR)
    assert revived.after.after.T_max == 4


@pytest.mark.parametrize("optimizer_name", ["kerasdl.AdamW", "keras.SGD"])
def test_model_save_and_load_keep_the_schedule(tmp_path, optimizer_name):
    factory = OPTIMIZERS[optimizer_name][0]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=factory(_nested()), loss="mse")
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    model.fit(x, x[:, :2], batch_size=2, epochs=1, verbose=0)  # 5 steps: inside the schedule
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)  # no custom_objects
    schedule, revived = model.optimizer._learning_rate, loaded.optimizer._learning_rate
    assert type(revived) is schedules.LinearWarmup
    assert revived.get_config() == schedule.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 5
    assert float(loaded.optimizer.learning_rate) == float(model.optimizer.learning_rate)
    steps = np.arange(30)
    np.testing.assert_array_equal(evaluate(revived, steps), evaluate(schedule, steps))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---------------------------------------------------------------------------
# Invalid arguments: ValueError in the project's wording.
# ---------------------------------------------------------------------------

S = schedules
AFTER = "a float >= 0 or a LearningRateSchedule"
# fmt: off
INVALID = [
    (lambda: S.StepLR(-0.1, step_size=3), "initial_learning_rate", ">= 0", "-0.1"),
    (lambda: S.StepLR(0.1, step_size=0), "step_size", "an integer >= 1", "0"),
    (lambda: S.StepLR(0.1, step_size=2.5), "step_size", "an integer >= 1", "2.5"),
    (lambda: S.StepLR(0.1, step_size=3, gamma=0.0), "gamma", "> 0", "0.0"),
    (lambda: S.StepLR(0.1, 3, steps_per_epoch=0), "steps_per_epoch", "an integer >= 1", "0"),
    (lambda: S.ExponentialLR(0.1, gamma=-0.5), "gamma", "> 0", "-0.5"),
    (lambda: S.ExponentialLR(-1.0, gamma=0.5), "initial_learning_rate", ">= 0", "-1.0"),
    (lambda: S.ExponentialLR(0.1, 0.5, steps_per_epoch=-2), "steps_per_epoch", "an integer >= 1",
     "-2"),
    (lambda: S.CosineAnnealingLR(0.1, T_max=0), "T_max", "an integer >= 1", "0"),
    (lambda: S.CosineAnnealingLR(0.1, 5, eta_min=-0.01), "eta_min", ">= 0", "-0.01"),
    (lambda: S.CosineAnnealingLR(-0.1, T_max=5), "initial_learning_rate", ">= 0", "-0.1"),
    (lambda: S.CosineAnnealingLR(0.1, 5, steps_per_epoch=0), "steps_per_epoch", "an integer >= 1",
     "0"),
    (lambda: S.NoamWarmup(d_model=0, warmup_steps=10), "d_model", "an integer >= 1", "0"),
    (lambda: S.NoamWarmup(d_model=512, warmup_steps=0), "warmup_steps", "an integer >= 1", "0"),
    (lambda: S.NoamWarmup(512, 10, scale=-1.0), "scale", ">= 0", "-1.0"),
    (lambda: S.LinearWarmup(0.1, warmup_steps=-1), "warmup_steps", "an integer >= 0", "-1"),
    (lambda: S.LinearWarmup(0.1, warmup_steps=1.5), "warmup_steps", "an integer >= 0", "1.5"),
    (lambda: S.LinearWarmup(0.1, warmup_steps=True), "warmup_steps", "an integer >= 0", "True"),
    (lambda: S.LinearWarmup(0.1, 5, initial_learning_rate=-0.1), "initial_learning_rate", ">= 0",
     "-0.1"),
    (lambda: S.LinearWarmup(-0.1, warmup_steps=5), "after", AFTER, "-0.1"),
    (lambda: S.LinearWarmup("cosine", warmup_steps=5), "after", AFTER, "'cosine'"),
]
# fmt: on


@pytest.mark.parametrize("make, name, requirement, received", INVALID)
def test_invalid_arguments(make, name, requirement, received):
    message = f"Argument `{name}` must be {requirement}. Received: {name}={received}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()


def test_valid_edges():
    assert S.LinearWarmup(0.0, warmup_steps=0).warmup_steps == 0
    assert S.CosineAnnealingLR(0.1, T_max=1, eta_min=0.1).eta_min == 0.1
    assert S.CosineAnnealingLR(0.1, T_max=1, eta_min=0.2).eta_min == 0.2  # PyTorch allows it
    assert S.StepLR(0.0, step_size=1.0).step_size == 1  # an integral float is an integer
    assert isinstance(S.StepLR(0.1, step_size=np.int64(3)).get_config()["step_size"], int)


# ---------------------------------------------------------------------------
# docs/schedules.md: its value tables are what the code computes.
# ---------------------------------------------------------------------------

_TABLE = re.compile(r"<!-- values: (?P<expr>.+?) -->\n(?P<table>(?:\|.*\|\n)+)")


def _doc_tables():
    tables = []
    for match in _TABLE.finditer(DOCS.read_text()):
        header, _, *rows = match["table"].strip().splitlines()
        columns = [cell.strip() for cell in header.strip("|").split("|")]
        cells = [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]
        tables.append((match["expr"], columns, cells))
    return tables


def _build(expr):
    """A schedule from the expression that heads a table (kerasdl classes, literals only)."""
    namespace = {name: getattr(schedules, name) for name in schedules.__all__}
    return eval(expr, {"__builtins__": {}}, namespace)


def _numpy_from_kwargs(name, **config):
    return numpy_schedule(name, config)


def _formula(expr):
    """The same schedule written with the NumPy formulas."""
    namespace = {name: functools.partial(_numpy_from_kwargs, name) for name in schedules.__all__}
    return eval(expr, {"__builtins__": {}}, namespace)


def test_docs_tables_are_what_the_code_computes():
    tables = _doc_tables()
    assert {expr.split("(")[0] for expr, _, _ in tables} == set(schedules.CHAPTER)
    for expr, columns, cells in tables:
        assert columns[0] == "step" and columns[-1] == "lr", expr
        steps = np.array([int(row[0]) for row in cells])
        documented = np.array([float(row[-1]) for row in cells])
        computed = evaluate(_build(expr), steps)
        table = "\n".join(f"| {k} | {v:.6g} |" for k, v in zip(steps, computed, strict=True))
        # Printed with 6 significant digits: within half a unit of the 6th.
        np.testing.assert_allclose(
            documented, computed, rtol=5e-6, err_msg=f"{expr}: the code gives\n{table}"
        )
        np.testing.assert_allclose(documented, _formula(expr)(steps), rtol=5e-6, err_msg=expr)
        if "epoch" in columns:
            spe = _build(expr).steps_per_epoch
            epochs = [int(row[columns.index("epoch")]) for row in cells]
            assert epochs == list(steps // spe), expr


def test_docs_examples_in_docstrings_hold():
    """The `>>>` examples of the docstrings, run."""
    for name in schedules.__all__:
        doc = getattr(schedules, name).__doc__
        lines = doc.splitlines()
        namespace = {"kerasdl": kerasdl, "keras": keras}
        examples = 0
        for i, line in enumerate(lines):
            line = line.strip()
            if line.startswith(">>> "):
                source = line[4:].split("  #")[0]
                expected = lines[i + 1].strip()
                if not expected or expected.startswith(">>>"):
                    exec(source, namespace)
                else:
                    assert repr(eval(source, namespace)) == expected, (name, source)
                    examples += 1
        assert examples, name
