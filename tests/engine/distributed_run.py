"""Runs `kerasdl.runner.train` for test_distributed.py in a fresh interpreter.

TensorFlow takes `tf.config.set_logical_device_configuration` and ``TF_CONFIG`` only before
its runtime starts, which a pytest session has long done; so each distributed run is a
process of its own::

    python distributed_run.py local RUNS_DIR OUT_DIR    # two logical CPUs: mirrored, default
    python distributed_run.py worker RUNS_DIR OUT_DIR   # one worker of TF_CONFIG's cluster

Each run writes ``OUT_DIR/<name>.npz`` (``initial_<i>`` and ``final_<i>``: the weights in
``on_train_begin`` and ``on_train_end``, before the test evaluation loads ``best.keras``'s)
and ``OUT_DIR/<name>.json`` (the summary, the events the run's sink got but the throttled
``batch`` ones, which are counted).
"""

import json
import os
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCHS = 3


def config(runs_dir, strategy, run_name):
    """The shared tiny run: mnist-mini (540 training examples: 8 batches of 64 and one of 28,
    so the last global batch is split unevenly over the replicas), an MLP 784-32-16-10.

    No dropout and no batch norm: each replica would draw its own dropout masks and compute
    batch statistics over its half of the batch, so those runs legitimately differ from one
    device. L2 regularization, AdamW, a warmup into StepLR, early stopping and the plateau
    callback stay on: the distributed paths must carry them unchanged. ``steps_per_execution``
    is 4 here: the default run uses it, the distributed runs must set it to 1 (a notice).
    """
    from kerasdl.config import TrainConfig

    return (
        TrainConfig()
        .override(
            {
                "data.name": "mnist-mini",
                "data.limit": 600,
                "epochs": EPOCHS,
                "runs_dir": str(runs_dir),
                "run_name": run_name,
                "strategy": strategy,
                "steps_per_execution": 4,
                "model.hidden": [32, 16],
                "model.dropout": [0.0, 0.0],
                "model.batch_norm": [False, False],
                "model.regularizer": "l2",
                "model.l2": 1e-3,
                "schedule.step_size": 1,
                "schedule.warmup_epochs": 1,
                "plateau.enabled": True,
                "plateau.patience": 0,
                "plateau.threshold": 0.9,
                "plateau.factor": 0.5,
            }
        )
        .validate()
    )


def run(runs_dir, out_dir, strategy, name):
    import keras

    from kerasdl import runner

    kept = {}

    class KeepWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            kept["initial"] = self.model.get_weights()

        def on_train_end(self, logs=None):
            kept["final"] = self.model.get_weights()
            kept["iterations"] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    events = []
    summary = runner.train(
        config(runs_dir, strategy, name), sinks=[events.append], callbacks=[KeepWeights()]
    )
    import numpy as np

    arrays = {f"{when}_{i}": w for when in ("initial", "final") for i, w in enumerate(kept[when])}
    np.savez(out_dir / f"{name}.npz", **arrays)
    record = {
        "status": summary.status,
        "run_dir": str(summary.run_dir),
        "test": summary.test,
        "epochs_run": summary.epochs_run,
        "iterations": kept["iterations"],
        "events": [event for event in events if event["type"] != "batch"],
        "batch_events": sum(event["type"] == "batch" for event in events),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(record))


def main(mode, runs_dir, out_dir):
    import tensorflow as tf

    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    tf.config.set_visible_devices([], "GPU")  # every run on the CPU, in the same arithmetic
    if mode == "local":
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
        )
        run(runs_dir, out_dir, "mirrored", "mirrored")
        run(runs_dir, out_dir, "default", "default")
    else:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        run(runs_dir, out_dir, "multi-worker", f"worker{index}")


if __name__ == "__main__":
    main(*sys.argv[1:])
