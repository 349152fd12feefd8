"""The rest of torch.optim.lr_scheduler in kerasdl.schedules, against PyTorch and NumPy.

References, independent of each other and of the code under test:

- golden files from PyTorch (tests/reference/golden_schedules.py, the cases after the chapter's):
  the learning rate of two parameter groups at every optimizer step (the second one is what
  `rebased` must give), and the momentum / Adam `betas[0]` that CyclicLR and OneCycleLR set;
- each class's formula written out below in NumPy (float64), `numpy_schedule`.

Then: float64 rates (`dtype="float64"`) to 1e-12, StepLR with kerasdl's ReduceLROnPlateau on
PyTorch's chained sequence, tracing under XLA / `jax.jit`, serialization (the lambdas too), and
invalid arguments.
"""

import json
import math
import re

import goldens
import keras
import numpy as np
import pytest
from conftest import backend
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops
from test_schedules import evaluate
from test_schedules import numpy_schedule as chapter_numpy

import kerasdl.optimizers
from kerasdl import schedules
from kerasdl.callbacks import ReduceLROnPlateau

RTOL = 1e-6  # float32 rates against float64 references
RTOL64 = 1e-12  # float64 rates: PyTorch's recursive forms round at each step (~1e-15 each)

# ---------------------------------------------------------------------------
# The lambdas of the goldens (LAMBDAS in golden_schedules.py), in keras.ops, registered.
# ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def exp095(epoch):
    # The constants in the epoch's dtype: Keras's torch backend makes a Python float float32.
    return ops.power(ops.convert_to_tensor(0.95, epoch.dtype), epoch)


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def warmup5(epoch):
    # where, not minimum: Keras's torch minimum of float64 tensors is float32 (keras 3.15).
    ramp = ops.divide(ops.add(epoch, 1.0), 5.0)
    return ops.where(ops.less(ramp, 1.0), ramp, ops.ones_like(ramp))


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def const09(epoch):
    return ops.full_like(epoch, 0.9)


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def slowing(epoch):
    return ops.subtract(1.0, ops.divide(ops.full_like(epoch, 0.5), ops.add(epoch, 1.0)))


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def inverse_cycle(cycle):
    # ones_like: on JAX, Keras's divide(1.0, float64) computes in float32 (keras 3.15).
    return ops.divide(ops.ones_like(cycle), cycle)


LAMBDAS = {f.__name__: f for f in (exp095, warmup5, const09, slowing, inverse_cycle)}
NP_LAMBDAS = {
    "exp095": lambda e: 0.95**e,
    "warmup5": lambda e: np.minimum(1.0, (e + 1) / 5),
    "const09": lambda e: np.full(np.shape(e), 0.9),
    "slowing": lambda e: 1.0 - 0.5 / (e + 1),
    "inverse_cycle": lambda c: 1.0 / c,
}

# ---------------------------------------------------------------------------
# The formulas in NumPy, float64 (PyTorch's closed forms; the docstrings' formulas).
# ---------------------------------------------------------------------------


def _epoch(steps, spe):
    return np.asarray(steps) // spe


def np_multistep(steps, initial_learning_rate, milestones, gamma=0.1, steps_per_epoch=1):
    epoch = _epoch(steps, steps_per_epoch)
    count = np.sum(np.asarray(milestones)[None, :] <= epoch[:, None], axis=1)
    return initial_learning_rate * gamma**count


def np_constant(steps, initial_learning_rate, factor=1 / 3, total_iters=5, steps_per_epoch=1):
    epoch = _epoch(steps, steps_per_epoch)
    return initial_learning_rate * np.where(epoch < total_iters, factor, 1.0)


def np_linear(steps, initial_learning_rate, start_factor=1 / 3, end_factor=1.0, total_iters=5,
              steps_per_epoch=1):  # fmt: skip
    epoch = np.minimum(_epoch(steps, steps_per_epoch), total_iters)
    return initial_learning_rate * (
        start_factor + (end_factor - start_factor) * epoch / total_iters
    )


def np_polynomial(steps, initial_learning_rate, total_iters=5, power=1.0, steps_per_epoch=1):
    epoch = np.minimum(_epoch(steps, steps_per_epoch), total_iters)
    return initial_learning_rate * (1 - epoch / total_iters) ** power


def np_lambda(steps, initial_learning_rate, lr_lambda, steps_per_epoch=1):
    return initial_learning_rate * NP_LAMBDAS[lr_lambda](_epoch(steps, steps_per_epoch) * 1.0)


def np_multiplicative(steps, initial_learning_rate, lr_lambda, max_epochs, steps_per_epoch=1):
    fn = NP_LAMBDAS[lr_lambda]
    epoch = np.minimum(_epoch(steps, steps_per_epoch), max_epochs)
    return np.array([initial_learning_rate * np.prod(fn(np.arange(1.0, e + 1))) for e in epoch])


