"""Parameter groups (PyTorch's ``param_groups``) on every kerasdl optimizer.

References:

- Golden trajectories from ``torch.optim`` with ``param_groups`` (tests/golden/groups.json,
  made by tests/reference/golden_groups.py): 120 float64 steps of a two-layer tanh
  regression whose gradient is written out below in keras.ops (the generator checks it
  against torch autograd), with per-group learning rates, weight decay and each
  optimizer's own hyperparameters, timm's no-decay-for-rank<=1 layout, schedules rebased on
  each group's learning rate, a group's own schedule and momentum schedules.
- Tolerance 1e-6 relative to the size of the expected parameters (float64 runs): the
  updates are the same formulas in the same order as torch's single-tensor path; what is
  left is rounding in a different association of a few products (1e-13 per step), which
  120 steps of a contracting problem keep orders of magnitude below 1e-6.
"""

import goldens
import keras
import numpy as np
import pytest
from goldens import assert_close, floatx, tanh
from keras import ops

import kerasdl.optimizers
import kerasdl.schedules
from kerasdl.callbacks import ReduceLROnPlateau

TOLERANCE = 1e-6
ALL_IDS, ALL_CASES = goldens.cases("groups")
CASES = [c for c in ALL_CASES if c["kind"] == "trajectory"]
IDS = [c["id"] for c in CASES]
PLATEAU = [c for c in ALL_CASES if c["kind"] == "plateau"]
PATHS = ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")


def gradient(X, Y, v):
    """d/d(variables) of 0.5 * sum((tanh(tanh(X @ K1 + b1) @ K2 + b2) - Y)^2) / n."""
    K1, b1, K2, b2 = v
    h = tanh(ops.add(ops.matmul(X, K1), b1))
    pred = tanh(ops.add(ops.matmul(h, K2), b2))
    D2 = (pred - Y) * (1 - ops.square(pred)) / X.shape[0]
    D1 = ops.matmul(D2, ops.transpose(K2)) * (1 - ops.square(h))
    return [
        ops.matmul(ops.transpose(X), D1),
        ops.sum(D1, axis=0),
        ops.matmul(ops.transpose(h), D2),
        ops.sum(D2, axis=0),
    ]


def schedule(spec, dtype="float64"):
    """A schedule from a golden spec; Keras's own get float64 numbers in a float64 run (they
    compute in the dtype of their `initial_learning_rate`)."""
    if spec["module"] == "keras":
        config = {
            k: np.asarray(v, dtype) if isinstance(v, float) else v
            for k, v in spec["config"].items()
        }
        return getattr(keras.optimizers.schedules, spec["class"])(**config)
    return getattr(kerasdl.schedules, spec["class"])(**spec["config"])


def _value(value):
    return schedule(value) if isinstance(value, dict) else value


def make_optimizer(case, **extra):
    kwargs = {k: _value(v) for k, v in case["kwargs"].items()}
    if case.get("keras_schedule"):
        kwargs["learning_rate"] = schedule(case["keras_schedule"])
    if case.get("cycled_momentum"):  # torch's OneCycleLR cycles momentum / betas[0] too
        kwargs[case["cycled_momentum"]] = kwargs["learning_rate"].momentum_schedule()
    groups = [{k: _value(v) for k, v in g.items()} for g in case["groups"]]
    return getattr(kerasdl.optimizers, case["class"])(groups=groups, **kwargs, **extra)


def make_variables(case, dtype="float64"):
    variables = []
    for path in PATHS:
        layer, name = path.split("/")
        with keras.name_scope(layer):
            variables.append(
                keras.Variable(np.asarray(case["initial"][path]), dtype=dtype, name=name)
            )
    return variables


def run_keras(case, optimizer=None, steps=None):
    with floatx("float64"):
        optimizer = optimizer or make_optimizer(case)
        X = ops.convert_to_tensor(np.asarray(case["X"]), dtype="float64")
        Y = ops.convert_to_tensor(np.asarray(case["Y"]), dtype="float64")
        variables = make_variables(case)
        checkpoints = {}
        for step in range(1, (steps or case["steps"]) + 1):
            optimizer.apply(gradient(X, Y, variables), variables)
            if str(step) in case["checkpoints"]:
                checkpoints[step] = [v.numpy() for v in variables]
    return checkpoints


