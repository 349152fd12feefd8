"""``strategy = "mirrored"`` and ``"multi-worker"`` train as one device does (TensorFlow only).

TensorFlow takes logical devices and ``TF_CONFIG`` only before its runtime starts, so the runs
happen in fresh interpreters (``distributed_run.py``), all three at once:

- ``local``: ``MirroredStrategy`` over two logical CPU devices, then the same config with the
  default strategy on one device: the reference;
- ``worker0`` and ``worker1``: a two-worker ``MultiWorkerMirroredStrategy`` cluster on
  127.0.0.1 (free ports picked here), trained by `kerasdl.distributed`'s loop.

Every run has the same global batch (64), seed, data order and initial weights, so every
optimizer step sees the same examples: the final weights, the epoch metrics and the learning
rates must agree within float32 rounding (the replicas sum their gradients in another order).
The test metrics are also recomputed in NumPy from the chief's ``best.keras``. Every wait is
bounded and leftover processes are killed.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tf_only

HERE = Path(__file__).parent
SCRIPT = HERE / "distributed_run.py"
DEADLINE_S = 300  # for all three processes together; they take ~30 s on 2 idle cores
EPOCHS, STEPS = 3, 9  # 540 training examples, batch 64
RTOL, ATOL = 1e-4, 1e-6  # float32: the replicas' gradients are summed in another order
RUN_FILES = {"config.toml", "events.jsonl", "best.keras", "last.keras", "state.json"}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run the three processes; returns ``(runs_dir, {name: (record, weights)})``."""
    root = tmp_path_factory.mktemp("distributed")
    runs_dir, out_dir = root / "runs", root / "out"
    runs_dir.mkdir()
    out_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    commands = {"local": ("local", env)}
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        commands[f"worker{index}"] = ("worker", {**env, "TF_CONFIG": json.dumps(tf_config)})
    processes = {}
    try:
        for name, (mode, process_env) in commands.items():
            with (root / f"{name}.log").open("w") as log:  # the child keeps its own handle
                processes[name] = subprocess.Popen(
                    [sys.executable, str(SCRIPT), mode, str(runs_dir), str(out_dir)],
                    cwd=HERE,
                    env=process_env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
        deadline = time.monotonic() + DEADLINE_S
        for name, process in processes.items():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish in {DEADLINE_S} s")
            if process.returncode != 0:
                log = (root / f"{name}.log").read_text()
                pytest.fail(f"{name} exited with {process.returncode}:\n{log[-4000:]}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    results = {}
    for name in ("default", "mirrored", "worker0", "worker1"):
        record = json.loads((out_dir / f"{name}.json").read_text())
        with np.load(out_dir / f"{name}.npz") as arrays:
            weights = {key: arrays[key] for key in arrays.files}
        results[name] = (record, weights)
    return runs_dir, results


def _of(record, kind):
    return [event for event in record["events"] if event["type"] == kind]


def _assert_same_weights(weights, reference):
    assert len(weights) == len(reference) == 12  # initial and final: 3 kernels, 3 biases
    for name in reference:
        np.testing.assert_allclose(weights[name], reference[name], rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- mirrored


def test_mirrored_runs_on_two_replicas(runs):
    _, results = runs
    (started,) = _of(results["mirrored"][0], "run_started")
    assert started["devices"] == ["CPU:0", "CPU:1"]
    (reference,) = _of(results["default"][0], "run_started")
    assert reference["devices"] == ["CPU:0"]


@pytest.mark.parametrize("name", ["mirrored", "worker0", "worker1"])
def test_distributed_weights_equal_one_device(runs, name):
    """The final weights equal the one-device run's with the same global batch."""
    _, results = runs
    record, weights = results[name]
    reference_record, reference = results["default"]
    assert record["status"] == reference_record["status"] == "completed"
    assert record["iterations"] == reference_record["iterations"] == EPOCHS * STEPS
    for i in range(3):  # every trained kernel moved far more than the tolerance
        moved = np.max(np.abs(reference[f"final_{2 * i}"] - reference[f"initial_{2 * i}"]))
        assert moved > 1e-2
    np.testing.assert_array_equal(weights["initial_0"], reference["initial_0"])
    _assert_same_weights(weights, reference)


@pytest.mark.parametrize("name", ["mirrored", "worker0"])
def test_distributed_epoch_metrics_and_learning_rates_equal_one_device(runs, name):
    _, results = runs
    record, reference = results[name][0], results["default"][0]
    epochs, expected = _of(record, "epoch_ended"), _of(reference, "epoch_ended")
    assert [e["epoch"] for e in epochs] == [e["epoch"] for e in expected] == [1, 2, 3]
    for got, want in zip(epochs, expected, strict=True):
        assert set(got["metrics"]) == set(want["metrics"])
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert got["metrics"][key] == pytest.approx(want["metrics"][key], rel=1e-5, abs=1e-6)
        assert got["learning_rate"] == pytest.approx(want["learning_rate"], rel=1e-6)
        assert got["early_stopping"]["best_epoch"] == want["early_stopping"]["best_epoch"]
    changes = [(e["epoch"], e["reason"]) for e in _of(record, "lr_changed")]
    assert changes == [(e["epoch"], e["reason"]) for e in _of(reference, "lr_changed")]
    assert ("warmup_end" in {reason for _, reason in changes}) and len(changes) == 5
    got_test, want_test = record["test"], reference["test"]
    for key in ("loss", "accuracy"):
        assert got_test[key] == pytest.approx(want_test[key], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["mirrored", "worker0"])
def test_strategies_run_one_step_per_execution_and_say_so(runs, name):
    _, results = runs
    record = results[name][0]
    (started,) = _of(record, "run_started")
    assert started["steps_per_execution"] == 1
    (default_started,) = _of(results["default"][0], "run_started")
    assert default_started["steps_per_execution"] == 4
    messages = [event["message"] for event in _of(record, "notice")]
    assert any(message.startswith("steps_per_execution=4 is set to 1") for message in messages)


# --------------------------------------------------------------------------- multi-worker


def test_workers_end_with_identical_weights(runs):
    _, results = runs
    chief, other = results["worker0"][1], results["worker1"][1]
    for key in chief:
        np.testing.assert_array_equal(chief[key], other[key])


def test_only_the_chief_writes_a_run_directory(runs):
    runs_dir, results = runs
    assert {path.name for path in runs_dir.iterdir()} == {"default", "mirrored", "worker0"}
    chief_dir = runs_dir / "worker0"
    assert RUN_FILES | {"summary.json"} <= {path.name for path in chief_dir.iterdir()}
    assert not Path(results["worker1"][0]["run_dir"]).exists()  # its temporary one is gone
    from kerasdl.events import read_events

    events = read_events(chief_dir / "events.jsonl")
    assert events[0]["type"] == "run_started" and events[0]["strategy"] == "multi-worker"
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == [1, 2, 3]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"
    summary = json.loads((chief_dir / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and summary["status"] == "completed"


def test_multi_worker_test_metrics_recomputed_in_numpy(runs):
    """The multi-worker evaluation: mean cross-entropy over the test set plus the L2 penalty
    (l2 * sum of squared kernels, as `keras.Model.evaluate` adds it), and the accuracy, from
    ``best.keras``'s weights in NumPy."""
    import keras

    import kerasdl
    from kerasdl.config import TrainConfig
    from kerasdl.data import load_dataset

    runs_dir, results = runs
    chief_dir = runs_dir / "worker0"
    config = TrainConfig.from_toml(chief_dir / "config.toml")
    dataset = load_dataset(config)
    kerasdl.register_all()
    weights = keras.saving.load_model(chief_dir / "best.keras").get_weights()
    h = dataset.x_test.reshape(len(dataset.x_test), -1).astype(np.float64)
    for i in range(0, len(weights), 2):
        h = h @ weights[i].astype(np.float64) + weights[i + 1]
        if i + 2 < len(weights):
            h = np.maximum(h, 0.0)
    shifted = h - h.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    labels = dataset.y_test.astype(int)
    cross_entropy = -log_softmax[np.arange(len(labels)), labels].mean()
    penalty = config.model.l2 * sum(np.sum(w.astype(np.float64) ** 2) for w in weights[0::2])
    accuracy = np.mean(h.argmax(axis=1) == labels)
    test = results["worker0"][0]["test"]
    assert test["loss"] == pytest.approx(cross_entropy + penalty, rel=1e-5)
    assert test["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert penalty > 1e-3  # the regularization term is large enough to be checked