def np_restarts(steps, initial_learning_rate, T_0, T_mult=1, eta_min=0.0, steps_per_epoch=1,
                per_step=False):  # fmt: skip
    steps = np.asarray(steps)
    if per_step:
        t = np.maximum(steps - 1, 0) / steps_per_epoch
    else:
        t = (steps // steps_per_epoch).astype(float)
    out = []
    for time in t:  # walk the cycles
        start, length = 0.0, float(T_0)
        while time >= start + length:
            start, length = start + length, length * T_mult
        out.append(eta_min + (initial_learning_rate - eta_min)
                   * (1 + np.cos(np.pi * (time - start) / length)) / 2)  # fmt: skip
    return np.array(out)


def _cyclic_height(steps, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0,
                   scale_fn=None, scale_mode="cycle"):  # fmt: skip
    k = np.asarray(steps, dtype=float)
    down = step_size_up if step_size_down is None else step_size_down
    total = step_size_up + down
    ratio = step_size_up / total
    cycle = np.floor(1 + k / total)
    x = 1 + k / total - cycle
    s = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    if scale_fn is not None:
        scale = NP_LAMBDAS[scale_fn](cycle if scale_mode == "cycle" else k)
    else:
        scale = {
            "triangular": np.ones_like(k),
            "triangular2": 1 / 2.0 ** (cycle - 1),
            "exp_range": gamma**k,
        }[mode]
    return s * scale


_CYCLIC_ONLY = ("base_lr", "max_lr", "base_momentum", "max_momentum", "cycle_momentum")


def np_cyclic(steps, base_lr, max_lr, **config):
    config = {k: v for k, v in config.items() if k not in _CYCLIC_ONLY}
    return base_lr + (max_lr - base_lr) * _cyclic_height(steps, **config)


def np_cyclic_momentum(steps, base_momentum=0.8, max_momentum=0.9, **config):
    config = {k: v for k, v in config.items() if k not in _CYCLIC_ONLY}
    return max_momentum - (max_momentum - base_momentum) * _cyclic_height(steps, **config)


def _one_cycle(steps, values, total_steps, pct_start, anneal_strategy, three_phase):
    ends = [pct_start * total_steps - 1, total_steps - 1]
    if three_phase:
        ends = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1]
    out = []
    for k in np.asarray(steps, dtype=float):
        start = 0.0
        for i, end in enumerate(ends):
            if k <= end or i == len(ends) - 1:
                pct = (k - start) / (end - start)
                a, b = values[i], values[i + 1]
                if anneal_strategy == "cos":
                    out.append(b + (a - b) / 2 * (np.cos(np.pi * pct) + 1))
                else:
                    out.append(a + (b - a) * pct)
                break
            start = end
    return np.array(out)


def np_onecycle(steps, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                div_factor=25.0, final_div_factor=1e4, three_phase=False, **_momentum):  # fmt: skip
    first = max_lr / div_factor
    last = first / final_div_factor
    values = [first, max_lr, first, last] if three_phase else [first, max_lr, last]
    return _one_cycle(steps, values, total_steps, pct_start, anneal_strategy, three_phase)


def np_onecycle_momentum(steps, total_steps, pct_start=0.3, anneal_strategy="cos",
                         three_phase=False, base_momentum=0.85, max_momentum=0.95,
                         **_lr):  # fmt: skip
    high, low = max_momentum, base_momentum
    values = [high, low, high, high] if three_phase else [high, low, high]
    return _one_cycle(steps, values, total_steps, pct_start, anneal_strategy, three_phase)


