"""kerasdl.loop.fit against Keras's own ``model.fit`` on the same model, data order and callbacks.

The reference is ``model.fit`` itself: two copies of one model (same seeds, so the same initial
weights, dropout stream and batch-norm statistics), one trained by ``fit`` over
`kerasdl.data.EpochDataset`, one by `kerasdl.loop.fit` over the arrays with
`kerasdl.data.epoch_order`. The callbacks must see the same calls with the same logs, and the
weights must end the same. The comparisons run on TensorFlow and on JAX (``KERAS_BACKEND=jax``:
`kerasdl.loop_jax`, CI's JAX step runs this file); the thread and unrolling tests are
TensorFlow's.
"""

import importlib.util
import json
import os
import subprocess
import sys

import goldens
import keras
import numpy as np
import pytest

from kerasdl import data, loop, runner
from kerasdl.config import ConfigError, TrainConfig, parse_assignments
from kerasdl.events import read_events
from kerasdl.models import build_model
from kerasdl.run import loops

ON_JAX = keras.backend.backend() == "jax"


def _precision():
    """float64 on JAX, the default float32 on TensorFlow, for the comparisons with ``fit``.

    On TensorFlow both sides run the very same ops, so float32 agrees to rounding. On JAX,
    XLA compiles kerasdl's loop body (a ``fori_loop`` of train steps) and ``fit``'s one jitted
    step separately and may fuse and reduce in another order: float32 rounding then differs at
    1e-7, and AdamW turns that into a full step on the weights whose gradient is zero in exact
    arithmetic (the bias in front of batch norm, its moving mean: 2% apart after 18 steps). In
    float64 that rounding is far below Adam's eps, and the two agree as the same math must.
    """
    import contextlib

    return goldens.floatx("float64") if ON_JAX else contextlib.nullcontext()


EPOCHS = 2
SPE = 4


