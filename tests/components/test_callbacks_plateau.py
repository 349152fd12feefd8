"""kerasdl.callbacks.ReduceLROnPlateau: PyTorch's rule on float lrs and schedules (3.5.1).

References: golden learning rates and counters from ``torch.optim.lr_scheduler.ReduceLROnPlateau``
(``tests/reference/golden_plateau.py``), and PyTorch's rule written out below in plain Python
(``reference_plateau``), checked on random sequences with hypothesis.
"""

import json
import math
import re
from pathlib import Path

import goldens
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from kerasdl.callbacks import LearningRateChange, PlateauScaledSchedule, ReduceLROnPlateau

DOCS = Path(__file__).resolve().parents[2] / "docs" / "callbacks.md"
IDS, CASES = goldens.cases("plateau")
schedules = keras.optimizers.schedules


def reference_plateau(metrics, lr, *, factor, patience, threshold, threshold_mode, cooldown,
                      min_lr, mode, eps=1e-8):  # fmt: skip
    """PyTorch's ReduceLROnPlateau.step, written out for a float lr: the lr after each step."""
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    lrs = []
    for v in metrics:
        if mode == "min":
            better = v < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = v > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        if better:
            best, bad = v, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cool, bad = cooldown, 0
        lrs.append(lr)
    return lrs


def keras_schedule(case):
    """The Keras twin of a golden case's PyTorch schedule (see golden_plateau.py)."""
    kind, lr0, spe = case["schedule"]["kind"], case["initial_lr"], case["steps_per_epoch"]
    if kind == "constant":
        return lr0
    gamma = case["schedule"]["gamma"]
    if kind == "exponential":
        return schedules.ExponentialDecay(lr0, spe, gamma, staircase=True)
    milestones = case["schedule"]["milestones"]
    return schedules.PiecewiseConstantDecay(
        [m * spe - 1 for m in milestones], [lr0 * gamma**i for i in range(len(milestones) + 1)]
    )


def metric(value):
    return math.nan if value is None else value


# ----------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch(case):
    optimizer = keras.optimizers.SGD(keras_schedule(case))
    plateau = ReduceLROnPlateau(optimizer=optimizer, **case["params"])
    statuses = []
    for epoch, value in enumerate(case["metrics"]):
        optimizer.iterations.assign((epoch + 1) * case["steps_per_epoch"])
        plateau.step(metric(value))
        statuses.append(plateau.status)
    assert [s.wait for s in statuses] == case["num_bad_epochs"]
    assert [s.cooldown_counter for s in statuses] == case["cooldown_counter"]
    assert [s.best for s in statuses] == case["best"]
    lrs = [s.learning_rate for s in statuses]
    if case["schedule"]["kind"] == "constant":
        assert all(s.scale is None for s in statuses)
        np.testing.assert_allclose(lrs, case["lr"], rtol=1e-6)
        return
    assert isinstance(optimizer._learning_rate, PlateauScaledSchedule)
    # The factor sequence equals PyTorch's (its lr over the lr of the schedule alone) ...
    factors = np.array(case["lr"]) / np.array(case["schedule_lr"])
    np.testing.assert_allclose([s.scale for s in statuses], factors, rtol=1e-6)
    # ... and the effective lr is that factor times the Keras schedule, which itself matches
    # PyTorch's up to float32 (Keras computes 0.9**k from float32(0.9): 1e-6 off by k = 40).
    steps = np.arange(1, len(statuses) + 1) * case["steps_per_epoch"]
    keras_lrs = ops.convert_to_numpy(optimizer._learning_rate.schedule(steps)).astype("float64")
    np.testing.assert_allclose(lrs, factors * keras_lrs, rtol=1e-6)
    np.testing.assert_allclose(keras_lrs, case["schedule_lr"], rtol=2e-6)


def test_golden_cases_reduce_often():
    """The goldens exercise reductions, min_lr clamps, cooldown and the eps guard."""

    def reductions(case):
        factors = np.array(case["lr"]) / np.array(case.get("schedule_lr", case["initial_lr"]))
        return int(np.sum(factors[1:] < factors[:-1] * (1 - 1e-9)))

    assert sum(reductions(c) for c in CASES) > 200
    assert sum(reductions(c) for c in CASES if c["schedule"]["kind"] != "constant") > 100
    assert any(c["params"]["min_lr"] in c["lr"] for c in CASES)
    assert any(max(c["cooldown_counter"]) > 0 for c in CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c["schedule"]["kind"] == "constant"][:12])