def test_gradient_formula_matches_numpy():
    case = CASES[0]
    v = [np.asarray(case["initial"][p]) for p in PATHS]
    X, Y = np.asarray(case["X"]), np.asarray(case["Y"])
    with floatx("float64"):
        actual = gradient(
            ops.convert_to_tensor(X),
            ops.convert_to_tensor(Y),
            [ops.convert_to_tensor(a) for a in v],
        )
    for a, e in zip(actual, goldens.groups_gradient(X, Y, v), strict=True):
        np.testing.assert_allclose(ops.convert_to_numpy(a), e, rtol=1e-12)


def check_trajectory(case, checkpoints):
    for step, values in checkpoints.items():
        expected = case["checkpoints"][str(step)]
        for path, value in zip(PATHS, values, strict=True):
            assert_close(value, expected[path], TOLERANCE, f"{case['id']} {path} at step {step}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_groups_match_torch_param_groups(case):
    check_trajectory(case, run_keras(case))


FUSED = [c for c in CASES if c["class"] in ("Adam", "AdamW")]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="fused is TensorFlow's")
@pytest.mark.parametrize("case", FUSED, ids=[c["id"] for c in FUSED])
def test_groups_keras_ops_update_matches_torch_too(case):
    check_trajectory(case, run_keras(case, make_optimizer(case, fused=False)))


# ---------------------------------------------------------------------------
# Selection, checks and messages.
# ---------------------------------------------------------------------------


def _two_layers():
    return make_variables(CASES[0], dtype="float32")


def test_first_group_that_selects_a_variable_wins_and_the_rest_are_default():
    variables = _two_layers()
    opt = kerasdl.optimizers.SGD(
        groups=[{"pattern": "dense_1/"}, {"max_rank": 1}, {"variables": variables[1:2]}]
    )
    with pytest.raises(ValueError, match=r"group 2 .*selects none"):
        opt.build(variables)  # dense/bias is group 1's already: group 2 would be empty
    opt = kerasdl.optimizers.SGD(groups=[{"pattern": "dense_1/"}, {"max_rank": 1}])
    opt.build(variables)
    assert [opt.group_of(v) for v in variables] == [None, 1, 0, 0]


@pytest.mark.parametrize(
    ("cls", "group", "message"),
    [
        (
            kerasdl.optimizers.SGD,
            {"pattern": "a", "beta_1": 0.9},
            "Unknown hyperparameter 'beta_1'",
        ),
        (kerasdl.optimizers.Adagrad, {"max_rank": 1, "initial_accumulator_value": 0.1}, "may set"),
        (kerasdl.optimizers.SGD, {"pattern": "a", "max_rank": 1}, "exactly one selector"),
        (kerasdl.optimizers.SGD, {"learning_rate": 0.1}, "exactly one selector"),
        (kerasdl.optimizers.SGD, {"pattern": "("}, "not a valid regular expression"),
        (kerasdl.optimizers.SGD, {"max_rank": -1}, "max_rank"),
        (kerasdl.optimizers.Adam, {"pattern": "a", "beta_2": 1.0}, r"groups\[0\].beta_2"),
        (kerasdl.optimizers.SGD, {"pattern": "a", "learning_rate": -1.0}, "learning_rate"),
        (kerasdl.optimizers.SGD, {"pattern": "a", "nesterov": True}, "nesterov=True"),
    ],
)
def test_bad_groups_raise_value_error(cls, group, message):
    with pytest.raises(ValueError, match=message):
        cls(groups=[group])


def test_groups_must_be_a_list_of_dicts():
    with pytest.raises(ValueError, match="list of dicts"):
        kerasdl.optimizers.SGD(groups={"pattern": "a"})


def test_no_groups_adds_no_variables():
    variables = _two_layers()
    plain = kerasdl.optimizers.Adam()
    plain.build(variables)
    grouped = kerasdl.optimizers.Adam(groups=[{"max_rank": 1, "weight_decay": 0.0}])
    grouped.build(variables)
    # Per group and for the default group: a plateau scale and a reset (its step and rate),
    # nothing else.
    assert len(grouped.variables) == len(plain.variables) + 2 * 3
    assert plain.get_config()["groups"] is None


def test_get_config_stores_in_memory_variables_by_path():
    variables = _two_layers()
    opt = kerasdl.optimizers.AdamW(
        groups=[{"variables": variables[2:], "learning_rate": 1e-4}, {"max_rank": 1}]
    )
    config = opt.get_config()
    assert config["groups"] == [
        {"paths": ["dense_1/kernel", "dense_1/bias"], "learning_rate": 1e-4},
        {"max_rank": 1},
    ]
    restored = kerasdl.optimizers.AdamW.from_config(config)
    restored.build(variables)
    assert [restored.group_of(v) for v in variables] == [None, 1, 0, 0]