class Recorder(keras.callbacks.Callback):
    """Every hook call: (hook, index, sorted log keys, logs)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(self, hook, index, logs):
        logs = dict(logs or {})
        self.calls.append((hook, index, sorted(logs), logs))

    def on_train_begin(self, logs=None):
        self._record("train_begin", None, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._record("epoch_begin", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._record("batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._record("batch_end", batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._record("epoch_end", epoch, logs)

    def on_train_end(self, logs=None):
        self._record("train_end", None, logs)


def _config(**dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": EPOCHS,
        "steps_per_execution": SPE,
        "schedule.name": "step",
        "schedule.step_size": 1,
        "schedule.warmup_epochs": 1,
    }
    settings.update(dotted)
    return TrainConfig().override(settings).validate()


def _compiled_model(config, dataset, steps):
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, dataset)
    model.compile(
        optimizer=runner.build_optimizer(config, runner.build_learning_rate(config, steps)),
        loss=runner.build_loss(config),
        metrics=runner.build_metrics(dataset.task),
        steps_per_execution=SPE,
        jit_compile=ON_JAX,  # kerasdl's loop jits on JAX; on TensorFlow it runs without XLA
    )
    return model


@pytest.fixture(scope="module")
def trained():
    with _precision():
        return _trained()


def _trained():
    config = _config()
    dataset = data.load_dataset(config)
    n = len(dataset.y_train)
    steps = -(-n // config.batch_size)
    validation = data.make_tf_dataset(dataset.x_val, dataset.y_val, 1000, shuffle=False)

    by_fit, fit_recorder = _compiled_model(config, dataset, steps), Recorder()
    train = data.EpochDataset(dataset.x_train, dataset.y_train, config.batch_size, seed=config.seed)
    fit_history = by_fit.fit(
        train.dataset,
        epochs=EPOCHS,
        validation_data=validation,
        callbacks=[train.callback(), fit_recorder],
        shuffle=False,
        verbose=0,
    )

    by_loop, loop_recorder = _compiled_model(config, dataset, steps), Recorder()
    loop_history = loop.fit(
        by_loop,
        dataset.x_train,
        dataset.y_train,
        batch_size=config.batch_size,
        order=lambda epoch: data.epoch_order(n, config.seed, epoch),
        epochs=EPOCHS,
        validation_data=(dataset.x_val, dataset.y_val),  # as the runner gives it
        validation_batch_size=256,  # 60 examples: one short batch
        callbacks=[loop_recorder],
        steps_per_execution=SPE,
        unroll=3,  # calls of 4 steps: one unrolled iteration of 3 and one single step
    )
    return {
        "dataset": dataset,
        "validation": validation,
        "steps": steps,
        "fit": (by_fit, fit_recorder, fit_history),
        "loop": (by_loop, loop_recorder, loop_history),
    }


def test_same_callback_calls_as_fit(trained):
    steps = trained["steps"]

    def clamped(hook, index):
        # fit numbers the end of a short last execution as if it were full (8 -> 11 here);
        # kerasdl's loop gives the step that really ended it.
        return min(index, steps - 1) if hook == "batch_end" else index

    fit_calls = [(h, clamped(h, i), keys) for h, i, keys, _ in trained["fit"][1].calls]
    loop_calls = [(hook, index, keys) for hook, index, keys, _ in trained["loop"][1].calls]
    assert loop_calls == fit_calls
    # Batch hooks once per execution of SPE steps, the last one shorter: 9 steps -> 3, 7, 8.
    ends = [index for hook, index, _ in loop_calls if hook == "batch_end"]
    expected = [min(first + SPE, steps) - 1 for first in range(0, steps, SPE)]
    assert ends == expected * EPOCHS


def test_same_logs_and_weights_as_fit(trained):
    fit_model, fit_recorder, fit_history = trained["fit"]
    loop_model, loop_recorder, loop_history = trained["loop"]
    for (_, _, _, fit_logs), (_, _, _, loop_logs) in zip(
        fit_recorder.calls, loop_recorder.calls, strict=True
    ):
        for key, value in fit_logs.items():
            np.testing.assert_allclose(loop_logs[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert set(loop_history.history) == set(fit_history.history) >= {"loss", "val_loss"}
    for key, values in fit_history.history.items():
        np.testing.assert_allclose(loop_history.history[key], values, rtol=1e-5, atol=1e-6)
    for fit_w, loop_w in zip(fit_model.weights, loop_model.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loop_w), keras.ops.convert_to_numpy(fit_w), atol=1e-5
        )
    assert int(loop_model.optimizer.iterations) == int(fit_model.optimizer.iterations)
    assert int(loop_model.optimizer.iterations) == EPOCHS * trained["steps"]


def test_validation_from_arrays_equals_model_evaluate(trained):
    model = trained["loop"][0]
    dataset = trained["dataset"]
    by_keras = model.evaluate(trained["validation"], verbose=0, return_dict=True)
    assert len(dataset.y_val) // 3 > loop._EVALUATION_UNROLL  # batch size 3: the loop
    # several batches and a short one; one exact; one short; more batches than are unrolled
    for batch_size in (7, 60, 1000, 3):
        evaluate = loop._validation(model, (dataset.x_val, dataset.y_val), batch_size)
        by_loop = evaluate()
        assert set(by_loop) == set(by_keras)
        for name, value in by_keras.items():
            assert by_loop[name] == pytest.approx(value, rel=1e-5), (batch_size, name)


def test_uint8_codes_decoded_in_the_step_train_exactly_as_float_inputs(trained):
    """MNIST's training inputs held as uint8 codes (``x_levels``, as the runner holds them) give
    the same weights as the float32 arrays, bit for bit (same machine, same op order: the
    lookup returns the very floats the arrays hold)."""
    config = _config()
    coded = data.load_dataset(config, decoded=False)
    dataset = trained["dataset"]
    assert coded.x_train is None and coded.x_train_codes.dtype == np.uint8
    np.testing.assert_array_equal(coded.train_inputs(), dataset.x_train)
    assert coded.input_shape == dataset.input_shape
    x, levels = coded.compact_train_inputs()
    assert x is coded.x_train_codes and levels is coded.x_levels
    regression = data.load_dataset(_config(**{"data.name": "regression", "loss.name": "mse"}))
    x, levels = regression.compact_train_inputs()
    assert x is regression.x_train and levels is None
    with _precision():
        model = _compiled_model(config, dataset, trained["steps"])
        n = len(coded.y_train)
        loop.fit(
            model,
            coded.x_train_codes,
            coded.y_train,
            batch_size=config.batch_size,
            order=lambda epoch: data.epoch_order(n, config.seed, epoch),
            epochs=EPOCHS,
            validation_data=(coded.x_val, coded.y_val),
            validation_batch_size=256,
            steps_per_execution=SPE,
            unroll=3,
            x_levels=coded.x_levels,
        )
    by_loop = trained["loop"][0]
    for ours, reference in zip(model.get_weights(), by_loop.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, reference)


def test_x_levels_needs_uint8_codes_and_256_levels(trained):
    dataset = trained["dataset"]
    model = _compiled_model(_config(), dataset, trained["steps"])
    kwargs = {"batch_size": 32, "order": lambda epoch: np.arange(len(dataset.y_train))}
    with pytest.raises(ValueError, match="x_levels needs uint8 inputs and 256"):
        loop.fit(
            model, dataset.x_train, dataset.y_train, epochs=1, x_levels=dataset.x_levels, **kwargs
        )
    with pytest.raises(ValueError, match=r"got uint8 inputs and \(255,\) levels"):
        loop.fit(
            model,
            dataset.x_train_codes,
            dataset.y_train,
            epochs=1,
            x_levels=dataset.x_levels[:255],
            **kwargs,
        )


def test_stop_training_in_a_batch_hook_ends_the_epoch_and_the_run():
    config = _config(epochs=3)
    dataset = data.load_dataset(config)
    n = len(dataset.y_train)
    model = _compiled_model(config, dataset, -(-n // config.batch_size))

    class StopAfterFirstExecution(Recorder):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            self.model.stop_training = True

    recorder = StopAfterFirstExecution()
    loop.fit(
        model,
        dataset.x_train,
        dataset.y_train,
        batch_size=config.batch_size,
        order=lambda epoch: data.epoch_order(n, config.seed, epoch),
        epochs=3,
        callbacks=[recorder],
        steps_per_execution=SPE,
    )
    hooks = [(hook, index) for hook, index, _, _ in recorder.calls]
    assert hooks == [
        ("train_begin", None),
        ("epoch_begin", 0),
        ("batch_begin", 0),
        ("batch_end", SPE - 1),
        ("epoch_end", 0),
        ("train_end", None),
    ]
    assert int(model.optimizer.iterations) == SPE


def _linear_problem(learning_rate):
    """A linear model on fixed data, SGD: each step's change of the weights is lr x gradient."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], "float32") + 0.1).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", jit_compile=ON_JAX)
    return model, x, y