def np_sequential(steps, schedules, milestones, steps_per_epoch=1):
    """PyTorch's SequentialLR, the MultiplicativeLR exception included (see the docstring)."""
    steps = np.asarray(steps)
    out = np.empty(len(steps))
    for j, k in enumerate(steps):
        i = int(np.sum(np.asarray(milestones) <= k // steps_per_epoch))
        member = schedules[i]
        local = k - (milestones[i - 1] * steps_per_epoch if i else 0)
        if i and member["schedule"] == "MultiplicativeLR" and milestones[i - 1] > 0:
            before = np_sequential([(milestones[i - 1] - 1) * steps_per_epoch], schedules[:i],
                                   milestones[: i - 1], steps_per_epoch)[0]  # fmt: skip
            c = member["config"]
            epochs = np.arange(0.0, local // c.get("steps_per_epoch", 1) + 1)
            out[j] = before * np.prod(NP_LAMBDAS[c["lr_lambda"]](epochs))
        else:
            out[j] = numpy_schedule(member["schedule"], member["config"])([local])[0]
    return out


def np_chained(steps, schedules):
    rate = schedules[0]["config"]["initial_learning_rate"]
    out = np.full(len(np.asarray(steps)), rate)
    for m in schedules:
        out = out * numpy_schedule(m["schedule"], m["config"])(steps) / rate
    return out


NUMPY = {
    "MultiStepLR": np_multistep,
    "ConstantLR": np_constant,
    "LinearLR": np_linear,
    "PolynomialLR": np_polynomial,
    "LambdaLR": np_lambda,
    "MultiplicativeLR": np_multiplicative,
    "CosineAnnealingWarmRestarts": np_restarts,
    "CyclicLR": np_cyclic,
    "OneCycleLR": np_onecycle,
    "SequentialLR": np_sequential,
    "ChainedScheduler": np_chained,
}
NUMPY_MOMENTUM = {"CyclicLR": np_cyclic_momentum, "OneCycleLR": np_onecycle_momentum}


def numpy_schedule(name, config):
    if name in NUMPY:
        return lambda steps: NUMPY[name](steps, **config)
    return chapter_numpy(name, config)


def kerasdl_schedule(name, config, **extra):
    """The kerasdl schedule of a golden `(name, config)`; `extra` (e.g. dtype) on every level."""
    config = dict(config)
    if "schedules" in config:
        config["schedules"] = [
            kerasdl_schedule(m["schedule"], m["config"], **extra) for m in config["schedules"]
        ]
    if name == "LinearWarmup" and isinstance(config["after"], dict):
        after = config["after"]
        config["after"] = kerasdl_schedule(after["schedule"], after["config"], **extra)
    for key in ("lr_lambda", "scale_fn"):
        if config.get(key) is not None:
            config[key] = LAMBDAS[config[key]]
    return getattr(schedules, name)(**config, **extra)


# ---------------------------------------------------------------------------
# PyTorch's goldens.
# ---------------------------------------------------------------------------

_IDS, _CASES = goldens.cases("schedules")
TORCH = [c for c in _CASES if "rebased" in c]
TORCH_IDS = [c["id"] for c in TORCH]
PLATEAU = [c for c in _CASES if "plateau" in c and "lr2" not in c]
PLATEAU_ON = [c for c in _CASES if "lr2" in c]


def _evaluate64(schedule, steps):
    return np.asarray(ops.convert_to_numpy(schedule(np.asarray(steps, dtype="int64"))), "float64")


def _atol(values):
    # Rates that PyTorch's recursive forms bring to 0 (PolynomialLR) or near it.
    return 1e-9 * float(np.max(np.abs(values)))


@pytest.mark.parametrize("case", TORCH, ids=TORCH_IDS)
def test_equals_pytorch_at_every_step(case):
    schedule = kerasdl_schedule(case["schedule"], case["config"])
    expected = np.asarray(case["lr"])
    got = evaluate(schedule, np.arange(len(expected)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=_atol(expected))


@pytest.mark.parametrize("case", TORCH, ids=TORCH_IDS)
def test_float64_equals_pytorch_to_1e_12(case):
    schedule = kerasdl_schedule(case["schedule"], case["config"], dtype="float64")
    expected = np.asarray(case["lr"])
    value = schedule(np.arange(len(expected)))
    assert keras.backend.standardize_dtype(value.dtype) == "float64"
    np.testing.assert_allclose(
        _evaluate64(schedule, np.arange(len(expected))), expected, rtol=RTOL64, atol=1e-15
    )


COMPOSITES = [c for c in TORCH if c["schedule"] in ("SequentialLR", "ChainedScheduler")]


@pytest.mark.parametrize("case", COMPOSITES, ids=[c["id"] for c in COMPOSITES])
def test_a_composites_dtype_reaches_its_members(case):
    """dtype on the composite only (members None, floatx float32): float64 to 1e-12; the
    members given keep their None, and a member's own dtype is its own."""
    schedule = kerasdl_schedule(case["schedule"], {**case["config"], "dtype": "float64"})
    assert all(m.dtype is None for m in schedule.schedules)
    assert (
        schedule.get_config()["schedules"]
        == kerasdl_schedule(case["schedule"], case["config"]).get_config()["schedules"]
    )
    expected = np.asarray(case["lr"])
    steps = np.arange(len(expected))
    assert keras.backend.standardize_dtype(schedule(steps).dtype) == "float64"
    np.testing.assert_allclose(_evaluate64(schedule, steps), expected, rtol=RTOL64, atol=1e-15)
    # A member's own dtype stays its own (float32 members limit the float64 sequence to ~1e-8:
    # the float64 check above can fail, and does for most cases with float32 members).
    own = kerasdl_schedule(case["schedule"], case["config"], dtype="float32")
    own = type(own)(**{**own.get_config(), "dtype": "float64"})
    assert [m.dtype for m in own._members] == ["float32"] * len(own.schedules)
    error = np.max(np.abs(_evaluate64(own, steps) - expected)) / np.max(np.abs(expected))
    assert error > 1e-10 or case["id"] == "chained/polynomial-multiplicative"  # exact in float32


@pytest.mark.parametrize("case", TORCH, ids=TORCH_IDS)
def test_pytorch_equals_the_formula(case):
    expected = numpy_schedule(case["schedule"], case["config"])(np.arange(len(case["lr"])))
    np.testing.assert_allclose(case["lr"], expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", TORCH, ids=TORCH_IDS)
def test_rebased_is_pytorchs_second_parameter_group(case):
    schedule = kerasdl_schedule(case["schedule"], case["config"], dtype="float64")
    rebased = schedule.rebased(case["rebased"]["initial_learning_rate"])
    assert type(rebased) is type(schedule)
    expected = np.asarray(case["rebased"]["lr"])
    got = _evaluate64(rebased, np.arange(len(expected)))
    np.testing.assert_allclose(got, expected, rtol=RTOL64, atol=1e-15)
    if case["schedule"] in ("CyclicLR", "OneCycleLR"):
        assert rebased is schedule  # their own rates override the group's


MOMENTUM = [c for c in TORCH if "momentum" in c]


@pytest.mark.parametrize("case", MOMENTUM, ids=[c["id"] for c in MOMENTUM])
def test_momentum_schedule_is_what_pytorch_sets(case):
    schedule = kerasdl_schedule(case["schedule"], case["config"])
    momentum = schedule.momentum_schedule()
    expected = np.asarray(case["momentum"])
    steps = np.arange(len(expected))
    np.testing.assert_allclose(evaluate(momentum, steps), expected, rtol=RTOL)
    formula = NUMPY_MOMENTUM[case["schedule"]](steps, **case["config"])
    np.testing.assert_allclose(expected, formula, rtol=1e-12)
    momentum64 = kerasdl_schedule(case["schedule"], case["config"], dtype="float64")
    got = _evaluate64(momentum64.momentum_schedule(), steps)
    np.testing.assert_allclose(got, expected, rtol=RTOL64)


def test_goldens_cover_every_new_class_and_composition():
    names = {c["schedule"] for c in TORCH}
    new = set(schedules.__all__) - set(schedules.CHAPTER) - {"CycledMomentum"}
    assert new <= names
    assert set(schedules.CHAPTER) <= names  # rebased of the chapter's too
    modes = {c["config"].get("mode", "triangular") for c in TORCH if c["schedule"] == "CyclicLR"}
    assert modes == {"triangular", "triangular2", "exp_range"}
    onecycle = [c["config"] for c in TORCH if c["schedule"] == "OneCycleLR"]
    assert {(c.get("anneal_strategy", "cos"), c.get("three_phase", False)) for c in onecycle} == {
        ("cos", False),
        ("linear", False),
        ("cos", True),
        ("linear", True),
    }
    assert {c.get("optimizer") for c in MOMENTUM} == {"sgd", "adam"}


# ---------------------------------------------------------------------------
# ReduceLROnPlateau on top of every schedule, as PyTorch chains them.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", PLATEAU, ids=[c["id"] for c in PLATEAU])
def test_plateau_on_steplr_is_pytorchs_chain(case):
    """PyTorch: StepLR.step() then plateau.step(metric) at each epoch's end, one optimizer.

    StepLR multiplies the current lr, so PyTorch's lr is StepLR's times the reductions: what
    kerasdl's callback does by scaling the schedule. `min_lr` bounds the lr at a reduction only,
    in both (the min_lr case reduces from 0.1 * 0.5**k, below 2e-3 in the end).
    """
    optimizer = keras.optimizers.SGD(schedules.StepLR(**case["config"]))
    plateau = ReduceLROnPlateau(optimizer=optimizer, **case["plateau"])
    lrs = []
    for epoch, value in enumerate(case["metrics"]):
        optimizer.iterations.assign(epoch + 1)  # the next epoch's first step
        plateau.step(value)
        lrs.append(plateau.status.learning_rate)
    np.testing.assert_allclose(lrs, case["lr"], rtol=RTOL)
    assert len(set(np.round(np.asarray(case["lr"]) / np.asarray(
        chapter_numpy("StepLR", case["config"])(np.arange(1, len(lrs) + 1))), 12))) > 1  # fmt: skip


#: Whose PyTorch scheduler multiplies the current lr: there "scale" is PyTorch's too.
_CHAINABLE = {"StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR", "PolynomialLR",
              "MultiplicativeLR", "ChainedScheduler"}  # fmt: skip
_PLATEAU_ON_IDS = [c["id"] for c in PLATEAU_ON]


def _chainable(case):
    return case["schedule"] in _CHAINABLE or case["id"] == "plateau-on/warmup-none-constant"


def replay_plateau(case, on_schedule, *, groups=False, dtype=None, stop=None, restart=None):
    """The learning rates at every optimizer step of kerasdl's ReduceLROnPlateau on the case's
    schedule, stepped as the golden's PyTorch loop: ``plateau.step(metric)`` at each epoch's
    end, the optimizer's ``iterations`` at the next epoch's first step. One column per
    learning rate: the optimizer's (PyTorch's group 0), and with ``groups`` a group with
    ``lr2`` (PyTorch's group 1; first in ``min_lr``'s order). ``restart(optimizer, plateau)``,
    called after epoch ``stop``, returns the pair to go on with."""
    extra = {} if dtype is None else {"dtype": dtype}
    schedule = kerasdl_schedule(case["schedule"], case["config"], **extra)
    params = dict(case["plateau"])
    min_lr = params.pop("min_lr")
    if groups:
        variables = [keras.Variable(np.zeros(2), name=n) for n in ("first", "second")]
        group = {"paths": ["first"], "learning_rate": case["groups_lr"][1]}
        optimizer = kerasdl.optimizers.SGD(schedule, groups=[group])
        optimizer.build(variables)
        min_lr = [min_lr[1], min_lr[0]]
    else:
        optimizer = keras.optimizers.SGD(schedule)
        min_lr = min_lr[0]
    plateau = ReduceLROnPlateau(optimizer=optimizer, min_lr=min_lr, on_schedule=on_schedule,
                                **params)  # fmt: skip

    def read():
        if groups:
            return [float(optimizer.group_learning_rate(g)) for g in (None, 0)]
        return [float(optimizer.learning_rate)]

    spe, lrs = case["epoch_steps"], []
    for epoch, value in enumerate(case["metrics"]):
        for batch in range(spe):
            optimizer.iterations.assign(epoch * spe + batch)
            lrs.append(read())
        optimizer.iterations.assign((epoch + 1) * spe)
        plateau.step(value)
        if epoch == stop:
            optimizer, plateau = restart(optimizer, plateau)
    return np.asarray(lrs)


def _expected(case, groups=False):
    return (
        np.stack([case["lr"], case["lr2"]], axis=1) if groups else np.asarray(case["lr"])[:, None]
    )


@pytest.mark.parametrize("case", PLATEAU_ON, ids=_PLATEAU_ON_IDS)
def test_pytorch_mode_is_pytorchs_rate_at_every_step(case):
    """on_schedule="pytorch": the schedule goes on from each reduced rate as PyTorch's
    scheduler does (multiplied on, recomputed at its next step, the cosine's recursion,
    SequentialLR's milestones), float32 to 1e-6."""
    expected = _expected(case)
    got = replay_plateau(case, "pytorch")
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=_atol(expected))
    assert not np.allclose(case["lr"], case["schedule_lr"], rtol=1e-3)  # the plateau acts


@pytest.mark.parametrize("case", PLATEAU_ON, ids=_PLATEAU_ON_IDS)
def test_pytorch_mode_float64_per_parameter_group(case):
    """The same per parameter group (the group's schedule `rebased` on ``lr2``, its own
    min_lr), float64 to 1e-12, and on the whole optimizer's schedule in float64."""
    with goldens.floatx("float64"):
        got = replay_plateau(case, "pytorch", groups=True, dtype="float64")
        whole = replay_plateau(case, "pytorch", dtype="float64")
    np.testing.assert_allclose(got, _expected(case, groups=True), rtol=RTOL64, atol=1e-15)
    np.testing.assert_allclose(whole, _expected(case), rtol=RTOL64, atol=1e-15)


@pytest.mark.parametrize("case", PLATEAU_ON, ids=_PLATEAU_ON_IDS)
def test_scale_mode_is_pytorchs_on_chainable_schedules_only(case):
    """on_schedule="scale" (the default): the schedule times the reductions. PyTorch's for a
    scheduler that multiplies the current lr; not for one that recomputes it."""
    got = replay_plateau(case, "scale")
    expected = _expected(case)
    if _chainable(case):
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=_atol(expected))
    elif case["schedule"] != "SequentialLR":  # (depends on where the milestones fall)
        assert np.max(np.abs(got - expected) / np.abs(expected).max()) > 1e-2


def test_plateau_goldens_cover_every_schedule_and_the_rules_corners():
    names = {c["schedule"] for c in PLATEAU_ON}
    assert set(schedules.__all__) - {"CycledMomentum"} <= names
    for case in PLATEAU_ON:
        lr, spe = np.asarray(case["lr"]), case["epoch_steps"]
        plain = np.asarray(case["schedule_lr"])
        ratios = np.where(plain > 0, lr / np.where(plain > 0, plain, 1), 1)[::spe]
        reduced = np.flatnonzero(ratios[1:] < ratios[:-1] * (1 - 1e-9))
        if _chainable(case):
            assert len(reduced) >= 2, case["id"]
    by_id = {c["id"]: c for c in PLATEAU_ON}
    eager = [c for c in PLATEAU_ON if c["plateau"]["patience"] == 0]
    assert eager and all(c["plateau"]["cooldown"] == 0 for c in eager)  # reductions in a row
    assert any(c["plateau"]["cooldown"] > 0 for c in PLATEAU_ON)
    clamped = by_id["plateau-on/chained-linear-step-multistep-spe2"]
    assert clamped["plateau"]["min_lr"][0] in np.round(clamped["lr"], 15)
    assert {c["config"].get("anneal_strategy", "cos") for c in PLATEAU_ON
            if c["schedule"] == "OneCycleLR"} == {"cos", "linear"}  # fmt: skip
    cosine = [c for c in PLATEAU_ON if c["schedule"] == "CosineAnnealingLR"]
    assert any(len(c["metrics"]) > 2 * c["config"]["T_max"] for c in cosine)
    assert {bool(c["config"].get("eta_min")) for c in cosine} == {True, False}
    assert any(c["epoch_steps"] > 1 and not c["per_step"] for c in PLATEAU_ON)
    polynomial = by_id["plateau-on/polynomial-past-end"]
    assert len(polynomial["metrics"]) > polynomial["config"]["total_iters"]


def _resave(optimizer, plateau):
    """A save and load in the middle of a run: the optimizer through its config and variables
    (what model.save / load_model and kerasdl's resume do), the callback through get_state."""
    config = json.loads(json.dumps(keras.optimizers.serialize(optimizer)))
    loaded = keras.optimizers.deserialize(config)
    if getattr(optimizer, "_groups", None):
        loaded.build([keras.Variable(np.zeros(2), name=n) for n in ("first", "second")])
        for mine, theirs in zip(loaded.variables, optimizer.variables, strict=True):
            mine.assign(theirs)
    else:
        loaded.iterations.assign(optimizer.iterations)
    state = json.loads(json.dumps(plateau.get_state()))
    restored = ReduceLROnPlateau.from_config(plateau.get_config())
    restored.optimizer = loaded
    restored.set_state(state)
    restored._attach_all()
    return loaded, restored


@pytest.mark.parametrize("groups", [False, True], ids=["optimizer", "groups"])
@pytest.mark.parametrize("key", ["plateau-on/cosine-eta_min-spe2", "plateau-on/lambda-spe3"])
def test_a_save_and_load_mid_run_keeps_the_reset(key, groups):
    case = next(c for c in PLATEAU_ON if c["id"] == key)
    with goldens.floatx("float64"):
        got = replay_plateau(case, "pytorch", groups=groups, dtype="float64", stop=4,
                             restart=_resave)  # fmt: skip
    np.testing.assert_allclose(got, _expected(case, groups), rtol=RTOL64, atol=1e-15)


def test_a_saved_state_without_resets_still_loads():
    """state.json written before on_schedule existed has no "resets"."""
    optimizer = keras.optimizers.SGD(schedules.LambdaLR(0.1, exp095))
    plateau = ReduceLROnPlateau(optimizer=optimizer, on_schedule="pytorch", patience=0)
    state = plateau.get_state()
    assert state["resets"] == [[-1, 0.0]]
    del state["resets"]
    plateau.set_state(state)
    plateau.step(1.0)
    assert plateau.status.learning_rate == pytest.approx(0.1)


def test_fit_applies_pytorchs_rates_with_a_plateau_on_a_recomputing_schedule():
    """model.fit (float64): the rate SGD applies at every step is PyTorch's with
    ReduceLROnPlateau on top (the reduction lasts one epoch of LambdaLR, then it recomputes),
    read off the kernel: the loss is the mean prediction on inputs of ones, so w moves by
    exactly lr(k) at step k."""
    import kerasdl.optimizers

    case = next(c for c in PLATEAU_ON if c["id"] == "plateau-on/lambda-spe3")
    params = dict(case["plateau"])
    min_lr = params.pop("min_lr")[0]
    spe, epochs = case["epoch_steps"], len(case["metrics"])

    class Script(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.kernels = []

        def on_train_batch_end(self, batch, logs=None):
            self.kernels.append(float(self.model.layers[0].kernel[0, 0]))

        def on_epoch_end(self, epoch, logs=None):
            logs["scripted"] = case["metrics"][epoch]

    keras.backend.set_floatx("float64")
    try:
        schedule = kerasdl_schedule(case["schedule"], case["config"])
        dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", dtype="float64")
        model = keras.Sequential([keras.Input((1,), dtype="float64"), dense])
        model.compile(optimizer=kerasdl.optimizers.SGD(learning_rate=schedule),
                      loss=lambda y_true, y_pred: ops.mean(y_pred))  # fmt: skip
        plateau = ReduceLROnPlateau(monitor="scripted", min_lr=min_lr, on_schedule="pytorch",
                                    **params)  # fmt: skip
        script = Script()
        model.fit(np.ones((spe, 1)), np.zeros((spe, 1)), batch_size=1, epochs=epochs,
                  verbose=0, shuffle=False, callbacks=[script, plateau])  # fmt: skip
    finally:
        keras.backend.set_floatx("float32")
    applied = -np.diff([1.0, *script.kernels])
    np.testing.assert_allclose(applied, case["lr"], rtol=1e-9)
    assert len(plateau.lr_changes) >= 3


# ---------------------------------------------------------------------------
# Tracing, dtypes, serialization.
# ---------------------------------------------------------------------------

EXAMPLES = {c["id"]: c for c in TORCH if c["schedule"] not in schedules.CHAPTER}


def _compiled(fn):
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiled check for the {backend()} backend")


@pytest.mark.parametrize("key", EXAMPLES)
def test_traces_once_and_matches_eager_under_compilation(key):
    case = EXAMPLES[key]
    schedule = kerasdl_schedule(case["schedule"], case["config"])
    traces = []

    def lr(step):
        traces.append(step)
        return schedule(step)

    compiled = _compiled(lr)
    steps = sorted({k for k in (0, 1, 2, 5, 9) if k < len(case["lr"])} | {len(case["lr"]) - 1})
    got = [float(compiled(ops.convert_to_tensor(k, dtype="int64"))) for k in steps]
    assert len(traces) == 1  # no Python branch on the step's value
    expected = np.asarray(case["lr"])[steps]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=_atol(expected))


@pytest.mark.parametrize("case", PLATEAU_ON, ids=_PLATEAU_ON_IDS)
def test_a_pytorch_reset_traces_once_under_compilation(case):
    """PlateauScaledSchedule with a reset (every schedule's plateau_gain) under XLA / jax.jit:
    one trace, the eager values."""
    from kerasdl.callbacks import PlateauScaledSchedule

    schedule = kerasdl_schedule(case["schedule"], case["config"])
    since = 3 * case["epoch_steps"]
    wrapped = PlateauScaledSchedule(schedule, since=since, rate=0.5 * case["lr"][since])
    traces = []

    def lr(step):
        traces.append(step)
        return wrapped(step)

    compiled = _compiled(lr)
    steps = [0, since - 1, since, since + 1, len(case["lr"]) - 1]
    got = [float(compiled(ops.convert_to_tensor(k, dtype="int64"))) for k in steps]
    assert len(traces) == 1
    eager = [float(wrapped(k)) for k in steps]
    np.testing.assert_allclose(got, eager, rtol=RTOL, atol=_atol(np.asarray(case["lr"])))
    assert got[2] == pytest.approx(0.5 * case["lr"][since], rel=RTOL)


@pytest.mark.parametrize("kind", ["python-int", "int32", "int64-variable", "float32"])
def test_every_kind_of_step(kind):
    make = {
        "python-int": lambda k: k,
        "int32": lambda k: ops.convert_to_tensor(k, dtype="int32"),
        "int64-variable": lambda k: keras.Variable(k, dtype="int64", trainable=False),
        "float32": lambda k: ops.convert_to_tensor(float(k), dtype="float32"),
    }[kind]
    for case in EXAMPLES.values():
        schedule = kerasdl_schedule(case["schedule"], case["config"])
        for k in (0, 3, 7):
            value = schedule(make(k))
            assert keras.backend.standardize_dtype(value.dtype) == "float32", case["id"]
            assert tuple(value.shape) == (), case["id"]
            np.testing.assert_allclose(float(value), case["lr"][k], rtol=RTOL, atol=1e-12)


def test_dtype_none_follows_floatx():
    schedule = schedules.OneCycleLR(0.1, total_steps=10)
    keras.backend.set_floatx("float64")
    try:
        assert keras.backend.standardize_dtype(schedule(3).dtype) == "float64"
    finally:
        keras.backend.set_floatx("float32")
    assert keras.backend.standardize_dtype(schedule(3).dtype) == "float32"


@pytest.mark.parametrize("key", EXAMPLES)
def test_config_round_trips(key):
    case = EXAMPLES[key]
    schedule = kerasdl_schedule(case["schedule"], case["config"])
    serialized = keras.optimizers.schedules.serialize(schedule)
    assert serialized["registered_name"] == f"kerasdl>{case['schedule']}"
    revived = keras.optimizers.schedules.deserialize(json.loads(json.dumps(serialized)))
    assert type(revived) is type(schedule)
    assert revived.get_config() == schedule.get_config()
    steps = np.arange(len(case["lr"]))
    np.testing.assert_array_equal(evaluate(revived, steps), evaluate(schedule, steps))
    if "momentum" in case:
        momentum = keras.optimizers.schedules.serialize(schedule.momentum_schedule())
        assert momentum["registered_name"] == "kerasdl>CycledMomentum"
        back = keras.optimizers.schedules.deserialize(json.loads(json.dumps(momentum)))
        np.testing.assert_array_equal(
            evaluate(back, steps), evaluate(schedule.momentum_schedule(), steps)
        )


def test_model_save_and_load_keep_a_nested_schedule(tmp_path):
    chained = schedules.ChainedScheduler(
        [schedules.ExponentialLR(0.1, gamma=0.9), schedules.MultiStepLR(0.1, [2], gamma=0.5)]
    )
    first = schedules.LinearLR(0.1, start_factor=0.1, total_iters=3)
    schedule = schedules.SequentialLR(
        [first, chained, schedules.LambdaLR(0.1, exp095)], milestones=[3, 6]
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    revived = loaded.optimizer._learning_rate
    assert type(revived) is schedules.SequentialLR
    steps = np.arange(12)
    np.testing.assert_array_equal(evaluate(revived, steps), evaluate(schedule, steps))


def test_a_lambda_works_in_memory_and_get_config_says_to_register_it():
    schedule = schedules.LambdaLR(0.1, lambda epoch: ops.power(0.5, epoch))
    np.testing.assert_allclose(evaluate(schedule, range(3)), [0.1, 0.05, 0.025], rtol=RTOL)
    with pytest.raises(ValueError, match="register_keras_serializable"):
        schedule.get_config()

    def unregistered(epoch):
        return ops.power(0.5, epoch)

    with pytest.raises(ValueError, match="is not registered"):
        schedules.MultiplicativeLR(0.1, unregistered, max_epochs=3).get_config()
    with pytest.raises(ValueError, match="register_keras_serializable"):
        schedules.CyclicLR(0.1, 0.2, scale_fn=lambda c: c).get_config()


def test_multiplicative_lr_holds_after_max_epochs():
    schedule = schedules.MultiplicativeLR(1.0, const09, max_epochs=3, dtype="float64")
    np.testing.assert_allclose(
        _evaluate64(schedule, range(6)), [1.0, 0.9, 0.81, 0.729, 0.729, 0.729], rtol=RTOL64
    )


def test_onecycle_holds_its_last_rate_after_total_steps():
    schedule = schedules.OneCycleLR(0.1, total_steps=20, dtype="float64")
    values = _evaluate64(schedule, [19, 20, 21, 1000])
    expected = np_onecycle([19, 20, 19, 19], 0.1, 20)
    np.testing.assert_allclose(values, expected, rtol=RTOL64)
    np.testing.assert_allclose(values[0], 0.1 / 25 / 1e4, rtol=RTOL64)


def test_restarts_are_exact_at_every_cycle_boundary():
    """The cycle starts of T_0=3, T_mult=3 (0, 3, 12, 39, 120, 363): the full rate at each."""
    schedule = schedules.CosineAnnealingWarmRestarts(1.0, T_0=3, T_mult=3, dtype="float64")
    starts = [0, 3, 12, 39, 120, 363, 1092]
    np.testing.assert_allclose(_evaluate64(schedule, starts), 1.0, rtol=RTOL64)
    before = _evaluate64(schedule, [s - 1 for s in starts[1:]])
    np.testing.assert_allclose(before, np_restarts([s - 1 for s in starts[1:]], 1.0, 3, 3))


# ---------------------------------------------------------------------------
# Invalid arguments.
# ---------------------------------------------------------------------------

S = schedules
# fmt: off
INVALID = [
    (lambda: S.MultiStepLR(0.1, milestones=[3, 2]), "milestones",
     "a list of integers >= 0 in non-decreasing order", "[3, 2]"),
    (lambda: S.MultiStepLR(0.1, milestones=[-1]), "milestones", "an integer >= 0", "-1"),
    (lambda: S.ConstantLR(0.1, factor=0.0), "factor", "in (0.0, 1.0]", "0.0"),
    (lambda: S.ConstantLR(0.1, total_iters=0), "total_iters", "an integer >= 1", "0"),
    (lambda: S.LinearLR(0.1, start_factor=1.5), "start_factor", "in (0.0, 1.0]", "1.5"),
    (lambda: S.LinearLR(0.1, end_factor=-0.1), "end_factor", "in [0.0, 1.0]", "-0.1"),
    (lambda: S.PolynomialLR(0.1, power=0.0), "power", "> 0", "0.0"),
    (lambda: S.LambdaLR(0.1, lr_lambda=0.5), "lr_lambda",
     "a callable (a registered function or serializable object)", "0.5"),
    (lambda: S.MultiplicativeLR(0.1, const09, max_epochs=-1), "max_epochs", "an integer >= 0",
     "-1"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, T_0=0), "T_0", "an integer >= 1", "0"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, 2, T_mult=0), "T_mult", "an integer >= 1", "0"),
    (lambda: S.CosineAnnealingWarmRestarts(0.1, 2, per_step=1), "per_step", "True or False", "1"),
    (lambda: S.CyclicLR(0.1, 0.2, mode="cosine"), "mode",
     "one of 'triangular', 'triangular2', 'exp_range'", "'cosine'"),
    (lambda: S.CyclicLR(0.1, 0.2, step_size_up=0), "step_size_up", "an integer >= 1", "0"),
    (lambda: S.CyclicLR(0.1, 0.2, max_momentum=1.0), "max_momentum", "in [0.0, 1.0)", "1.0"),
    (lambda: S.OneCycleLR(0.1, total_steps=1), "total_steps", "an integer >= 2", "1"),
    (lambda: S.OneCycleLR(0.1, 10, pct_start=1.0), "pct_start", "in (0.0, 1.0)", "1.0"),
    (lambda: S.OneCycleLR(0.1, 10, anneal_strategy="cosine"), "anneal_strategy",
     "one of 'cos', 'linear'", "'cosine'"),
    (lambda: S.SequentialLR([S.StepLR(0.1, 2)] * 2, milestones=[-1]),
     "milestones", "an integer >= 0", "-1"),
    (lambda: S.SequentialLR(0.1, milestones=[]), "schedules",
     "a non-empty list of LearningRateSchedules", "0.1"),
    (lambda: S.StepLR(0.1, 2, dtype="int32"), "dtype",
     "one of None, 'float16', 'bfloat16', 'float32', 'float64'", "'int32'"),
]
# fmt: on


@pytest.mark.parametrize("make, name, requirement, received", INVALID)
def test_invalid_arguments(make, name, requirement, received):
    message = f"Argument `{name}` must be {requirement}. Received: {name}={received}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()


def test_invalid_compositions():
    with pytest.raises(ValueError, match="one milestone fewer than schedules"):
        S.SequentialLR([S.StepLR(0.1, 2), S.StepLR(0.1, 3)], milestones=[])
    with pytest.raises(ValueError, match="in increasing order"):
        S.SequentialLR([S.StepLR(0.1, 2)] * 3, milestones=[2, 2])
    with pytest.raises(ValueError, match=r"cannot chain CosineAnnealingLR \(schedules\[1\]\)"):
        S.ChainedScheduler([S.StepLR(0.1, 2), S.CosineAnnealingLR(0.1, 5)])
    with pytest.raises(ValueError, match="cannot chain LambdaLR"):
        S.ChainedScheduler([S.LambdaLR(0.1, exp095)])
    with pytest.raises(ValueError, match="one initial_learning_rate"):
        S.ChainedScheduler([S.StepLR(0.1, 2), S.ExponentialLR(0.2, 0.9)])
    with pytest.raises(ValueError, match="more than one step"):
        S.OneCycleLR(0.1, total_steps=3, pct_start=0.1)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        S.OneCycleLR(0.1, 10, cycle_momentum=False).momentum_schedule()
    with pytest.raises(ValueError, match="has no `rebased`"):
        S.SequentialLR(
            [S.StepLR(0.1, 2), keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)], [2]
        ).rebased(0.5)
    assert math.isclose(S.StepLR(0.1, 2).rebased(0.3).initial_learning_rate, 0.3)


# ---------------------------------------------------------------------------
# The config names every PyTorch scheduler the config can hold.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fields, expected",
    [
        ("multistep", {"milestones": [2, 4], "gamma": 0.1},
         lambda lr, spe: schedules.MultiStepLR(lr, [2, 4], 0.1, steps_per_epoch=spe)),
        ("constant", {"factor": 0.5, "total_iters": 2},
         lambda lr, spe: schedules.ConstantLR(lr, 0.5, 2, steps_per_epoch=spe)),
        ("linear", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 3},
         lambda lr, spe: schedules.LinearLR(lr, 0.1, 0.9, 3, steps_per_epoch=spe)),
        ("polynomial", {"total_iters": 4, "power": 2.0},
         lambda lr, spe: schedules.PolynomialLR(lr, 4, 2.0, steps_per_epoch=spe)),
        ("cosine_restarts", {"t_0": 2, "t_mult": 2, "eta_min": 1e-4, "per_step": True},
         lambda lr, spe: schedules.CosineAnnealingWarmRestarts(
             lr, 2, 2, 1e-4, steps_per_epoch=spe, per_step=True)),
        ("cyclic", {"max_lr": 0.05, "step_size_up": 7, "mode": "exp_range", "gamma": 0.99},
         lambda lr, spe: schedules.CyclicLR(lr, 0.05, 7, mode="exp_range", gamma=0.99)),
        ("cyclic", {}, lambda lr, spe: schedules.CyclicLR(lr, 10 * lr, 2000)),
        ("onecycle", {"three_phase": True, "anneal_strategy": "linear"},
         lambda lr, spe: schedules.OneCycleLR(lr, 6 * spe, anneal_strategy="linear",
                                              three_phase=True)),
    ],
)  # fmt: skip
def test_config_names_build_the_schedule(name, fields, expected):
    from kerasdl.config import TrainConfig, schedule_spec

    overrides = {f"schedule.{k}": v for k, v in fields.items()}
    overrides.update({"schedule.name": name, "epochs": 6, "optimizer.learning_rate": 0.01})
    spec = schedule_spec(TrainConfig().override(overrides).validate(), steps_per_epoch=5)
    built = getattr(schedules, spec["class"])(**spec["kwargs"])
    steps = np.arange(6 * 5)
    np.testing.assert_array_equal(evaluate(built, steps), evaluate(expected(0.01, 5), steps))


