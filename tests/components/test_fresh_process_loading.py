"""A model saved with kerasdl components, loaded in a fresh process that has not imported them.

Keras resolves ``registered_name`` (``"kerasdl>L2"``) only once the family's module is imported
(``import kerasdl`` alone imports none). Otherwise it falls back on ``class_name``, among its own
built-ins first: before kerasdl._registration a kerasdl ``L2`` or ``Zeros`` loaded silently as
Keras's class of that name, ``HeNormal`` failed with ``HeNormal.__init__() got an unexpected
keyword argument 'mode'``, ``keras.optimizers.get`` of a kerasdl ``SGD`` config failed with Keras's
``SGD``'s ``Argument(s) not recognized``, and an optimizer or schedule in a saved model with a bare
``Could not locate class 'StepLR'``. Now each either loads as the kerasdl class (the family
imported, or ``kerasdl.load_model``) or fails with a message that says ``import kerasdl.<family>``.

The optimizers keep the default name they had (``adam``, ``rm_sprop``: Keras names an optimizer
after its class's ``__name__``, which is now the hint) and with it their variable paths, so
checkpoints and the engine's run directories written before load: committed files saved by that
code (tests/reference/make_saved_before_issue18.py) load with the same weights and state and
resume where they stopped.
"""

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import _registration, initializers, layers, losses, optimizers, regularizers, schedules
from kerasdl.callbacks.reduce_lr_on_plateau import PlateauScaledSchedule
from kerasdl.torch_port import Shifted

FIXTURES = Path(__file__).parent / "fixtures" / "saved_before_issue18"
REFERENCE = Path(__file__).parents[1] / "reference"


def _dense(**kwargs):
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, **kwargs)])


MODELS = {  # name -> (what is kerasdl's, builder of a compiled model)
    "L1": lambda: _dense(kernel_regularizer=regularizers.L1(0.1)),
    "L2": lambda: _dense(kernel_regularizer=regularizers.L2(0.1)),
    "L1L2": lambda: _dense(kernel_regularizer=regularizers.L1L2(0.1, 0.2)),
    "Zeros": lambda: _dense(kernel_initializer=initializers.Zeros()),
    "HeNormal": lambda: _dense(kernel_initializer=initializers.HeNormal(seed=1)),
    "MeanSquaredError": lambda: _dense(),
    "SmoothL1": lambda: _dense(),
    "Adam": lambda: _dense(),
    "SGD": lambda: _dense(),
    "StepLR": lambda: _dense(),
    "ExponentialLR": lambda: _dense(),
    "PlateauScaledSchedule": lambda: _dense(),
    "Shifted": lambda: _dense(),
    "Dropout": lambda: keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2), layers.Dropout(0.5, seed=1)]
    ),
}
COMPILE = {
    "MeanSquaredError": {"loss": lambda: losses.MeanSquaredError()},
    "SmoothL1": {"loss": lambda: losses.SmoothL1(beta=0.5)},
    "Adam": {"optimizer": lambda: optimizers.Adam(0.01)},
    "SGD": {"optimizer": lambda: optimizers.SGD(0.1, momentum=0.9)},
    # In Keras's own SGD, whose from_config deserializes the schedule.
    "StepLR": {
        "optimizer": lambda: keras.optimizers.SGD(schedules.StepLR(0.1, step_size=10, gamma=0.5))
    },
    "ExponentialLR": {
        "optimizer": lambda: keras.optimizers.Adam(schedules.ExponentialLR(0.1, gamma=0.9))
    },
    # ReduceLROnPlateau's wrapper (kerasdl.callbacks) around a Keras schedule, and from_torch's.
    "PlateauScaledSchedule": {
        "optimizer": lambda: keras.optimizers.SGD(
            PlateauScaledSchedule(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 0.5)
        )
    },
    "Shifted": {
        "optimizer": lambda: keras.optimizers.SGD(
            Shifted(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), offset=3)
        )
    },
}