# ---------------------------------------------------------------------------
# ReduceLROnPlateau per group, against torch's (goldens), and on every composition.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", PLATEAU, ids=[c["id"] for c in PLATEAU])
def test_plateau_reduces_each_group_as_torch(case):
    """Two groups (lr 0.05 and the optimizer's 0.1), min_lr per group; alone and on top of an
    exponential schedule that kerasdl rebases on the group's 0.05. Learning rates are Python
    floats in torch and float64 here: equal to 1e-12 (a product of a few ratios)."""
    with floatx("float64"):
        v0 = keras.Variable(np.zeros(2), name="first")
        v1 = keras.Variable(np.zeros(2), name="second")
        lr = case["lr"]
        if case["gamma"] is not None:
            lr = kerasdl.schedules.ExponentialLR(lr, gamma=case["gamma"])
        opt = kerasdl.optimizers.SGD(lr, groups=[{"variables": [v0], "learning_rate": 0.05}])
        opt.build([v0, v1])
        plateau = ReduceLROnPlateau(optimizer=opt, **case["params"])
        lrs = []
        for epoch, value in enumerate(case["metrics"]):
            opt.iterations.assign(epoch + 1)
            plateau.step(value)
            lrs.append(plateau.status.learning_rates)
    np.testing.assert_allclose(np.array(lrs), np.array(case["lrs"]), rtol=1e-12)
    assert {c.group for c in plateau.lr_changes} == {0, 1}


def _plateau_model(optimizer):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="first"), keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _never_better_fit(model, plateau, epochs=3):
    # mode="max" on a loss that falls: after the first epoch (the first best) no epoch is
    # better, so patience=0 reduces at the end of epochs 2 and 3.
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=[plateau])


def test_plateau_on_groups_in_fit_and_the_scales_are_saved(tmp_path):
    opt = kerasdl.optimizers.Adam(
        0.01, groups=[{"pattern": "(^|/)out/", "learning_rate": 0.004}, {"max_rank": 1}]
    )
    model = _plateau_model(opt)
    plateau = ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5,
                                min_lr=[0.002, 0.0, 0.0])  # fmt: skip
    # 0.004 -> 0.002 -> 0.002 (held at min_lr: the second reduction skips this group)
    _never_better_fit(model, plateau)
    np.testing.assert_allclose(plateau.status.learning_rates, [0.002, 0.0025, 0.0025], rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras").optimizer
    lrs = [float(loaded.group_learning_rate(g)) for g in loaded.group_indices()]
    np.testing.assert_allclose(lrs, [0.002, 0.0025, 0.0025], rtol=1e-6)


def test_plateau_min_lr_list_must_have_one_value_per_learning_rate():
    opt = kerasdl.optimizers.SGD(0.1, groups=[{"pattern": "(^|/)out/"}])
    model = _plateau_model(opt)
    plateau = ReduceLROnPlateau(monitor="loss", mode="max", patience=0, min_lr=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="has 3 values but the optimizer has 2"):
        _never_better_fit(model, plateau)


def test_plateau_on_a_loss_scale_optimizer_with_groups():
    inner = kerasdl.optimizers.SGD(0.1, groups=[{"pattern": "(^|/)out/", "learning_rate": 0.2}])
    model = _plateau_model(keras.optimizers.LossScaleOptimizer(inner))
    plateau = ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)
    _never_better_fit(model, plateau)
    np.testing.assert_allclose(plateau.status.learning_rates, [0.05, 0.025], rtol=1e-6)


def test_plateau_on_a_multi_optimizer():
    """Keras's MultiOptimizer (no learning_rate of its own): each of its optimizers' learning
    rates is reduced, a kerasdl one with groups per group, a Keras one with a schedule."""
    grouped = kerasdl.optimizers.SGD(0.1, groups=[{"max_rank": 1, "learning_rate": 0.2}])
    scheduled = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.01, 1000, 1.0))
    multi = keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(grouped, {".*out/.*": scheduled})
    )
    model = _plateau_model(multi)
    plateau = ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)
    _never_better_fit(model, plateau)
    # MultiOptimizer's order: the mapped optimizers, then the default one.
    np.testing.assert_allclose(plateau.status.learning_rates, [0.0025, 0.05, 0.025], rtol=1e-6)
    assert [c.group for c in plateau.lr_changes] == [0, 1, 2] * 2
