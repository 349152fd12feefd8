"""``[schedule]``'s momentum cycling (issue 18): ``cycle_momentum``, ``base_momentum`` and
``max_momentum`` of ``cyclic`` and ``onecycle`` reach `kerasdl.schedules.CyclicLR` /
`OneCycleLR`, and the runner gives the optimizer's ``momentum`` or ``beta_1`` the schedule's
``momentum_schedule()``, as PyTorch's schedulers set ``param_groups[i]["momentum"]`` /
``betas[0]``.

References: PyTorch's rules (an optimizer without momentum or betas raises with
``cycle_momentum``; the defaults 0.8/0.9 and 0.85/0.95) and the momentum formulas written out in
NumPy below; one real two-epoch mnist-mini run through ``kerasdl train``.
"""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl import config as cfg
from kerasdl.cli import app
from kerasdl.config import ConfigError, TrainConfig

runner = CliRunner()


def _config(**overrides):
    return TrainConfig().override(overrides).validate()


def np_onecycle_momentum(steps, total_steps, pct_start=0.3, low=0.85, high=0.95):
    """PyTorch's OneCycleLR momentum, two phases, cosine: high -> low -> high."""
    first, last = pct_start * total_steps - 1, total_steps - 1
    out = []
    for k in steps:
        if k <= first:
            start, end, pct = high, low, k / first
        else:
            start, end, pct = low, high, (k - first) / (last - first)
        out.append(end + (start - end) * (1 + math.cos(math.pi * pct)) / 2)
    return np.array(out)


def np_cyclic_momentum(steps, up, down, low=0.8, high=0.9):
    """PyTorch's CyclicLR momentum, triangular: high at the lowest rate, low at the peak."""
    total = up + down
    out = []
    for k in steps:
        x = k % total
        s = x / up if x <= up else (total - x) / down
        out.append(high - (high - low) * s)
    return np.array(out)


def _values(schedule, steps):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(schedule(np.asarray(steps))), "float64")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("optimizer", "key"),
    [
        ("sgd", "momentum"),
        ("momentum", "momentum"),
        ("nesterov", "momentum"),
        ("rmsprop", "momentum"),
        ("adam", "beta_1"),
        ("adamw", "beta_1"),
        ("adamax", "beta_1"),
        ("nadam", "beta_1"),
        ("radam", "beta_1"),
        ("adagrad", None),
        ("adadelta", None),
    ],
)
def test_momentum_spec_is_what_pytorch_cycles(optimizer, key):
    """PyTorch's use_beta1: betas if the optimizer has them, else momentum."""
    assert set(cfg.OPTIMIZER_PARAMS) == {
        "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "adamax", "nadam", "radam",
        "adagrad", "adadelta",
    }  # fmt: skip
    for schedule in cfg.CYCLING_SCHEDULES:
        c = _config(**{"schedule.name": schedule, "optimizer.name": optimizer,
                       "schedule.cycle_momentum": key is not None})  # fmt: skip
        assert cfg.momentum_spec(c) == key
        off = _config(**{"schedule.name": schedule, "optimizer.name": optimizer,
                         "schedule.cycle_momentum": False})  # fmt: skip
        assert cfg.momentum_spec(off) is None
    assert cfg.momentum_spec(_config(**{"optimizer.name": optimizer})) is None  # step


