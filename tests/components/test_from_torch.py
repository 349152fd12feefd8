"""`kerasdl.from_torch`: torch.optim optimizers and schedulers as kerasdl's.

Two kinds of test. The ones with the `torch` fixture need PyTorch (they skip without it; CI
does not install torch): a torch model trains 20 steps, is converted with its optimizer state,
and both continue 20 steps on the same batches; the parameters must agree. PyTorch itself is
the reference there (its optimizer produced the state and the trajectory). The others run
everywhere: they give the converter torch-like stand-ins (classes with torch's names, module,
`param_groups` and `state`) and check the mapping written out here, the layout rule and the
errors.
"""

import doctest
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasdl
import kerasdl.optimizers
import kerasdl.torch_port
from kerasdl.torch_port import Shifted, from_torch, keras_layout


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# --- torch-like stand-ins (no torch needed) -----------------------------------------------------


class _Tensor:
    """What the converter uses of a torch tensor: `.shape` and `.detach().cpu().numpy()`."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype="float64")
        self.shape = self.values.shape

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.values


def _fake_optimizer(name, params, state=None, groups=None, **options):
    cls = type(name, (), {"__module__": f"torch.optim.{name.lower()}"})
    optimizer = cls()
    optimizer.param_groups = groups or [{"params": list(params), **options}]
    optimizer.state = state or {}
    return optimizer


def _dense(units=2, inputs=3, name=None):
    layer = keras.layers.Dense(units, name=name, dtype="float64")
    layer.build((None, inputs))
    return layer


TORCH_DEFAULTS = {  # torch 2.13's defaults (optimizer.defaults), what a group carries
    "SGD": {"momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False},
    "Adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False},
    "RMSprop": {"momentum": 0, "alpha": 0.99, "eps": 1e-8, "centered": False, "weight_decay": 0},
    "Adadelta": {"rho": 0.9, "eps": 1e-6, "weight_decay": 0},
}


@pytest.mark.parametrize(
    "name, options, expected_class, expected",
    [
        (
            "SGD",
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": False, "maximize": True},
            "SGD",
            {"momentum": 0.9, "dampening": 0.1, "nesterov": False, "maximize": True},
        ),
        (
            "Adam",
            {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True, "fused": True},
            "Adam",
            {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "amsgrad": True},
        ),
        (
            "Adam",
            {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
            "AdamW",
            {"weight_decay": 0.1},
        ),
        (
            "AdamW",
            {"lr": 0.01, "weight_decay": 0.01, "decoupled_weight_decay": True, "foreach": None},
            "AdamW",
            {"weight_decay": 0.01},
        ),
        (
            "RMSprop",
            {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5, "capturable": False},
            "RMSprop",
            {"rho": 0.9, "centered": True, "momentum": 0.5},
        ),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "eps": 1e-9}, "Adagrad", {"lr_decay": 0.01}),
        ("Adadelta", {"lr": 1.0, "rho": 0.95, "eps": 1e-7}, "Adadelta", {"rho": 0.95}),
        ("Adamax", {"lr": 0.002, "betas": (0.9, 0.99)}, "Adamax", {"beta_2": 0.99}),
        (
            "NAdam",
            {"lr": 0.002, "momentum_decay": 0.01, "decoupled_weight_decay": True},
            "NAdam",
            {"momentum_decay": 0.01, "decoupled_weight_decay": True},
        ),
        ("RAdam", {"lr": 0.001, "decoupled_weight_decay": True}, "RAdam", {}),
    ],
)
def test_hyperparameters_map_to_the_kerasdl_optimizer(name, options, expected_class, expected):
    optimizer = _fake_optimizer(name, [_Tensor([1.0])], differentiable=False, **options)
    result = from_torch(optimizer)
    assert type(result.optimizer) is getattr(kerasdl.optimizers, expected_class)
    assert result.schedule is None
    config = result.optimizer.get_config()
    assert config["learning_rate"] == pytest.approx(options["lr"], rel=1e-7)  # a float32 var
    for key, value in expected.items():
        assert config[key] == pytest.approx(value, rel=1e-12), key
    assert int(result.optimizer.iterations) == 0


def test_an_option_kerasdl_cannot_reproduce_is_named():
    optimizer = _fake_optimizer("SGD", [_Tensor([1.0])], lr=0.1, sparse=True)
    with pytest.raises(ValueError, match=r"option `sparse` \(= True\) has no kerasdl equivalent"):
        from_torch(optimizer)


def test_an_object_that_is_not_a_mapped_torch_optimizer_is_refused():
    with pytest.raises(ValueError, match=r"torch.optim optimizer kerasdl maps .*Received"):
        from_torch(kerasdl.optimizers.SGD())
    one_cycle = _fake_optimizer("SGD", [_Tensor([1.0])], lr=0.1, max_lr=1.0, base_momentum=0.8)
    with pytest.raises(ValueError, match="`max_lr`, which a torch scheduler"):
        from_torch(one_cycle)
    with pytest.raises(ValueError, match="LBFGS"):
        from_torch(_fake_optimizer("LBFGS", [_Tensor([1.0])], lr=1.0))


def test_groups_that_agree_convert_as_one():
    a, b = _Tensor([1.0]), _Tensor([2.0])
    same = [
        {"params": [a], "lr": 0.1, "momentum": 0.9},
        {"params": [b], "lr": 0.1, "momentum": 0.9},
    ]
    converted = from_torch(_fake_optimizer("SGD", [], groups=same)).optimizer
    assert converted.momentum == 0.9 and converted.groups is None


def test_groups_that_differ_become_kerasdl_groups_of_their_variables():
    weight, bias = _Tensor(np.ones((2, 3))), _Tensor([0.0, 0.0])
    groups = [
        {"params": [weight], "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
        {"params": [bias], "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    ]
    optimizer = _fake_optimizer("SGD", [], groups=groups)
    with pytest.raises(ValueError, match="Keras variables are needed"):
        from_torch(optimizer)
    dense = _dense(2, 3, name="fc")
    converted = from_torch(optimizer, variables=dense.trainable_variables).optimizer
    # Group 0 is the optimizer's own arguments; group 1 sets what differs, on its variables.
    assert float(converted.learning_rate) == pytest.approx(0.1) and converted.weight_decay == 1e-4
    assert converted.groups == [{"paths": ["fc/bias"], "learning_rate": 0.01, "weight_decay": 0.0}]
    groups = [
        {"params": [weight], "lr": 0.1, "initial_accumulator_value": 0.0},
        {"params": [bias], "lr": 0.1, "initial_accumulator_value": 0.5},
    ]
    with pytest.raises(NotImplementedError, match=r"group 1 sets \['initial_accumulator_value'\]"):
        from_torch(
            _fake_optimizer("Adagrad", [], groups=groups),
            model=None,
            variables=[*dense.trainable_variables],
        )


def test_layout_rule_kernels_move_axes_everything_else_keeps_torch_layout():
    dense = _dense(3, 3)  # square: transposed by its name, not guessed from the shape
    weight = np.arange(9.0).reshape(3, 3)  # torch Linear(3, 3).weight, (out, in)
    np.testing.assert_array_equal(keras_layout(weight, dense.kernel), weight.T)
    np.testing.assert_array_equal(keras_layout(np.arange(3.0), dense.bias), np.arange(3.0))
    conv = keras.layers.Conv2D(4, (3, 2), dtype="float64")
    conv.build((None, 8, 8, 5))
    torch_weight = np.random.default_rng(0).normal(size=(4, 5, 3, 2))  # (out, in, kh, kw)
    moved = keras_layout(torch_weight, conv.kernel)
    assert moved.shape == (3, 2, 5, 4)
    # Keras's (kh, kw, in, out) entry is torch's (out, in, kh, kw) entry, written out:
    assert moved[2, 1, 3, 0] == torch_weight[0, 3, 2, 1]
    embedding = keras.layers.Embedding(7, 3)
    embedding.build((None,))
    table = np.ones((7, 3))  # torch Embedding(7, 3).weight has Keras's layout
    assert keras_layout(table, embedding.embeddings).shape == (7, 3)
    with pytest.raises(ValueError, match=r"shape \(3, 7\) .*does not fit.*\(7, 3\)"):
        keras_layout(table.T, embedding.embeddings)


def _adam_state(params, step):
    rng = np.random.default_rng(1)
    return {
        p: {
            "step": _Tensor(float(step)),
            "exp_avg": _Tensor(rng.normal(size=p.shape)),
            "exp_avg_sq": _Tensor(rng.uniform(size=p.shape)),
        }
        for p in params
    }


def test_state_moves_onto_the_slots_in_keras_layout_with_the_step_count():
    weight, bias = _Tensor(np.arange(6.0).reshape(2, 3)), _Tensor([0.5, -0.5])
    state = _adam_state([weight, bias], step=7)
    optimizer = _fake_optimizer("Adam", [weight, bias], state=state, lr=2**-6)
    dense = _dense(2, 3)
    result = from_torch(optimizer, variables=dense.trainable_variables, state=True, weights=True)
    keras_optimizer = result.optimizer
    assert int(keras_optimizer.iterations) == 7
    np.testing.assert_array_equal(dense.kernel.numpy(), weight.values.T)
    np.testing.assert_array_equal(dense.bias.numpy(), bias.values)
    index = keras_optimizer._get_variable_index(dense.kernel)
    np.testing.assert_array_equal(
        keras_optimizer._momentums[index].numpy(), state[weight]["exp_avg"].values.T
    )
    np.testing.assert_array_equal(
        keras_optimizer._velocities[index].numpy(), state[weight]["exp_avg_sq"].values.T
    )


def test_state_errors_name_the_problem():
    weight, bias = _Tensor(np.ones((2, 3))), _Tensor([0.0, 0.0])
    state = _adam_state([weight, bias], step=7)
    state[bias]["step"] = _Tensor(3.0)
    optimizer = _fake_optimizer("Adam", [weight, bias], state=state, lr=2**-6)
    with pytest.raises(ValueError, match=r"different steps \(\[3, 7\]\)"):
        from_torch(optimizer, variables=_dense().trainable_variables, state=True)
    state = _adam_state([weight, bias], step=7)
    state[weight]["max_exp_avg_sq"] = _Tensor(np.ones((2, 3)))  # amsgrad state, amsgrad off
    optimizer = _fake_optimizer("Adam", [weight, bias], state=state, lr=2**-6)
    with pytest.raises(ValueError, match="state `max_exp_avg_sq` has no slot"):
        from_torch(optimizer, variables=_dense().trainable_variables, state=True)
    with pytest.raises(ValueError, match="2 parameters and 1 Keras variables"):
        from_torch(optimizer, variables=[_dense().kernel], state=True)
    with pytest.raises(ValueError, match="at most one of `variables`, `model` and `mapping`"):
        from_torch(optimizer, variables=[], mapping={})


def test_mapping_by_parameter_or_by_name():
    weight, bias = _Tensor(np.arange(6.0).reshape(2, 3)), _Tensor([1.0, 2.0])
    dense = _dense(2, 3)
    optimizer = _fake_optimizer("SGD", [weight, bias], lr=0.1)
    from_torch(optimizer, mapping={bias: dense.bias, weight: dense.kernel}, weights=True)
    np.testing.assert_array_equal(dense.kernel.numpy(), weight.values.T)
    named = _fake_optimizer("SGD", [weight, bias], lr=0.1, param_names=["fc.weight", "fc.bias"])
    other = _dense(2, 3)
    from_torch(named, mapping={"fc.weight": other.kernel, "fc.bias": other.bias}, weights=True)
    np.testing.assert_array_equal(other.bias.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"no Keras variable for torch parameter 'fc\.bias'"):
        from_torch(named, mapping={"fc.weight": other.kernel}, weights=True)


def test_shifted_reads_the_schedule_later_and_serializes():
    inner = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    schedule = Shifted(inner, offset=3)
    np.testing.assert_allclose(
        [float(schedule(step)) for step in range(3)], [0.1 * 0.5 ** (s + 3) for s in range(3)]
    )
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(again, Shifted) and again.offset == 3
    assert float(again(1)) == pytest.approx(0.1 * 0.5**4, rel=1e-6)  # float32 schedule
    with pytest.raises(ValueError, match="must be a LearningRateSchedule"):
        Shifted(0.1, offset=1)


def test_module_docstring_examples():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"kerasdl": kerasdl, "keras": keras, "np": np}
    tests = [t for t in finder.find(kerasdl.torch_port, globs=globs) if t.examples]
    assert len(tests) >= 2
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_import_kerasdl_and_from_torch_never_import_torch():
    code = (
        "import sys, kerasdl; f = kerasdl.from_torch; kerasdl.register_all(); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(f.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "from_torch"
    cli = (
        "import sys; sys.argv = ['kerasdl', '--help']; from kerasdl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage" in done.stdout


# --- against PyTorch itself ---------------------------------------------------------------------

STEPS = 20  # torch alone, then both


def _models(torch):
    """A torch Conv2d-ReLU-mean-Linear model and the same Keras model (NHWC), float64."""
    torch.manual_seed(0)
    torch_model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(2),
        torch.nn.Linear(9, 1),  # a learned spatial pooling: a rank-2 weight of the model
        torch.nn.Flatten(1),
        torch.nn.Linear(3, 2),
    ).double()
    keras_model = keras.Sequential(
        [
            keras.Input((5, 5, 2), dtype="float64"),
            keras.layers.Conv2D(3, 3, dtype="float64"),
            keras.layers.ReLU(dtype="float64"),
            keras.layers.Reshape((9, 3), dtype="float64"),
            keras.layers.Permute((2, 1), dtype="float64"),
            keras.layers.Dense(1, dtype="float64"),
            keras.layers.Flatten(dtype="float64"),
            keras.layers.Dense(2, dtype="float64"),
        ]
    )
    return torch_model, keras_model


def _batches():
    rng = np.random.default_rng(42)
    return [(rng.normal(size=(4, 2, 5, 5)), rng.normal(size=(4, 2))) for _ in range(2 * STEPS)]


def _torch_steps(torch, model, optimizer, scheduler, batches, steps_per_epoch, first):
    for offset, (x, y) in enumerate(batches):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        if scheduler is not None and (first + offset + 1) % steps_per_epoch == 0:
            scheduler.step()


def _continue_both(
    torch, make, make_scheduler=None, steps_per_epoch=1, rtol=1e-9, atol=1e-12, **kwargs
):
    torch_model, keras_model = _models(torch)
    optimizer = make(torch_model.parameters())
    scheduler = None if make_scheduler is None else make_scheduler(optimizer)
    batches = _batches()
    _torch_steps(torch, torch_model, optimizer, scheduler, batches[:STEPS], steps_per_epoch, 0)
    converted = from_torch(
        optimizer,
        scheduler,
        model=keras_model,
        state=True,
        weights=True,
        steps_per_epoch=steps_per_epoch,
        **kwargs,
    )
    loss = keras.losses.MeanSquaredError(dtype="float64")  # Keras's losses default to float32
    keras_model.compile(optimizer=converted.optimizer, loss=loss, jit_compile=False)
    _torch_steps(torch, torch_model, optimizer, scheduler, batches[STEPS:], steps_per_epoch, STEPS)
    for x, y in batches[STEPS:]:
        keras_model.train_on_batch(np.transpose(x, (0, 2, 3, 1)), y)
    for param, variable in zip(
        torch_model.parameters(), keras_model.trainable_variables, strict=True
    ):
        expected = keras_layout(param.detach().numpy(), variable)
        # float64 on both sides; the two sides sum convolutions and matrix products in
        # different orders (~1e-16 relative each), which 20 steps of normalised updates
        # (Adam's m / sqrt(v)) amplify by orders of magnitude but not past 1e-9.
        np.testing.assert_allclose(variable.numpy(), expected, rtol=rtol, atol=atol)
    return converted


# Learning rates are powers of two: Keras keeps an optimizer's rate in a float32 variable, and a
# rate such as 0.01 rounded to float32 (2e-8 relative) would move the float64 trajectory by more
# than the tolerance above; every other hyperparameter is used in float64.
OPTIMIZERS = {
    "sgd_momentum_dampening": lambda t, p: t.optim.SGD(
        p, lr=2**-4, momentum=0.9, dampening=0.1, weight_decay=1e-3
    ),
    "sgd_nesterov": lambda t, p: t.optim.SGD(p, lr=2**-4, momentum=0.9, nesterov=True),
    "adam": lambda t, p: t.optim.Adam(p, lr=2**-6, weight_decay=1e-2),
    "adamw_amsgrad": lambda t, p: t.optim.AdamW(p, lr=2**-6, amsgrad=True, weight_decay=0.1),
    "rmsprop_centered_momentum": lambda t, p: t.optim.RMSprop(
        p, lr=2**-6, centered=True, momentum=0.5
    ),
    "adagrad_lr_decay": lambda t, p: t.optim.Adagrad(p, lr=2**-3, lr_decay=0.01),
    "adadelta": lambda t, p: t.optim.Adadelta(p, lr=1.0),
    "adamax": lambda t, p: t.optim.Adamax(p, lr=2**-6),
    "nadam": lambda t, p: t.optim.NAdam(p, lr=2**-6, weight_decay=0.01),
    "nadam_decoupled": lambda t, p: t.optim.NAdam(
        p, lr=2**-6, weight_decay=0.01, decoupled_weight_decay=True
    ),
    "radam": lambda t, p: t.optim.RAdam(p, lr=2**-6),  # rectified from step 6 on: both regimes
}


@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_training_continues_on_torchs_trajectory(torch, case):
    converted = _continue_both(torch, lambda p: OPTIMIZERS[case](torch, p))
    # torch's SGD keeps no step count: without `iterations=` the move starts at 1 (its momentum
    # buffer then continues rather than restarting at g).
    moved_at = 1 if case.startswith("sgd") else STEPS
    assert int(converted.optimizer.iterations) == moved_at + STEPS


def test_step_lr_moved_mid_epoch_continues_on_torchs_rates(torch):
    # 20 steps at 3 a scheduler epoch: the move is 2 steps into epoch 6. lr and gamma are
    # powers of two, so every rate is exact in float32 (the schedule's dtype) and the float64
    # tolerance holds.
    converted = _continue_both(
        torch,
        lambda p: torch.optim.Adam(p, lr=0.0625),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        steps_per_epoch=3,
    )
    assert isinstance(converted.schedule, kerasdl.schedules.StepLR)
    assert converted.schedule.steps_per_epoch == 3


def _two_groups(make):
    """`make` on torch param groups: the convolution's, and the rest at a quarter of the rate
    with no weight decay (timm's "no decay" group); lr and its quarter are powers of two."""

    def build(params):
        params = list(params)
        return make(
            [{"params": params[:2]}, {"params": params[2:], "lr": 2**-6, "weight_decay": 0}]
        )

    return build


@pytest.mark.parametrize(
    "case",
    ["sgd", "adamw", "rmsprop"],
)
def test_parameter_groups_and_step_lr_continue_on_torchs_trajectory(torch, case):
    make = {
        "sgd": lambda g: torch.optim.SGD(g, lr=2**-4, momentum=0.9, weight_decay=1e-2),
        "adamw": lambda g: torch.optim.AdamW(g, lr=2**-4, weight_decay=0.1, amsgrad=True),
        "rmsprop": lambda g: torch.optim.RMSprop(g, lr=2**-4, weight_decay=1e-2, centered=True),
    }[case]
    converted = _continue_both(
        torch,
        _two_groups(make),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        steps_per_epoch=3,
        iterations=STEPS if case == "sgd" else None,
    )
    groups = converted.optimizer.groups
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0
    assert len(groups[0]["paths"]) == 4  # the two Linear layers' weights and biases


@pytest.mark.parametrize("case", ["one_cycle_sgd", "one_cycle_adam_three_phase", "cyclic_adamw"])
def test_cycling_schedulers_and_their_momentum_continue_on_torchs_trajectory(torch, case):
    s = torch.optim.lr_scheduler
    optimizer, scheduler = {
        "one_cycle_sgd": (
            lambda g: torch.optim.SGD(g, lr=2**-4, momentum=0.9, nesterov=True),
            lambda o: s.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=45),
        ),
        "one_cycle_adam_three_phase": (
            lambda g: torch.optim.Adam(g, lr=2**-6),
            lambda o: s.OneCycleLR(
                o, max_lr=0.02, total_steps=45, three_phase=True, anneal_strategy="linear"
            ),
        ),
        "cyclic_adamw": (
            lambda g: torch.optim.AdamW(g, lr=2**-6, weight_decay=0.1),
            lambda o: s.CyclicLR(
                o,
                [0.001, 0.002],
                0.02,
                step_size_up=7,
                step_size_down=5,
                mode="exp_range",
                gamma=0.95,
            ),
        ),
    }[case]
    # The rates are not powers of two here: Keras's learning rate is float32, 6e-8 relative off
    # each step; over 20 steps that moves the parameters (which move by about 0.1 in all) by
    # up to about 6e-9, so 2e-8 absolute, 1e-6 relative.
    converted = _continue_both(
        torch,
        _two_groups(optimizer),
        scheduler,
        rtol=1e-6,
        atol=2e-8,
        iterations=STEPS if "sgd" in case else None,
    )
    momentum = "momentum" if "sgd" in case else "beta_1"
    assert isinstance(getattr(converted.optimizer, momentum), kerasdl.schedules.CycledMomentum)