def test_reference_matches_pytorch(case):
    """The rule written out in this file reproduces PyTorch's goldens: it is a fair reference."""
    metrics = [metric(v) for v in case["metrics"]]
    lrs = reference_plateau(metrics, case["initial_lr"], **case["params"])
    np.testing.assert_allclose(lrs, case["lr"], rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    metrics=st.lists(st.integers(0, 8).map(lambda i: 1.0 - 0.05 * i), min_size=1, max_size=25),
    patience=st.integers(0, 4),
    cooldown=st.integers(0, 3),
    threshold=st.sampled_from([0.0, 1e-4, 0.06]),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    mode=st.sampled_from(["min", "max"]),
    factor=st.sampled_from([0.1, 0.5]),
    min_lr=st.sampled_from([0.0, 0.004]),
)
def test_random_sequences_follow_the_rule(metrics, **params):
    optimizer = keras.optimizers.SGD(0.1)
    plateau = ReduceLROnPlateau(optimizer=optimizer, **params)
    expected = reference_plateau(metrics, 0.1, **params)
    got = []
    for value in metrics:
        plateau.step(value)
        got.append(plateau.status.learning_rate)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# ----------------------------------------------------------------------------- one step by hand


def test_one_reduction_by_hand():
    """patience=1: the second bad epoch reduces 0.1 to 0.05; cooldown 1 skips the next one."""
    optimizer = keras.optimizers.SGD(0.1)
    plateau = ReduceLROnPlateau(optimizer=optimizer, factor=0.5, patience=1, cooldown=1)
    assert [plateau.step(v) for v in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]] == [
        False,  # best 1.0
        False,  # 1 bad epoch: not more than patience
        True,  # 2 bad epochs > 1: 0.1 -> 0.05, cooldown 1
        False,  # in cooldown: the bad epoch does not count
        False,  # 1 bad epoch
        True,  # 2 bad epochs: 0.05 -> 0.025
    ]
    assert float(optimizer.learning_rate) == pytest.approx(0.025, rel=1e-6)
    change = plateau.lr_changes[0]
    assert isinstance(change, LearningRateChange)
    assert (change.epoch, change.source) == (2, "ReduceLROnPlateau")
    assert change.old == pytest.approx(0.1) and change.new == pytest.approx(0.05)
    assert "did not improve" in change.reason and "patience 1" in change.reason


def test_min_lr_applies_to_the_effective_lr_of_a_schedule():
    # constant schedule 0.1 from step 0: 0.1 -> 0.03 clamped (min_lr) -> no change after
    optimizer = keras.optimizers.SGD(schedules.PiecewiseConstantDecay([1000], [0.1, 0.01]))
    plateau = ReduceLROnPlateau(optimizer=optimizer, factor=0.1, patience=0, min_lr=0.03)
    for value in [1.0, 1.0, 1.0, 1.0]:
        plateau.step(value)
    assert plateau.status.learning_rate == pytest.approx(0.03, rel=1e-6)
    assert plateau.status.scale == pytest.approx(0.3, rel=1e-6)
    assert len(plateau.lr_changes) == 1 and "min_lr" in plateau.lr_changes[0].reason
    # The schedule keeps its shape: after its boundary the lr is 0.3 * 0.01.
    optimizer.iterations.assign(1001)
    assert plateau.status.learning_rate == pytest.approx(0.003, rel=1e-6)


def test_works_with_a_kerasdl_schedule():
    kerasdl_schedules = pytest.importorskip("kerasdl.schedules")
    schedule = kerasdl_schedules.StepLR(0.1, step_size=2, gamma=0.5)  # 0.1 * 0.5 ** (step // 2)
    optimizer = keras.optimizers.SGD(schedule)
    plateau = ReduceLROnPlateau(optimizer=optimizer, factor=0.1, patience=0)
    for step, value in enumerate([1.0, 2.0, 3.0], start=1):
        optimizer.iterations.assign(step)
        plateau.step(value)
    assert plateau.status.scale == pytest.approx(0.01)
    optimizer.iterations.assign(4)
    assert plateau.status.learning_rate == pytest.approx(0.01 * 0.1 * 0.25, rel=1e-6)
    wrapped = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(optimizer._learning_rate)
    )
    assert isinstance(wrapped.schedule, kerasdl_schedules.StepLR)
    assert float(wrapped(4)) == pytest.approx(0.01 * 0.1 * 0.25, rel=1e-6)