def _fit_linear(model, x, y, callbacks, epochs=4):
    loop.fit(
        model, x, y, batch_size=8, order=lambda epoch: np.arange(len(x)), epochs=epochs,
        callbacks=callbacks, steps_per_execution=2,
    )  # fmt: skip
    return model.get_weights()


def test_a_plateau_reduction_of_a_schedule_reaches_the_compiled_steps():
    """kerasdl's ReduceLROnPlateau wraps the schedule and, on JAX, asks for a new train function
    at each change (the factor is a constant of the traced step there): the loop traces again,
    so the steps after a reduction use the reduced rate, as ``model.fit``'s do."""
    from kerasdl.callbacks import ReduceLROnPlateau
    from kerasdl.schedules import StepLR

    results = {}
    for name, plateau in (("plain", None), ("reduced", 1), ("fit", 1)):
        with _precision():
            model, x, y = _linear_problem(StepLR(0.05, step_size=100))
            callbacks = []
            if plateau:  # a metric that never improves: after the first epoch, one reduction each
                callbacks = [ReduceLROnPlateau(monitor="never", patience=0, factor=0.5)]
                callbacks.insert(0, _ConstantLog("never"))
            if name == "fit":
                model.fit(x, y, batch_size=8, epochs=4, shuffle=False, callbacks=callbacks,
                          verbose=0)  # fmt: skip
                results[name] = model.get_weights()
            else:
                results[name] = _fit_linear(model, x, y, callbacks)
            if plateau:
                assert [c.new for c in callbacks[1].lr_changes] == pytest.approx(
                    [0.025, 0.0125, 0.00625], rel=1e-6
                )
    for ours, by_fit in zip(results["reduced"], results["fit"], strict=True):
        np.testing.assert_allclose(ours, by_fit, rtol=1e-9, atol=1e-12)
    pairs = zip(results["reduced"], results["plain"], strict=True)
    difference = max(np.abs(a - b).max() for a, b in pairs)
    assert difference > 1e-3  # the reductions changed the trajectory