def test_sgd_keeps_no_step_count_iterations_places_the_move(torch):
    converted = _continue_both(
        torch,
        lambda p: torch.optim.SGD(p, lr=0.0625, momentum=0.9),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5),
        steps_per_epoch=3,
        iterations=STEPS,
    )
    assert int(converted.optimizer.iterations) == 2 * STEPS


def test_without_state_the_schedule_continues_from_the_schedulers_position(torch):
    param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5, eta_min=0.01)
    optimizer.step()  # no gradients: nothing moves, but torch wants a step before the scheduler's
    for _ in range(7):  # seven epochs of 4 steps
        scheduler.step()
    converted = from_torch(optimizer, scheduler, steps_per_epoch=4)
    assert int(converted.optimizer.iterations) == 0
    assert isinstance(converted.schedule, Shifted) and converted.schedule.offset == 28
    expected = []
    for _ in range(6):
        expected += [optimizer.param_groups[0]["lr"]] * 4
        scheduler.step()
    got = [float(converted.schedule(step)) for step in range(24)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)  # the schedule is float32


SCHEDULERS = {
    "multistep": lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5),
    "constant": lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=6),
    "linear": lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=8),
    "polynomial": lambda s, o: s.PolynomialLR(o, total_iters=9, power=2.0),
    "warm_restarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    "lambda": lambda s, o: s.LambdaLR(o, lr_lambda=lambda epoch: 1.0 / (1 + epoch)),
    "sequential": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.5, total_iters=3), s.ExponentialLR(o, 0.8)], [4]
    ),
    "chained": lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.5, total_iters=3), s.ExponentialLR(o, gamma=0.9)]
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
@pytest.mark.parametrize("moved_at", [0, 6])
def test_schedulers_continue_with_torchs_rates_per_group(torch, case, moved_at):
    first, second = (torch.nn.Parameter(torch.zeros(2)) for _ in range(2))
    optimizer = torch.optim.SGD([{"params": [first]}, {"params": [second], "lr": 0.05}], lr=0.2)
    scheduler = SCHEDULERS[case](torch.optim.lr_scheduler, optimizer)
    for _ in range(moved_at):  # epochs of 2 steps
        optimizer.step()
        scheduler.step()
    keras_first, keras_second = keras.Variable([0.0, 0.0]), keras.Variable([0.0, 0.0])
    converted = from_torch(
        optimizer, scheduler, variables=[keras_first, keras_second], steps_per_epoch=2
    )
    keras_optimizer = converted.optimizer
    keras_optimizer.build([keras_first, keras_second])
    expected, got = [], []
    start = int(keras_optimizer.iterations)  # 0: no state moved
    for step in range(start, start + 24):
        expected.append([group["lr"] for group in optimizer.param_groups])
        keras_optimizer.iterations.assign(step)
        # kerasdl's default group is torch's group 0, kerasdl's group 0 torch's group 1.
        got.append([float(keras_optimizer.group_learning_rate(g)) for g in (None, 0)])
        if step % 2 == 1:
            optimizer.step()
            scheduler.step()
    # The rates are float32 (Keras's learning rate): 1e-6 relative.
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_a_rate_the_scheduler_did_not_set_is_refused(torch):
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.param_groups[0]["lr"] = 0.3
    with pytest.raises(ValueError, match=r"lr is 0\.3 \(group 0\), but StepLR gives 0\.1"):
        from_torch(optimizer, scheduler)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(NotImplementedError, match=r"kerasdl\.callbacks\.ReduceLROnPlateau"):
        from_torch(optimizer, plateau)
    multiplied = torch.optim.lr_scheduler.MultiplicativeLR(optimizer, lambda epoch: 0.9)
    with pytest.raises(NotImplementedError, match=r"MultiplicativeLR: build kerasdl\.schedules"):
        from_torch(optimizer, multiplied)


def test_a_model_from_named_parameters_maps_by_name(torch):
    torch_model, keras_model = _models(torch)
    optimizer = torch.optim.SGD(torch_model.named_parameters(), lr=0.1)
    names = [name for name, _ in torch_model.named_parameters()]
    mapping = dict(zip(reversed(names), reversed(keras_model.trainable_variables), strict=True))
    from_torch(optimizer, mapping=mapping, weights=True)
    np.testing.assert_array_equal(
        keras_model.layers[-1].kernel.numpy(), torch_model[-1].weight.detach().numpy().T
    )