@pytest.mark.parametrize(
    ("overrides", "field", "got", "allowed"),
    [
        (
            {"schedule.name": "cyclic", "optimizer.name": "adagrad"},
            "schedule.cycle_momentum",
            True,
            "false with optimizer 'adagrad': it has no momentum or beta_1 to cycle (PyTorch's "
            "CyclicLR raises too); the optimizers with one: sgd, momentum, nesterov, rmsprop, "
            "adam, adamw, adamax, nadam, radam",
        ),
        (
            {"schedule.name": "onecycle", "optimizer.name": "adadelta"},
            "schedule.cycle_momentum",
            True,
            "false with optimizer 'adadelta': it has no momentum or beta_1 to cycle (PyTorch's "
            "OneCycleLR raises too)",
        ),
        (
            {"schedule.name": "onecycle", "optimizer.name": "sgd", "optimizer.momentum": 0.9},
            "optimizer.momentum",
            0.9,
            "unset (none) while schedule.cycle_momentum is true: 'onecycle' sets it at every "
            "step (schedule.base_momentum, schedule.max_momentum), as PyTorch's",
        ),
        (
            {"schedule.name": "cyclic", "optimizer.beta_1": 0.8},
            "optimizer.beta_1",
            0.8,
            "unset (none) while schedule.cycle_momentum is true: 'cyclic' sets it",
        ),
        (
            {"schedule.base_momentum": 0.5},
            "schedule.base_momentum",
            0.5,
            "unset (none): schedule 'step' (only 'cyclic' and 'onecycle' cycle it)",
        ),
        (
            {
                "schedule.name": "onecycle",
                "schedule.cycle_momentum": False,
                "schedule.max_momentum": 0.9,
            },
            "schedule.max_momentum",
            0.9,
            "unset (none): cycle_momentum is false",
        ),
        (
            {"schedule.name": "onecycle", "schedule.max_momentum": 1.0},
            "schedule.max_momentum",
            1.0,
            "none or a number in [0.0, 1.0)",
        ),
        (
            {
                "schedule.name": "onecycle",
                "optimizer.name": "sgd",
                "optimizer.nesterov": True,
                "optimizer.dampening": 0.1,
            },
            "optimizer.nesterov",
            True,
            "false unless optimizer.momentum > 0 (or the schedule cycles it) and "
            "optimizer.dampening is 0 or none",
        ),
    ],
)
def test_invalid_momentum_cycling_names_field_value_and_allowed(overrides, field, got, allowed):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override(overrides).validate()
    assert info.value.field == field
    assert info.value.got == got
    assert str(info.value).startswith(f"{field}: got {got!r}; allowed: {allowed}")


def test_a_group_may_not_set_the_cycled_momentum():
    config = TrainConfig().override({"schedule.name": "onecycle", "optimizer.name": "sgd"})
    config.optimizer.groups = [
        {"max_rank": 1, "learning_rate": 0.1},
        {"pattern": "x", "momentum": 0.5},
    ]
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "optimizer.groups[1].momentum"
    assert "'onecycle' sets it at every step" in str(info.value)
    del config.optimizer.groups[1]["momentum"]
    config.validate()  # a group's learning rate is fine
    # Nesterov with a cycled momentum: the scheduled momentum is PyTorch's, > 0.
    _config(**{"schedule.name": "onecycle", "optimizer.name": "sgd", "optimizer.nesterov": True})


def test_cycle_momentum_false_lets_adagrad_cycle_its_rate():
    c = _config(**{"schedule.name": "onecycle", "optimizer.name": "adagrad",
                   "schedule.cycle_momentum": False})  # fmt: skip
    assert cfg.schedule_spec(c, 5)["kwargs"]["cycle_momentum"] is False


# ----------------------------------------------------------------------------- what is built


def test_the_schedule_gets_pytorchs_defaults_or_the_bounds_given():
    from kerasdl.run.builders import build_learning_rate

    cyclic = build_learning_rate(_config(**{"schedule.name": "cyclic"}), 5)
    onecycle = build_learning_rate(_config(**{"schedule.name": "onecycle"}), 5)
    assert (cyclic.base_momentum, cyclic.max_momentum, cyclic.cycle_momentum) == (0.8, 0.9, True)
    assert (onecycle.base_momentum, onecycle.max_momentum) == (0.85, 0.95)
    given = build_learning_rate(
        _config(**{"schedule.name": "cyclic", "schedule.base_momentum": 0.5,
                   "schedule.max_momentum": 0.7}), 5)  # fmt: skip
    assert (given.base_momentum, given.max_momentum) == (0.5, 0.7)