class _ConstantLog(keras.callbacks.Callback):
    """Logs ``name = 1.0`` at each epoch's end (a metric that never improves)."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = 1.0


def test_an_interrupt_in_a_hook_leaves_the_model_as_trained_so_far(tmp_path):
    """A KeyboardInterrupt from a batch hook (Ctrl-C lands there or in a compiled call) leaves
    every variable readable and as the steps before it made it: the run can save its state."""

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    model, x, y = _linear_problem(0.05)
    with pytest.raises(KeyboardInterrupt):
        _fit_linear(model, x, y, [Interrupt()])
    assert int(model.optimizer.iterations) == 2
    model.save(tmp_path / "interrupted.keras")
    loaded = keras.saving.load_model(tmp_path / "interrupted.keras")
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    reference, _, _ = _linear_problem(0.05)
    initial = reference.get_weights()
    _fit_linear(reference, x, y, [Stop()])  # the same first call of two steps, then a stop
    for ours, expected, before in zip(
        model.get_weights(), reference.get_weights(), initial, strict=True
    ):
        np.testing.assert_array_equal(ours, expected)
        assert not np.array_equal(ours, before)


def test_empty_or_mismatched_arrays_are_refused():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="same, non-zero length"):
        loop.fit(model, np.zeros((3, 2)), np.zeros(2), batch_size=2, order=range, epochs=1)


def test_runner_picks_the_loop_and_records_it(tmp_path):
    config = _config(runs_dir=str(tmp_path), epochs=1, **{"schedule.warmup_epochs": 0})
    summary = runner.train(config)
    started = next(e for e in read_events(summary.run_dir / "events.jsonl"))
    assert started["type"] == "run_started" and started["loop"] == "kerasdl"

    by_fit = runner.train(config.override({"loop": "fit"}))
    started = next(e for e in read_events(by_fit.run_dir / "events.jsonl"))
    assert started["loop"] == "fit"
    assert by_fit.test["accuracy"] == pytest.approx(summary.test["accuracy"], abs=2e-3)
    assert by_fit.test["loss"] == pytest.approx(summary.test["loss"], rel=1e-3)


@pytest.mark.skipif(not ON_JAX, reason="the JAX backend's choice")
def test_auto_takes_kerasdls_loop_on_jax_when_jitted():
    config = _config()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    assert loops.loop_name(config, None, model) == "kerasdl"
    assert loops.loop_unroll(10**6, "jax") == 1
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)  # eager: Keras's fit
    assert loops.loop_name(config, None, model) == "fit"


@pytest.mark.skipif(not ON_JAX, reason="JAX's compilation cache")
def test_jax_programs_are_kept_in_kerasdls_cache_unless_turned_off(tmp_path, monkeypatch):
    import jax
    from jax._src import compilation_cache  # test only: JAX decides once a process

    from kerasdl.run import setup

    keys = ("jax_compilation_cache_dir", "jax_compilation_cache_max_size")
    saved = {k: jax.config.values[k] for k in keys}
    monkeypatch.setenv("KERASDL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    compilation_cache.reset_cache()  # as a fresh CLI process, where nothing compiled yet
    try:
        monkeypatch.setenv("KERASDL_JAX_CACHE", "0")
        assert setup.use_jax_compilation_cache() is None
        monkeypatch.delenv("KERASDL_JAX_CACHE")
        folder = setup.use_jax_compilation_cache()
        assert folder == str(tmp_path / setup.JAX_CACHE_FOLDER)
        assert jax.config.values["jax_compilation_cache_dir"] == folder
        model, x, y = _linear_problem(0.05)
        _fit_linear(model, x, y, [], epochs=1)  # compiles the loop's program
        assert any((tmp_path / setup.JAX_CACHE_FOLDER).iterdir())
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "users"))
        assert setup.use_jax_compilation_cache() == str(tmp_path / "users")  # the user's own
        # Without filelock JAX cannot evict (and warns at every read if bounded): no bound.
        jax.config.update("jax_compilation_cache_max_size", -1)
        real_find_spec = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "filelock" else real_find_spec(name, *a),
        )
        setup.use_jax_compilation_cache()
        assert jax.config.values["jax_compilation_cache_max_size"] == -1
        monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
        setup.use_jax_compilation_cache()
        assert jax.config.values["jax_compilation_cache_max_size"] == setup.JAX_CACHE_MAX_BYTES
    finally:
        for key, value in saved.items():
            jax.config.update(key, value)
        compilation_cache.reset_cache()


_NO_TENSORFLOW = """
import json, sys
from kerasdl import runner
from kerasdl.config import TrainConfig
config = TrainConfig().override({"data.name": "mnist-mini", "data.limit": 300, "epochs": 2,
                                 "runs_dir": sys.argv[1]})
