"""kerasdl's optimizers under `tf.distribute.MirroredStrategy` (TensorFlow only).

Two replicas need two logical CPU devices, and TensorFlow accepts
`tf.config.set_logical_device_configuration` only before it initialises its
runtime, which the rest of the test session has long done. So the test runs this
file as a script in a fresh interpreter: for each optimizer it trains the tiny
MLP of test_optimizer_features_training.py once on two replicas and once on one
device, with the same global batch, the same initial weights and the same batch
order, and prints the weights of both runs as JSON.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GLOBAL_BATCH = 8  # 4 examples per replica
EPOCHS = 2


def _train_all():
    """Run in the subprocess: {optimizer: {"mirrored": weights, "single": weights}}."""
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")  # both runs on the CPU, in the same arithmetic
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from test_optimizer_features import NAMES, make_optimizer
    from test_optimizer_features_training import INITIAL_WEIGHTS, X, Y, tiny_model

    def train(name, strategy):
        with strategy.scope():
            model = tiny_model()
            model.compile(optimizer=make_optimizer(name), loss="mse")
        model.fit(X, Y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        moved = max(
            float(np.max(np.abs(w - w0)))
            for w, w0 in zip(model.get_weights(), INITIAL_WEIGHTS, strict=True)
        )
        return {
            "replicas": strategy.num_replicas_in_sync,
            "moved": moved,
            "steps": int(model.optimizer.iterations.numpy()),
            "weights": [w.tolist() for w in model.get_weights()],
        }

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()
    return {
        name: {"mirrored": train(name, mirrored), "single": train(name, single)} for name in NAMES
    }


@pytest.fixture(scope="module")
def distributed_runs():
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
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.tf_only
@pytest.mark.parametrize(
    "name",
    # test_optimizer_features.NAMES (not imported here: the training runs in a subprocess)
    [
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
    ],
)
def test_mirrored_strategy_matches_one_device(distributed_runs, name):
    """Two replicas, each with half of every global batch, all-reduce their gradients
    and apply the same update as one device on the whole batch."""
    mirrored, single = distributed_runs[name]["mirrored"], distributed_runs[name]["single"]
    assert mirrored["replicas"] == 2 and single["replicas"] == 1
    assert mirrored["steps"] == single["steps"] == EPOCHS * 48 // GLOBAL_BATCH
    assert single["moved"] > 1e-2  # training did something worth comparing
    for w_two, w_one in zip(mirrored["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(np.array(w_two), np.array(w_one), rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(json.dumps(_train_all()))