def test_build_momentum_is_the_schedules_momentum_at_every_step():
    from kerasdl.run.builders import build_momentum, build_optimizer

    config = _config(**{"schedule.name": "onecycle", "optimizer.name": "sgd", "epochs": 4,
                        "schedule.base_momentum": 0.6, "schedule.max_momentum": 0.9})  # fmt: skip
    built = build_momentum(config, steps_per_epoch=5)
    assert list(built) == ["momentum"]
    steps = np.arange(20)
    want = np_onecycle_momentum(steps, 20, low=0.6, high=0.9)
    np.testing.assert_allclose(_values(built["momentum"], steps), want, rtol=1e-6)
    optimizer = build_optimizer(config, 0.1, built)
    assert optimizer.momentum is built["momentum"]

    cyclic = _config(**{"schedule.name": "cyclic", "schedule.step_size_up": 3,
                        "schedule.step_size_down": 2})  # fmt: skip
    ((key, momentum),) = build_momentum(cyclic, steps_per_epoch=5).items()
    assert key == "beta_1"
    steps = np.arange(12)
    np.testing.assert_allclose(_values(momentum, steps), np_cyclic_momentum(steps, 3, 2), rtol=1e-6)
    assert build_optimizer(cyclic, 0.1, {key: momentum}).beta_1 is momentum
    off = _config(**{"schedule.name": "cyclic", "schedule.cycle_momentum": False})
    assert build_momentum(off, 5) == {} and build_momentum(_config(), 5) == {}


def test_during_a_warmup_the_momentum_holds_max_momentum_then_cycles():
    from kerasdl.run.builders import build_momentum

    config = _config(**{"schedule.name": "onecycle", "epochs": 5, "schedule.warmup_epochs": 1})
    (momentum,) = build_momentum(config, steps_per_epoch=4).values()
    steps = np.arange(20)
    got = _values(momentum, steps)
    np.testing.assert_array_equal(got[:4], np.float32(0.95))  # the warmup's 4 steps
    np.testing.assert_allclose(got[4:], np_onecycle_momentum(steps[:16], 16), rtol=1e-6)


# ----------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real 2-epoch mnist-mini onecycle runs with AdamW, cycling beta_1 or not."""
    runs_dir = tmp_path_factory.mktemp("runs")
    for name, cycle in (("cycled", "true"), ("plain", "false")):
        args = [
            "train", "--dataset", "mnist-mini", "--limit", "256", "--epochs", "2",
            "--batch-size", "64", "--schedule", "onecycle", "--runs-dir", str(runs_dir),
            "--run-name", name, "--ui", "none", "--seed", "1",
            "--set", "schedule.max_lr=0.01", "--set", f"schedule.cycle_momentum={cycle}",
        ]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return runs_dir


def test_a_kerasdl_train_run_cycles_adams_beta_1(runs):
    import keras

    import kerasdl.schedules
    from kerasdl.events import read_events

    model = keras.saving.load_model(runs / "cycled" / "last.keras")
    optimizer = model.optimizer
    assert isinstance(optimizer.beta_1, kerasdl.schedules.CycledMomentum)
    steps_run = int(optimizer.iterations.numpy())
    epochs = [
        e for e in read_events(runs / "cycled" / "events.jsonl") if e["type"] == "epoch_ended"
    ]
    assert len(epochs) == 2 and steps_run % 2 == 0 and steps_run >= 4
    total = steps_run  # onecycle spans the run: epochs x steps per epoch
    assert optimizer.beta_1.schedule.total_steps == total
    steps = np.arange(total)
    np.testing.assert_allclose(
        _values(optimizer.beta_1, steps), np_onecycle_momentum(steps, total), rtol=1e-6
    )
    plain = keras.saving.load_model(runs / "plain" / "last.keras").optimizer
    assert plain.beta_1 == 0.9
    # The cycle changes the trajectory: the two runs differ (same seed, same data).
    losses = [
        [
            e["metrics"]["loss"]
            for e in read_events(runs / n / "events.jsonl")
            if e["type"] == "epoch_ended"
        ]
        for n in ("cycled", "plain")
    ]
    assert losses[0][0] != losses[1][0]