summary = runner.train(config)
loaded = "tensorflow" in sys.modules
from keras.src.utils import module_utils
before = module_utils.tensorflow.available
import tensorflow
print(json.dumps([loaded, before, module_utils.tensorflow.available, summary.status]))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="needs the jax extra"
)  # fmt: skip
def test_a_run_on_jax_never_imports_tensorflow(tmp_path):
    """A whole run on JAX (data order, seeding, training, checkpoints, test) leaves TensorFlow
    unloaded (2.6 s and 460 MB saved); Keras counts it as present once something loads it."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _NO_TENSORFLOW, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )  # fmt: skip
    loaded, before, after, status = json.loads(done.stdout.strip().splitlines()[-1])
    assert (loaded, before, after, status) == (False, False, True, "completed")


@pytest.mark.tf_only
def test_auto_takes_fit_with_xla_and_under_a_strategy():
    config = _config()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    assert loops.loop_name(config, None, model) == "fit"
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    assert loops.loop_name(config, None, model) == "kerasdl"
    assert loops.loop_name(config, object(), model) == "fit"
    mirrored = config.override({"strategy": "mirrored"})
    assert loops.loop_name(mirrored, object(), model) == "fit"


def test_config_refuses_kerasdl_loop_under_a_strategy_and_unknown_names():
    with pytest.raises(ConfigError, match="loop") as info:
        TrainConfig().override({"loop": "kerasdl", "strategy": "mirrored"}).validate()
    assert "one device" in str(info.value)
    with pytest.raises(ConfigError, match="loop") as info:
        TrainConfig().override({"loop": "custom"}).validate()
    assert "'auto'" in str(info.value) and "'fit'" in str(info.value)


def test_last_checkpoint_copies_best_when_the_epoch_improved(tmp_path, monkeypatch):
    # Two epochs that both improve val_loss, then a run whose epochs 2 and 3 cannot improve:
    # last.keras is a copy of best.keras in an improving epoch (the model is saved once, by the
    # best checkpoint) and a save of its own in the others.
    from kerasdl import load_model
    from kerasdl.run import resume

    saved_by_last = []
    save = resume.save_model_for_last  # the runner's last-checkpoint saver

    def counting_save(model):
        write = save(model)

        def counted(path):
            saved_by_last.append("last.keras")
            write(path)

        return counted

    monkeypatch.setattr(resume, "save_model_for_last", counting_save)
    config = _config(runs_dir=str(tmp_path), **{"schedule.warmup_epochs": 0})
    summary = runner.train(config)
    ended = [e for e in read_events(summary.run_dir / "events.jsonl") if e["type"] == "epoch_ended"]
    assert [e["checkpoint_saved"] for e in ended] == [True, True]
    assert saved_by_last == []
    last, best = summary.run_dir / "last.keras", summary.run_dir / "best.keras"
    assert last.read_bytes() == best.read_bytes()

    config = config.override({"run_name": "stale", "epochs": 3})
    summary = runner.train(config, callbacks=[_WorsenAfter(1)])
    ended = [e for e in read_events(summary.run_dir / "events.jsonl") if e["type"] == "epoch_ended"]
    assert [e["checkpoint_saved"] for e in ended] == [True, False, False]
    assert saved_by_last == ["last.keras", "last.keras"]
    last = load_model(summary.run_dir / "last.keras")
    best = load_model(summary.run_dir / "best.keras")
    assert int(last.optimizer.iterations) == 3 * int(best.optimizer.iterations)


class _WorsenAfter(keras.callbacks.Callback):
    """Make ``val_loss`` worse than every earlier epoch's after epoch ``first`` (0-based)."""

    def __init__(self, first):
        super().__init__()
        self.first = first

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.first:
            logs["val_loss"] = 1e9 + epoch