LOAD = textwrap.dedent(
    """
    import json, sys
    import keras

    {imports}
    results = {{}}
    for name, path in json.loads(sys.argv[1]).items():
        try:
            model = keras.saving.load_model(path)
        except Exception as error:  # what Keras raises is the point
            results[name] = ["failed", f"{{type(error).__name__}}: {{error}}"]
            continue
        layer = model.layers[0]
        found = [layer.kernel_regularizer, layer.kernel_initializer, model.loss, model.optimizer,
                 getattr(model.optimizer, "_learning_rate", None), model.layers[-1]]
        results[name] = ["loaded", [f"{{type(x).__module__}}.{{type(x).__qualname__}}"
                                    for x in found]]
    print("RESULTS", json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh")
    paths = {}
    for name, build in MODELS.items():
        model = build()
        options = {key: make() for key, make in COMPILE.get(name, {}).items()}
        model.compile(**{"optimizer": "sgd", "loss": "mse", **options})
        paths[name] = str(folder / f"{name}.keras")
        model.save(paths[name])
    return paths


def _load_fresh(paths, imports=""):
    script = LOAD.format(imports=imports)
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line.removeprefix("RESULTS "))


@pytest.fixture(scope="module")
def fresh_results(saved):
    return _load_fresh(saved)


@pytest.mark.parametrize("name", list(MODELS))
def test_without_kerasdl_loading_fails_and_says_import_kerasdl(fresh_results, name):
    outcome, detail = fresh_results[name]
    assert outcome == "failed", f"{name} loaded as {detail} without kerasdl"
    assert "import kerasdl." in detail


def test_with_the_family_imported_every_model_loads_kerasdl_s_classes(saved):
    results = _load_fresh(saved, imports="import kerasdl\nkerasdl.register_all()")
    expected = {
        "L1": "kerasdl.regularizers.L1",
        "L2": "kerasdl.regularizers.L2",
        "L1L2": "kerasdl.regularizers.L1L2",
        "Zeros": "kerasdl.initializers.Zeros",
        "HeNormal": "kerasdl.initializers.HeNormal",
        "MeanSquaredError": "kerasdl.losses.regression.MeanSquaredError",
        "SmoothL1": "kerasdl.losses.regression.SmoothL1",
        "Adam": "kerasdl.optimizers.adam.Adam",
        "SGD": "kerasdl.optimizers.sgd.SGD",
        "StepLR": "kerasdl.schedules._chapter.StepLR",
        "ExponentialLR": "kerasdl.schedules._chapter.ExponentialLR",
        "PlateauScaledSchedule": "kerasdl.callbacks.reduce_lr_on_plateau.PlateauScaledSchedule",
        "Shifted": "kerasdl.torch_port.Shifted",
        "Dropout": "kerasdl.layers.Dropout",
    }
    assert set(expected) == set(MODELS)
    for name, want in expected.items():
        outcome, found = results[name]
        assert outcome == "loaded", (name, found)
        assert want in found, (name, found)


def test_kerasdl_load_model_loads_every_model_in_a_fresh_process(saved):
    script = textwrap.dedent(
        """
        import json, sys
        import kerasdl

        found = {}
        for name, path in json.loads(sys.argv[1]).items():
            model = kerasdl.load_model(path)
            learning_rate = getattr(model.optimizer, "_learning_rate", None)
            found[name] = [type(x).__module__ for x in (model.optimizer, learning_rate)]
        print("RESULTS", json.dumps(found))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(saved)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    found = json.loads(line.removeprefix("RESULTS "))
    assert set(found) == set(saved)
    for name in ("Adam", "SGD"):
        assert found[name][0].startswith("kerasdl.optimizers."), found[name]
    for name in ("StepLR", "ExponentialLR", "PlateauScaledSchedule", "Shifted"):
        assert found[name][1].startswith("kerasdl."), found[name]


def test_keras_optimizers_get_without_kerasdl_says_import_kerasdl_not_keras_s_sgd():
    """``keras.optimizers.get`` looks ``class_name`` up among Keras's optimizers (lower-cased):
    before, a kerasdl ``SGD`` config reached Keras's ``SGD``, which refused kerasdl's arguments."""
    configs = {
        name: keras.optimizers.serialize(getattr(optimizers, name)(0.01))
        for name in ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "RMSprop")
    }
    script = textwrap.dedent(
        """
        import json, sys
        import keras

        found = {}
        for name, config in json.loads(sys.argv[1]).items():
            try:
                found[name] = "loaded " + type(keras.optimizers.get(config)).__module__
            except Exception as error:
                found[name] = f"{type(error).__name__}: {error}"
        print("RESULTS", json.dumps(found))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(configs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    for name, detail in json.loads(line.removeprefix("RESULTS ")).items():
        assert f"kerasdl.{name} (import kerasdl.optimizers before loading)" in detail, detail
        assert "not recognized" not in detail, detail


@pytest.mark.parametrize(
    "identifier, getter, cls",
    [
        ({"l2": 0.25}, keras.regularizers.get, regularizers.L2),
        ({}, keras.initializers.get, initializers.Zeros),
        (
            {"name": "mean_squared_error", "reduction": "sum"},
            keras.losses.get,
            losses.MeanSquaredError,
        ),
        ({"learning_rate": 0.5, "momentum": 0.9}, keras.optimizers.get, optimizers.SGD),
        ({"learning_rate": 0.01, "amsgrad": True}, keras.optimizers.get, optimizers.Adam),
        (
            {"initial_learning_rate": 0.1, "step_size": 2},
            keras.optimizers.schedules.deserialize,
            schedules.StepLR,
        ),
        (
            {"initial_learning_rate": 0.1, "gamma": 0.9},
            keras.saving.deserialize_keras_object,
            schedules.ExponentialLR,
        ),
    ],
)
def test_configs_saved_by_earlier_kerasdl_still_load(identifier, getter, cls):
    """Before, ``class_name`` was the bare class name; ``registered_name`` is unchanged."""
    name = cls.__qualname__
    old = {
        "module": cls.__module__,
        "class_name": name,
        "config": identifier,
        "registered_name": f"kerasdl>{name}",
    }
    restored = getter(old)
    assert type(restored) is cls
    assert keras.saving.serialize_keras_object(restored)["registered_name"] == f"kerasdl>{name}"


def test_the_saved_class_name_cannot_be_a_keras_built_in():
    made = {
        regularizers.L2: regularizers.L2(),
        initializers.Zeros: initializers.Zeros(),
        initializers.HeNormal: initializers.HeNormal(),
        losses.Huber: losses.Huber(),
        optimizers.SGD: optimizers.SGD(),
        optimizers.AdamW: optimizers.AdamW(),
        schedules.StepLR: schedules.StepLR(0.1, step_size=1),
        PlateauScaledSchedule: PlateauScaledSchedule(schedules.StepLR(0.1, step_size=1)),
        Shifted: Shifted(schedules.StepLR(0.1, step_size=1), offset=1),
    }
    for cls, instance in made.items():
        serialized = keras.saving.serialize_keras_object(instance)
        family = cls.__module__.split(".")[1]
        assert serialized["class_name"] == (
            f"kerasdl.{cls.__qualname__} (import kerasdl.{family} before loading)"
        )
        assert serialized["registered_name"] == f"kerasdl>{cls.__qualname__}"
        assert repr(cls) == f"<class '{cls.__module__}.{cls.__qualname__}'>"
        assert repr(instance).startswith(f"<{cls.__module__}.{cls.__qualname__} object")
        assert _registration.plain_name(instance) == _registration.plain_name(cls)
        assert _registration.plain_name(cls) == cls.__qualname__


def _registered_kerasdl_classes():
    kerasdl.register_all()
    return {
        name: cls
        for name, cls in keras.saving.get_custom_objects().items()
        if name.startswith("kerasdl>") and isinstance(cls, type)
    }


def test_every_registered_kerasdl_class_that_a_keras_file_can_hold_is_saved_under_a_hint():
    """Regularizers, initializers, losses, optimizers, schedules and layers (Keras deserializes
    them from a saved model); the callbacks kerasdl registers are never in a .keras file."""
    families = (
        keras.layers.Layer,
        keras.regularizers.Regularizer,
        keras.initializers.Initializer,
        keras.losses.Loss,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
    )
    registered = _registered_kerasdl_classes()
    saved = {name: cls for name, cls in registered.items() if issubclass(cls, families)}
    assert {"kerasdl>Adam", "kerasdl>StepLR", "kerasdl>Shifted"} <= set(saved)
    assert len(saved) >= 11 + 17 + 2
    for name, cls in saved.items():
        family = cls.__module__.split(".")[1]
        assert cls.__name__ == _registration.hint(cls.__qualname__, family), name
        assert name == f"kerasdl>{cls.__qualname__}"
    for name, cls in registered.items():
        if name not in saved:
            assert issubclass(cls, keras.callbacks.Callback), name


def _fresh_optimizer_names():
    script = (
        f"import json, sys; sys.path.insert(0, {str(REFERENCE)!r}); "
        "import make_saved_before_issue18 as m; print('RESULTS', json.dumps(m.optimizer_names()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line.removeprefix("RESULTS "))


def test_every_optimizer_keeps_its_default_name_and_variable_paths():
    """Recorded by the code before the change, in a fresh process; now the same, in one."""
    before = json.loads((FIXTURES / "facts.json").read_text())["optimizer_names"]
    now = _fresh_optimizer_names()
    assert set(now) == set(before) == {cls.__qualname__ for cls in _all_optimizers()}
    for name in before:
        assert now[name] == before[name], name


def _all_optimizers():
    return [
        cls
        for cls in _registered_kerasdl_classes().values()
        if issubclass(cls, keras.optimizers.Optimizer)
    ]


def test_a_user_subclass_of_a_kerasdl_optimizer_keeps_its_own_name():
    def local():
        class MyAdam(optimizers.Adam):
            pass

        return MyAdam

    for cls in (local(), type("TunedSGD", (optimizers.SGD,), {})):
        instance = cls()
        assert cls.__name__ in ("MyAdam", "TunedSGD")
        assert _registration.plain_name(instance) == cls.__name__
        assert instance.name.startswith(
            {"MyAdam": "my_adam", "TunedSGD": "tuned_sgd"}[cls.__name__]
        )
        assert keras.saving.serialize_keras_object(instance)["class_name"] == cls.__name__


def test_keras_s_stateless_apply_errors_name_the_class_not_the_hint():
    variable = keras.Variable(np.ones((2,), "float32"))
    optimizer = optimizers.Adam(0.1)
    with pytest.raises(ValueError, match=r"To call `stateless_apply`, Adam must be built") as error:
        optimizer.stateless_apply([], [np.ones((2,), "float32")], [variable])
    assert "import kerasdl" not in str(error.value)
    optimizer.build([variable])
    with pytest.raises(ValueError, match=r"1:1 to Adam\(\)\.variables") as error:
        optimizer.stateless_apply([], [np.ones((2,), "float32")], [variable])
    assert "import kerasdl" not in str(error.value)


def _loaded_with_warnings(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = kerasdl.load_model(FIXTURES / f"{name}.keras")
    return model, [str(w.message) for w in caught]


def _assert_equal_values(got, want, what):
    assert len(got) == len(want), what
    for index, (value, expected) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(np.asarray(value, "float64"), expected, f"{what}[{index}]")


@pytest.mark.parametrize("name", ["adam_steplr", "multi_optimizer"])
def test_a_file_saved_before_the_change_loads_its_weights_and_optimizer_state(name):
    facts = json.loads((FIXTURES / "facts.json").read_text())[name]
    model, caught = _loaded_with_warnings(name)
    optimizer = model.optimizer
    inner = getattr(optimizer, "optimizers", [optimizer])
    assert all(type(o).__module__.startswith("kerasdl.optimizers.") for o in inner)
    assert [o.name for o in inner] == facts["optimizer"]["names"]
    assert [v.path for v in optimizer.variables] == facts["optimizer"]["loaded_paths"]
    _assert_equal_values(optimizer.variables, facts["optimizer"]["values"], "optimizer variables")
    _assert_equal_values(model.weights, facts["weights"], "weights")
    rates = [float(np.asarray(o.learning_rate)) for o in inner]
    np.testing.assert_allclose(rates, facts["optimizer"]["learning_rates"], rtol=1e-6)
    if name == "adam_steplr":
        assert type(optimizer._learning_rate) is schedules.StepLR
        assert type(model.layers[0].kernel_regularizer) is regularizers.L2
        assert type(model.loss) is losses.MeanSquaredError
        assert caught == []
    else:
        # Keras's MultiOptimizer saves each inner optimizer again under its class's snake-cased
        # __name__ ("adam" then, the hint's now): those copies are skipped with a warning, and
        # the state comes from the MultiOptimizer's own (it holds every inner variable).
        assert type(inner[1]._learning_rate) is PlateauScaledSchedule
        assert all("Skipping variable loading for optimizer" in text for text in caught)


@pytest.mark.parametrize("name", ["adam_steplr", "multi_optimizer"])
def test_a_file_saved_before_the_change_resumes_where_it_stopped(name):
    facts = json.loads((FIXTURES / "facts.json").read_text())
    model, _ = _loaded_with_warnings(name)
    x, y = np.asarray(facts["x"], "float32")[:4], np.asarray(facts["y"], "float32")[:4]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    want = facts[name]["weights_after_one_more_step"]
    # The step is computed here and by the earlier code elsewhere: round-off may differ.
    for got, expected in zip(model.weights, want, strict=True):
        np.testing.assert_allclose(np.asarray(got, "float64"), expected, rtol=1e-5, atol=1e-7)
    assert int(model.optimizer.iterations) == 3


def test_grouped_state_saved_before_the_plateau_resets_loads_whole_and_resumes():
    """AdamW with two parameter groups saved by 72d751d, before each group had its two
    ``group_reset`` variables: the state loads whole (Keras alone would skip all of it for the
    count, with a warning), the resets start empty, and one more step is the old code's."""
    facts = json.loads((FIXTURES / "facts.json").read_text())
    saved = facts["adam_groups"]
    model, caught = _loaded_with_warnings("adam_groups")
    optimizer = model.optimizer
    assert not [text for text in caught if "Skipping variable loading" in text]
    resets = [v for pair in optimizer._group_resets for v in pair]
    assert len(resets) == 6  # two groups and the default one
    others = [v for v in optimizer.variables if all(v is not r for r in resets)]
    assert [v.path for v in others] == saved["optimizer"]["loaded_paths"]
    _assert_equal_values(others, saved["optimizer"]["values"], "optimizer variables")
    _assert_equal_values(model.weights, saved["weights"], "weights")
    for group in (0, 1, None):
        since, rate = optimizer.group_reset(group)
        assert (int(np.asarray(since)), float(np.asarray(rate))) == (-1, 0.0)
    x, y = np.asarray(facts["x"], "float32")[:4], np.asarray(facts["y"], "float32")[:4]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, expected in zip(model.weights, saved["weights_after_one_more_step"], strict=True):
        np.testing.assert_allclose(np.asarray(got, "float64"), expected, rtol=1e-5, atol=1e-7)


def test_a_saved_state_that_fits_neither_layout_is_left_to_keras():
    """A store with another count (not today's, not the one before the resets) keeps Keras's
    behaviour: a warning and no variable assigned."""
    model, _ = _loaded_with_warnings("adam_groups")
    optimizer = model.optimizer
    before = [np.asarray(v).copy() for v in optimizer.variables]
    store = {str(i): np.zeros(np.shape(v)) for i, v in enumerate(optimizer.variables[:-1])}
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        optimizer.load_own_variables(store)
    for value, old in zip(optimizer.variables, before, strict=True):
        np.testing.assert_array_equal(np.asarray(value), old)
