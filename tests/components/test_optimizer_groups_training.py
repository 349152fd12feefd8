"""Parameter groups inside Keras's training loop: save/load, XLA, MirroredStrategy.

Every kerasdl optimizer with two groups on the tiny MLP of test_optimizer_features_training.py
(``hidden`` 6 -> 8, ``out`` 8 -> 1; paths ``sequential/out/kernel``, or ``out/kernel``
after ``load_model``, hence the pattern ``(^|/)out/``): the ``out``
layer at half the learning rate and no decay, the biases (rank 1) with one hyperparameter
of the optimizer's own changed, the ``hidden`` kernel in the default group. The learning
rate is a schedule (Keras's `ExponentialDecay`, which kerasdl rebases by
``lr / initial_learning_rate``), so every group depends on the step count.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from test_optimizer_features_training import INITIAL_WEIGHTS, X, Y, tiny_model

import kerasdl.optimizers

LR = {"SGD": 0.1, "Momentum": 0.1, "Nesterov": 0.1, "Adagrad": 0.1, "RMSprop": 0.01}
LR.update({"Adam": 0.01, "AdamW": 0.01, "Adadelta": 1.0, "Adamax": 0.01, "NAdam": 0.01})
LR["RAdam"] = 0.01
OWN = {  # one hyperparameter of the optimizer's own, set in the bias group
    "SGD": {"momentum": 0.5},
    "Momentum": {"momentum": 0.5},
    "Nesterov": {"momentum": 0.5},
    "Adagrad": {"lr_decay": 0.1},
    "RMSprop": {"centered": True},
    "Adam": {"beta_1": 0.7, "amsgrad": True},  # under XLA: the keras.ops AMSGrad update
    "AdamW": {"beta_2": 0.9},
    "Adadelta": {"rho": 0.5},
    "Adamax": {"beta_1": 0.5},
    "NAdam": {"momentum_decay": 0.01},
    "RAdam": {"decoupled_weight_decay": True},
}
NAMES = tuple(OWN)


def grouped_optimizer(name, **extra):
    lr = LR[name]
    schedule = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=2, decay_rate=0.7)
    groups = [
        {"pattern": "(^|/)out/", "learning_rate": lr / 2, "weight_decay": 0.0},
        {"max_rank": 1, **OWN[name]},
    ]
    return getattr(kerasdl.optimizers, name)(
        learning_rate=schedule, weight_decay=0.05, groups=groups, **extra
    )


def optimizer_state(optimizer):
    return [ops.convert_to_numpy(v) for v in optimizer.variables]


@pytest.mark.parametrize("name", NAMES)
def test_groups_save_mid_training_resume_exactly(name, tmp_path):
    """3 steps, `model.save`, `load_model`, 3 more steps == 6 steps in one go, bit for bit:
    the groups (from their paths and patterns), their slots and the step count came back."""
    model = tiny_model()
    optimizer = grouped_optimizer(name)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X[:24], Y[:24], batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "mid_training.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert loaded.optimizer.groups == optimizer.groups
    assert [loaded.optimizer.group_of(v) for v in loaded.trainable_variables] == [None, 1, 0, 0]
    for a, b in zip(optimizer_state(loaded.optimizer), optimizer_state(optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded.fit(X[24:48], Y[24:48], batch_size=8, shuffle=False, verbose=0)

    straight = tiny_model()
    straight.compile(optimizer=grouped_optimizer(name), loss="mse")
    straight.fit(X[:48], Y[:48], batch_size=8, shuffle=False, verbose=0)
    assert int(loaded.optimizer.iterations) == int(straight.optimizer.iterations) == 6
    for a, b in zip(loaded.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_groups_jit_compile_gives_the_same_weights(name):
    weights = {}
    for jit in (False, True):
        model = tiny_model()
        model.compile(optimizer=grouped_optimizer(name), loss="mse", jit_compile=jit)
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        weights[jit] = model.get_weights()
    assert any(not np.allclose(w, w0) for w, w0 in zip(weights[True], INITIAL_WEIGHTS, strict=True))
    for w_xla, w_graph in zip(weights[True], weights[False], strict=True):
        np.testing.assert_allclose(w_xla, w_graph, rtol=1e-5, atol=1e-6)


def test_groups_of_a_model_by_layer_name_as_numpy_sgd_says():
    """SGD with a group by layer name, against the update written out in NumPy: the ``out``
    layer at 0.05 without decay, the ``hidden`` layer at the optimizer's 0.1 with L2 0.05."""
    model = tiny_model()
    optimizer = kerasdl.optimizers.SGD(
        learning_rate=0.1,
        weight_decay=0.05,
        groups=[{"pattern": "(^|/)out/", "learning_rate": 0.05, "weight_decay": 0.0}],
    )
    grads = [np.full_like(w, 0.5) for w in INITIAL_WEIGHTS]
    lrs, decays = (0.1, 0.1, 0.05, 0.05), (0.05, 0.05, 0.0, 0.0)
    expected = [
        w - lr * (g + wd * w)
        for w, g, lr, wd in zip(INITIAL_WEIGHTS, grads, lrs, decays, strict=True)
    ]
    optimizer.apply([ops.convert_to_tensor(g) for g in grads], model.trainable_variables)
    assert [optimizer.group_of(v) for v in model.trainable_variables] == [None, None, 0, 0]
    for v, e in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(v, e, rtol=1e-6)  # float32 weights: one rounding per op


# ---------------------------------------------------------------------------
# MirroredStrategy, in a fresh interpreter with two logical CPUs (see
# test_optimizer_features_distribute.py for why).
# ---------------------------------------------------------------------------


def _train_all():
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

    def train(name, strategy):
        with strategy.scope():
            model = tiny_model()
            model.compile(optimizer=grouped_optimizer(name), loss="mse")
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return [w.tolist() for w in model.get_weights()]

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()
    return {
        name: {"mirrored": train(name, mirrored), "single": train(name, single)} for name in NAMES
    }


@pytest.mark.tf_only
def test_groups_under_mirrored_strategy_match_one_device():
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in NAMES:
        for w_two, w_one in zip(runs[name]["mirrored"], runs[name]["single"], strict=True):
            np.testing.assert_allclose(np.array(w_two), np.array(w_one), rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.array(runs[name]["single"][2]), INITIAL_WEIGHTS[2])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(json.dumps(_train_all()))