def _python_output(code: str) -> str:
    """What ``code`` prints when run in a fresh interpreter (TensorFlow not started yet)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.tf_only
def test_thread_settings_apply_in_a_new_process(tmp_path):
    code = (
        "from kerasdl.config import TrainConfig\n"
        "from kerasdl import runner\n"
        "import tensorflow as tf\n"
        f"c = TrainConfig().override({{'data.name': 'mnist-mini', 'data.limit': 200, 'epochs': 1,"
        f" 'runs_dir': {str(tmp_path)!r}, 'intra_op_threads': 1, 'inter_op_threads': 3}})\n"
        "notices = []\n"
        "runner.train(c, sinks=[lambda e: e['type'] == 'notice' and notices.append(e)])\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads(), len(notices))\n"
    )
    assert _python_output(code).split()[-3:] == ["1", "3", "0"]


@pytest.mark.tf_only
@pytest.mark.parametrize(
    ("settings", "cores", "gpus", "expected"),
    [
        ({}, 2, 0, 1),  # the preset on a small CPU: 64 x 784 x 256 = 12.8M multiply-adds
        ({}, 4, 0, 1),
        ({}, 8, 0, 0),  # more cores than measured: TensorFlow's choice
        ({}, 2, 1, 0),  # a GPU does the products
        ({"batch_size": 256}, 2, 0, 0),  # 51M multiply-adds a step
        ({"model.hidden": [1024, 512]}, 2, 0, 0),
        ({"data.name": "regression", "loss.name": "mse", "model.hidden": [4096, 4096]}, 2, 0, 0),
        ({"data.name": "regression", "loss.name": "mse", "model.hidden": [512, 512]}, 2, 0, 1),
        ({"strategy": "mirrored"}, 2, 0, 0),
        ({"intra_op_threads": 3}, 2, 0, 3),
        ({"intra_op_threads": 0}, 2, 0, 0),
    ],
)
def test_auto_intra_op_threads(settings, cores, gpus, expected):
    config = TrainConfig().override(settings).validate()
    assert runner.intra_op_threads(config, cores=cores, gpus=gpus) == expected


@pytest.mark.tf_only
def test_largest_layer_macs_is_batch_times_the_largest_product():
    config = TrainConfig()
    assert runner.largest_layer_macs(config) == 64 * 784 * 256
    regression = TrainConfig().override(
        {"data.name": "regression", "loss.name": "mse", "model.hidden": [8, 300]}
    )
    features = regression.data.regression_features
    assert runner.largest_layer_macs(regression) == 64 * max(features * 8, 8 * 300, 300)


@pytest.mark.tf_only
def test_auto_threads_apply_in_a_new_process_and_are_recorded(tmp_path):
    code = (
        "import json, pathlib\n"
        "from kerasdl.config import TrainConfig\n"
        "from kerasdl import runner\n"
        f"c = TrainConfig().override({{'data.name': 'mnist-mini', 'data.limit': 200, 'epochs': 1,"
        f" 'runs_dir': {str(tmp_path)!r}}})\n"
        "summary = runner.train(c)\n"
        "first = pathlib.Path(summary.run_dir, 'events.jsonl').read_text().splitlines()[0]\n"
        "print(json.dumps([json.loads(first)['threads'], runner.intra_op_threads(c)]))\n"
    )
    recorded, decided = json.loads(_python_output(code).splitlines()[-1])
    assert recorded["intra_op"] == decided
    if (os.cpu_count() or 1) <= runner.AUTO_ONE_THREAD_MAX_CORES:
        assert decided == 1  # the preset is small


@pytest.mark.tf_only
def test_thread_settings_too_late_give_a_notice(tmp_path):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow has started in this process
    current = tf.config.threading.get_intra_op_parallelism_threads()
    config = _config(
        runs_dir=str(tmp_path),
        epochs=1,
        intra_op_threads=current + 1,
        **{"schedule.warmup_epochs": 0, "data.limit": 200},
    )
    notices = []
    runner.train(config, sinks=[lambda e: e["type"] == "notice" and notices.append(e)])
    assert [n["level"] for n in notices] == ["warning"]
    assert f"intra_op_threads={current + 1} not applied" in notices[0]["message"]
    assert tf.config.threading.get_intra_op_parallelism_threads() == current
    with pytest.raises(ConfigError, match="intra_op_threads"):
        _config(intra_op_threads=-1)
    with pytest.raises(ConfigError, match="intra_op_threads: got 'x'; allowed: 'auto' or an"):
        TrainConfig().override(parse_assignments(["intra_op_threads=x"]))
    parsed = TrainConfig().override(parse_assignments(["intra_op_threads=AUTO"]))
    assert parsed.intra_op_threads == "auto"
    assert TrainConfig().override(parse_assignments(["intra_op_threads=2"])).intra_op_threads == 2


@pytest.mark.tf_only
def test_runner_unrolls_only_runs_long_enough_to_pay_for_the_tracing():
    preset = TrainConfig()
    assert runner.loop_unroll(844 * preset.epochs) == runner.LOOP_UNROLL > 1  # full MNIST
    assert runner.loop_unroll(85 * preset.epochs) == 1  # mnist-mini, the quick start