def test_nan_counts_as_a_bad_epoch():
    optimizer = keras.optimizers.SGD(0.1)
    plateau = ReduceLROnPlateau(optimizer=optimizer, patience=1)
    assert [plateau.step(v) for v in [math.nan, math.nan]] == [False, True]
    assert plateau.best is None
    assert "no value yet" in plateau.lr_changes[0].reason


def test_loss_scale_optimizer_is_unwrapped():
    inner = keras.optimizers.SGD(0.1)
    plateau = ReduceLROnPlateau(optimizer=keras.optimizers.LossScaleOptimizer(inner), patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    assert float(inner.learning_rate) == pytest.approx(0.01, rel=1e-6)


def test_keras_own_callback_refuses_a_schedule():
    """Why this callback exists: Keras's ReduceLROnPlateau cannot lower a schedule."""
    model = linear_model(schedules.ExponentialDecay(0.1, 2, 0.9))
    keras_plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0)
    keras_plateau.set_model(model)
    keras_plateau.on_train_begin()
    keras_plateau.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(TypeError, match="not settable"):
        keras_plateau.on_epoch_end(1, {"loss": 2.0})


def test_callable_learning_rate_is_refused():
    optimizer = keras.optimizers.SGD(lambda: 0.1)
    with pytest.raises(TypeError, match="float or a LearningRateSchedule"):
        ReduceLROnPlateau(optimizer=optimizer)


def test_step_needs_an_optimizer():
    with pytest.raises(RuntimeError, match="no optimizer"):
        ReduceLROnPlateau(patience=0).step(1.0)


def test_auto_mode_from_the_monitor_name():
    optimizer = keras.optimizers.SGD(0.1)
    plateau = ReduceLROnPlateau(monitor="val_accuracy", mode="auto", optimizer=optimizer)
    plateau.step(0.5)
    assert plateau.status.mode == "max"
    with pytest.raises(ValueError, match="mode='min'"):
        ReduceLROnPlateau(monitor="val_foo", mode="auto", optimizer=optimizer).step(0.5)


# ----------------------------------------------------------------------------- in fit