def test_a_float64_fit_applies_pytorchs_rates_to_1e_12():
    """ERRATA/issue 18: in a float64 run (floatx float64) the rate is float64 (dtype None), so
    SGD's trajectory under OneCycleLR is PyTorch's rates to 1e-12, not to float32's 1e-7.

    The loss is the mean prediction on inputs of ones, so the kernel's gradient is 1 at every
    step and SGD moves it by exactly lr(k): w_k = 1 - (lr(0) + ... + lr(k - 1)).
    """
    import kerasdl.optimizers

    case = next(c for c in TORCH if c["id"] == "onecycle/cos")
    keras.backend.set_floatx("float64")
    try:
        schedule = kerasdl_schedule(case["schedule"], case["config"])
        # The layer's dtype given: Keras caches its global dtype policy from floatx at first use.
        dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", dtype="float64")
        model = keras.Sequential([keras.Input((1,), dtype="float64"), dense])
        model.compile(
            optimizer=kerasdl.optimizers.SGD(learning_rate=schedule),
            loss=lambda y_true, y_pred: ops.mean(y_pred),
        )
        steps = len(case["lr"]) - 1
        model.fit(np.ones((steps, 1)), np.zeros((steps, 1)), batch_size=1, epochs=1, verbose=0,
                  shuffle=False)  # fmt: skip
        kernel = model.get_weights()[0]
        assert kernel.dtype == np.float64
    finally:
        keras.backend.set_floatx("float32")
    expected = 1.0 - math.fsum(case["lr"][:steps])
    np.testing.assert_allclose(float(kernel[0, 0]), expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# Random hyperparameters against the NumPy formulas (PyTorch's closed forms, float64).
# ---------------------------------------------------------------------------

_RANDOM = {
    "MultiStepLR": st.fixed_dictionaries({
        "initial_learning_rate": st.floats(1e-4, 1.0),
        "milestones": st.lists(st.integers(0, 15), min_size=1, max_size=4).map(sorted),
        "gamma": st.floats(0.05, 1.5), "steps_per_epoch": st.integers(1, 4)}),
    "LinearLR": st.fixed_dictionaries({
        "initial_learning_rate": st.floats(1e-4, 1.0), "start_factor": st.floats(0.01, 1.0),
        "end_factor": st.floats(0.0, 1.0), "total_iters": st.integers(1, 12),
        "steps_per_epoch": st.integers(1, 4)}),
    "PolynomialLR": st.fixed_dictionaries({
        "initial_learning_rate": st.floats(1e-4, 1.0), "total_iters": st.integers(1, 12),
        "power": st.floats(0.1, 4.0), "steps_per_epoch": st.integers(1, 4)}),
    "CosineAnnealingWarmRestarts": st.fixed_dictionaries({
        "initial_learning_rate": st.floats(1e-4, 1.0), "T_0": st.integers(1, 6),
        "T_mult": st.integers(1, 4), "eta_min": st.floats(0.0, 1e-3),
        "steps_per_epoch": st.integers(1, 5), "per_step": st.booleans()}),
    "CyclicLR": st.fixed_dictionaries({
        "base_lr": st.floats(1e-4, 0.1), "max_lr": st.floats(0.1, 1.0),
        "step_size_up": st.integers(1, 9), "step_size_down": st.none() | st.integers(1, 9),
        "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]),
        "gamma": st.floats(0.9, 1.0)}),
    "OneCycleLR": st.fixed_dictionaries({
        "max_lr": st.floats(1e-3, 1.0), "total_steps": st.integers(20, 120),
        "pct_start": st.floats(0.1, 0.45), "anneal_strategy": st.sampled_from(["cos", "linear"]),
        "div_factor": st.floats(1.5, 50.0), "final_div_factor": st.floats(1.5, 1e4),
        "three_phase": st.booleans()}),
}  # fmt: skip


@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data(), name=st.sampled_from(sorted(_RANDOM)))
def test_random_hyperparameters_equal_the_formula(data, name):
    config = data.draw(_RANDOM[name])
    steps = np.arange(config.get("total_steps", 100) + 1)
    expected = numpy_schedule(name, config)(steps)
    got = _evaluate64(kerasdl_schedule(name, config, dtype="float64"), steps)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-15)
    got32 = evaluate(kerasdl_schedule(name, config), steps)
    np.testing.assert_allclose(got32, expected, rtol=2e-6, atol=1e-9 * np.max(np.abs(expected)))
