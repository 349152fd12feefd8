"""`kerasdl.callbacks.Track` on Keras's other backends, each in a process of its own (a
backend is chosen once, before Keras is imported): JAX (installed with the ``jax`` extra) and
torch (skipped where it is not installed)."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from kerasdl import runs

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras, numpy as np
    from kerasdl.callbacks import Track

    class Scripted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [1.0, 0.8, 0.9, 0.95, 0.99][min(epoch, 4)]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.ones((4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    track = Track(sys.argv[1], run_name="backend", checkpoints="both")
    stopper = keras.callbacks.EarlyStopping(patience=2)
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5)
    model.fit(x, y, epochs=10, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[Scripted(), track, stopper, plateau])
    print(json.dumps({"backend": keras.backend.backend(), "status": track.status}))
    """
)


def run_on(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_track_records_the_same_run_on_another_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    outcome = run_on(backend, tmp_path)
    assert outcome == {"backend": backend, "status": "early_stopped"}
    info = runs.load_run(tmp_path / "backend")
    assert info.status == "early_stopped" and info.epochs_run == 4
    assert info.record.started["backend"] == backend
    history = [info.record.history[epoch] for epoch in sorted(info.record.history)]
    assert [e["early_stopping"]["wait"] for e in history] == [0, 0, 1, 2]
    assert all(e["early_stopping"]["patience"] == 2 for e in history)
    assert [c["reason"] for c in info.lr_changes] == ["plateau", "plateau"]
    assert set(history[0]["metrics"]) == {"loss", "mae", "val_loss", "val_mae"}
    assert (tmp_path / "backend" / "best.keras").is_file()
    assert (tmp_path / "backend" / "last.keras").is_file()