class Script(keras.callbacks.Callback):
    """Puts scripted values under ``logs["scripted"]`` (listed before the callback under test)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["scripted"] = self.values[epoch]


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def linear_loss(y_true, y_pred):
    """d loss / d w = mean(x) = 1 for x = 1: plain SGD moves w by -lr each step."""
    return ops.mean(y_pred)


def linear_model(learning_rate):
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(keras.optimizers.SGD(learning_rate), linear_loss)
    return model


def lr_by_step(kind, step):
    if kind == "float":
        return 0.1
    return 0.1 * 0.9 ** (step / 2)  # ExponentialDecay(0.1, decay_steps=2, decay_rate=0.9)


@pytest.mark.parametrize("kind", ["float", "schedule"])
def test_fit_trains_with_the_reduced_lr(kind):
    """The compiled train step uses each reduction (on JAX too, where it is recompiled)."""
    lr = 0.1 if kind == "float" else schedules.ExponentialDecay(0.1, 2, 0.9)
    model = linear_model(lr)
    values = [1.0, 2.0, 3.0, 0.5, 0.6, 0.7]
    params = {"factor": 0.5, "patience": 0, "threshold": 0.0, "threshold_mode": "rel",
              "cooldown": 0, "min_lr": 0.0, "mode": "min"}  # fmt: skip
    plateau = ReduceLROnPlateau(monitor="scripted", **params)
    x = np.ones((4, 1), "float32")
    history = model.fit(
        x, x, batch_size=2, epochs=6, shuffle=False, verbose=0, callbacks=[Script(values), plateau]
    )
    # Independent reference: the factor after each epoch from the rule, lr = factor * lr(step).
    factors = [r / 0.1 for r in reference_plateau(values, 0.1, **params)]
    w, used = 0.0, 1.0
    for epoch in range(6):
        for step in (2 * epoch, 2 * epoch + 1):
            w -= used * lr_by_step(kind, step)
        used = factors[epoch]
    np.testing.assert_allclose(float(model.layers[0].kernel[0, 0]), w, rtol=1e-5)
    assert [c.epoch for c in plateau.lr_changes] == [1, 2, 4, 5]
    assert history.history["reduce_lr_changed"] == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    old, new = (
        np.array(history.history["reduce_lr_old"]),
        np.array(history.history["reduce_lr_new"]),
    )
    np.testing.assert_allclose(new / old, [1.0, 0.5, 0.5, 1.0, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], old)
    if kind == "float":
        np.testing.assert_allclose(old[1:], new[:-1])


def test_refit_keeps_the_factor_and_resets_the_counters():
    model = linear_model(schedules.ExponentialDecay(0.1, 2, 0.9))
    x = np.ones((4, 1), "float32")
    model.fit(x, x, batch_size=2, epochs=1, verbose=0)  # compiles a step with the bare schedule
    plateau = ReduceLROnPlateau(monitor="scripted", factor=0.5, patience=0)
    model.fit(x, x, batch_size=2, epochs=3, verbose=0, callbacks=[Script([1.0, 2, 3]), plateau])
    wrapped = model.optimizer._learning_rate
    assert float(wrapped.scale) == pytest.approx(0.25)
    assert plateau.wait == 0 and plateau.best == 1.0
    # Steps 0-5 at the full rate, 6-7 after the first reduction: the step compiled before the
    # wrap was replaced.
    expected = -sum(lr_by_step("schedule", s) for s in range(6)) - 0.5 * sum(
        lr_by_step("schedule", s) for s in (6, 7)
    )
    np.testing.assert_allclose(float(model.layers[0].kernel[0, 0]), expected, rtol=1e-5)
    model.fit(x, x, batch_size=2, epochs=1, verbose=0, callbacks=[Script([5.0]), plateau])
    assert model.optimizer._learning_rate is wrapped  # not wrapped twice
    assert plateau.best == 5.0 and not plateau.reduced  # a fresh run: 5.0 is its first best
    expected -= 0.25 * (lr_by_step("schedule", 8) + lr_by_step("schedule", 9))
    np.testing.assert_allclose(float(model.layers[0].kernel[0, 0]), expected, rtol=1e-5)


@pytest.mark.parametrize("kind", ["float", "schedule"])
def test_saved_model_continues_with_the_reduced_lr(kind, tmp_path):
    lr = 0.1 if kind == "float" else schedules.ExponentialDecay(0.1, 2, 0.9)
    model = linear_model(lr)
    plateau = ReduceLROnPlateau(monitor="scripted", factor=0.5, patience=0)
    x = np.ones((4, 1), "float32")
    model.fit(x, x, batch_size=2, epochs=3, verbose=0, callbacks=[Script([1.0, 2, 3]), plateau])
    assert len(plateau.lr_changes) == 2
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects, and no warning
    lr_now = float(model.optimizer.learning_rate)
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate), lr_now, rtol=1e-7)
    if kind == "schedule":
        assert isinstance(loaded.optimizer._learning_rate, PlateauScaledSchedule)
        assert float(loaded.optimizer._learning_rate.scale) == 0.25
    # The loaded model trains on from step 6 with the reduced learning rate.
    w0 = float(loaded.layers[0].kernel[0, 0])
    loaded.fit(x, x, batch_size=2, epochs=1, verbose=0)
    expected = w0 - 0.25 * (lr_by_step(kind, 6) + lr_by_step(kind, 7))
    np.testing.assert_allclose(float(loaded.layers[0].kernel[0, 0]), expected, rtol=1e-5)


def test_missing_monitor_warns_and_still_logs():
    model = linear_model(0.1)
    plateau = ReduceLROnPlateau(monitor="val_loss")
    x = np.ones((4, 1), "float32")
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        history = model.fit(x, x, batch_size=4, epochs=2, verbose=0, callbacks=[plateau])
    assert history.history["reduce_lr_changed"] == [0.0, 0.0]
    assert math.isnan(history.history["reduce_lr_best"][0])


# ----------------------------------------------------------------------------- state, config


def test_get_state_set_state_resumes():
    optimizer = keras.optimizers.SGD(0.1)
    first = ReduceLROnPlateau(monitor="loss", optimizer=optimizer, patience=1, cooldown=2)
    for value in [1.0, 1.0, 1.0, 1.0]:
        first.step(value)
    import json

    state = json.loads(json.dumps(first.get_state(), allow_nan=False))
    second = ReduceLROnPlateau(monitor="loss", optimizer=optimizer, patience=1, cooldown=2)
    second.set_state(state)
    second.on_train_begin()  # keeps a restored state once
    assert second.get_state() == first.get_state()
    assert second.status.last_change == first.status.last_change
    second.on_train_begin()  # a later run starts afresh
    assert second.wait == 0 and second.best is None
    with pytest.raises(ValueError, match="monitors `loss`"):
        ReduceLROnPlateau(monitor="val_loss").set_state(state)


def test_config_round_trip():
    plateau = ReduceLROnPlateau(
        monitor="val_acc", factor=0.5, patience=3, threshold=0.01, threshold_mode="abs",
        cooldown=2, min_lr=1e-5, mode="max", eps=1e-9, log_status=False, on_schedule="pytorch",
    )  # fmt: skip
    config = plateau.get_config()
    assert ReduceLROnPlateau.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(plateau))
    assert isinstance(restored, ReduceLROnPlateau) and restored.get_config() == config


def test_scaled_schedule_config_round_trip():
    schedule = PlateauScaledSchedule(schedules.ExponentialDecay(0.1, 10, 0.5), scale=0.25)
    serialized = keras.saving.serialize_keras_object(schedule)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, PlateauScaledSchedule)
    assert restored.get_config() == schedule.get_config()
    for step in (0, 7, 25):
        np.testing.assert_allclose(float(restored(step)), 0.25 * 0.1 * 0.5 ** (step / 10), 1e-6)
    with pytest.raises(ValueError, match="must be a LearningRateSchedule"):
        PlateauScaledSchedule(0.1)


def test_scaled_schedule_keeps_a_pytorch_reset_in_its_config():
    """LambdaLR (PyTorch recomputes it each epoch): the rate set at step 4 lasts epoch 2 only."""
    kerasdl_schedules = pytest.importorskip("kerasdl.schedules")
    lambda_lr = kerasdl_schedules.LambdaLR(0.1, halving, steps_per_epoch=2)
    schedule = PlateauScaledSchedule(lambda_lr, since=4, rate=0.01)
    expected = [0.1, 0.1, 0.05, 0.05, 0.01, 0.01, 0.0125, 0.0125]
    np.testing.assert_allclose([float(schedule(k)) for k in range(8)], expected, rtol=1e-6)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == schedule.get_config()
    assert restored.get_config()["since"] == 4
    np.testing.assert_allclose([float(restored(k)) for k in range(8)], expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"Argument `since` must be an integer >= 0"):
        PlateauScaledSchedule(lambda_lr, since=-2)


def test_a_scaled_schedule_follows_resets_only_when_asked():
    """Without ``pytorch`` (on_schedule="scale", the default) the reset variables are not read:
    the value is the scaled schedule whatever they hold (and no reset op is traced); the
    callback in 'pytorch' mode turns it on for a wrapper made before it (the runner's)."""
    kerasdl_schedules = pytest.importorskip("kerasdl.schedules")
    lambda_lr = kerasdl_schedules.LambdaLR(0.1, halving, steps_per_epoch=2)
    scaled = PlateauScaledSchedule(lambda_lr, scale=0.5)
    assert scaled.pytorch is False and scaled.get_config()["pytorch"] is False
    scaled.since.assign(4)
    scaled.rate.assign(0.01)
    got = [float(scaled(k)) for k in range(8)]
    np.testing.assert_allclose(got, [0.5 * 0.1 * 0.5 ** (k // 2) for k in range(8)], rtol=1e-6)
    optimizer = keras.optimizers.SGD(scaled)
    ReduceLROnPlateau(optimizer=optimizer, on_schedule="pytorch").step(1.0)
    assert scaled.pytorch is True
    np.testing.assert_allclose(float(scaled(4)), 0.5 * 0.01, rtol=1e-6)
    with pytest.raises(ValueError, match="pytorch"):
        PlateauScaledSchedule(lambda_lr, pytorch="yes")


@keras.saving.register_keras_serializable(package="kerasdl_tests")
def halving(epoch):
    return ops.power(ops.convert_to_tensor(0.5, epoch.dtype), epoch)


def test_pytorch_mode_refuses_a_schedule_it_cannot_follow():
    optimizer = keras.optimizers.SGD(schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(ValueError, match=r"on_schedule='pytorch'.*ExponentialDecay.*'scale'"):
        ReduceLROnPlateau(optimizer=optimizer, on_schedule="pytorch")
    kerasdl_optimizers = pytest.importorskip("kerasdl.optimizers")
    grouped = kerasdl_optimizers.SGD(
        0.1, groups=[{"max_rank": 1, "learning_rate": schedules.ExponentialDecay(0.1, 10, 0.5)}]
    )
    with pytest.raises(ValueError, match="parameter group 0 is ExponentialDecay"):
        ReduceLROnPlateau(optimizer=grouped, on_schedule="pytorch")
    ReduceLROnPlateau(optimizer=grouped)  # "scale" scales any schedule
    # A kerasdl composite holding a Keras schedule: "pytorch" refuses it, "scale" scales it.
    kerasdl_schedules = pytest.importorskip("kerasdl.schedules")
    sequence = kerasdl_schedules.SequentialLR(
        [kerasdl_schedules.StepLR(0.1, 2), schedules.ExponentialDecay(0.1, 1, 0.5)], [2]
    )
    with pytest.raises(ValueError, match="SequentialLR"):
        ReduceLROnPlateau(optimizer=keras.optimizers.SGD(sequence), on_schedule="pytorch")
    optimizer = keras.optimizers.SGD(sequence)
    plateau = ReduceLROnPlateau(optimizer=optimizer, patience=0, factor=0.5)
    for step, value in enumerate([1.0, 2.0, 3.0], start=1):
        optimizer.iterations.assign(step)
        plateau.step(value)
    assert plateau.status.learning_rate == pytest.approx(0.25 * 0.1 * 0.5, rel=1e-6)


def test_pytorch_mode_on_a_multi_optimizer():
    """A MultiOptimizer of a Keras Adam on a kerasdl LambdaLR and a kerasdl SGD with groups
    (constant rates), reduced at the end of epochs 2 and 3 (2 steps an epoch): LambdaLR
    recomputes at each epoch, so the first reduction is gone by the second (PyTorch's), the
    constants keep both."""
    kerasdl_schedules = pytest.importorskip("kerasdl.schedules")
    kerasdl_optimizers = pytest.importorskip("kerasdl.optimizers")
    grouped = kerasdl_optimizers.SGD(0.1, groups=[{"max_rank": 1, "learning_rate": 0.2}])
    lambda_lr = kerasdl_schedules.LambdaLR(0.01, halving, steps_per_epoch=2)
    multi = keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(grouped, {".*out/.*": keras.optimizers.Adam(lambda_lr)})
    )
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="first"), keras.layers.Dense(1, name="out")]
    )
    model.compile(optimizer=multi, loss="mse")
    plateau = ReduceLROnPlateau(
        monitor="loss", mode="max", patience=0, factor=0.5, on_schedule="pytorch"
    )
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=3, batch_size=4, verbose=0,
              callbacks=[plateau])  # fmt: skip
    # At step 6 (epoch 3): LambdaLR's 0.01 * 0.5**3 halved once; the constants twice.
    np.testing.assert_allclose(plateau.status.learning_rates, [0.5 * 0.01 * 0.125, 0.05, 0.025],
                               rtol=1e-6)  # fmt: skip
    assert [c.group for c in plateau.lr_changes] == [0, 1, 2] * 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1.0}, "Argument `factor` must be in (0.0, 1.0). Received: factor=1.0"),
        ({"factor": 0.0}, "Argument `factor` must be in (0.0, 1.0). Received: factor=0.0"),
        ({"patience": -1}, "Argument `patience` must be an integer >= 0. Received: patience=-1"),
        ({"patience": 1.5}, "Argument `patience` must be an integer >= 0. Received: patience=1.5"),
        ({"cooldown": -2}, "Argument `cooldown` must be an integer >= 0. Received: cooldown=-2"),
        ({"threshold": -1e-4}, "Argument `threshold` must be >= 0. Received: threshold=-0.0001"),
        ({"min_lr": -1.0}, "Argument `min_lr` must be >= 0. Received: min_lr=-1.0"),
        ({"eps": -1.0}, "Argument `eps` must be >= 0. Received: eps=-1.0"),
        (
            {"mode": "up"},
            "Argument `mode` must be one of 'min', 'max', 'auto'. Received: mode='up'",
        ),
        (
            {"threshold_mode": "pct"},
            "Argument `threshold_mode` must be one of 'rel', 'abs'. Received: threshold_mode='pct'",
        ),
        (
            {"on_schedule": "torch"},
            "Argument `on_schedule` must be one of 'scale', 'pytorch'. "
            "Received: on_schedule='torch'",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReduceLROnPlateau(**kwargs)


# ----------------------------------------------------------------------------- the docs example


def test_docs_custom_loop_example_runs(capsys):
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(# Runnable example.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/callbacks.md should have one runnable example"
    namespace = {}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)
    plateau, model = namespace["plateau"], namespace["model"]
    assert len(plateau.lr_changes) == 2  # as the docs say
    assert plateau.status.scale == 0.25
    assert plateau.status.learning_rate == float(model.optimizer.learning_rate)
    assert "lr now 0.022" in capsys.readouterr().out
