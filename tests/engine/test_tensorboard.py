"""``tensorboard = true``: a real run's TensorBoard files, read back with TensorBoard's own
reader (its event multiplexer and data provider, as the TensorBoard server reads them; the
HParams plugin's protos for the hyperparameters), hold every value of ``events.jsonl`` and
``steps.jsonl`` within float32 rounding; ``kerasdl runs export --tensorboard`` writes the same
from the files; without the ``tensorboard`` package the scalars are written and a notice says
the hyperparameters are not."""

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorboard", reason="the tensorboard package (the test extra) is absent")

from kerasdl import tensorboard_files
from kerasdl.events import read_events
from kerasdl.steps import read_steps

pytestmark = pytest.mark.slow


def read_board(logdir):
    """``({run: {tag: [(step, value), ...]}}, {run: HParamsPluginData})`` as TensorBoard reads
    ``logdir``."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.plugins.hparams import plugin_data_pb2

    multiplexer = pem.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    ctx = context.RequestContext()
    scalars = provider.read_scalars(
        ctx, experiment_id="", plugin_name="scalars", downsample=100_000
    )
    board = {
        run: {tag: [(d.step, d.value) for d in points] for tag, points in tags.items()}
        for run, tags in scalars.items()
    }
    hparams = {}
    tensors = provider.list_tensors(ctx, experiment_id="", plugin_name=hp_metadata.PLUGIN_NAME)
    for run, tags in tensors.items():
        for tag, series in tags.items():
            if tag == hp_metadata.SESSION_START_INFO_TAG:
                hparams[run] = plugin_data_pb2.HParamsPluginData.FromString(series.plugin_content)
    return board, hparams


def f32(value):
    return float(np.float32(value))


def _train(tmp_path, name, *, sinks=(), stop=None, resume=None, **overrides):
    from kerasdl.config import TrainConfig
    from kerasdl.runner import train

    config = TrainConfig().override(
        {
            "runs_dir": str(tmp_path),
            "run_name": name,
            "data.name": "mnist-mini",
            "data.limit": 1024,
            "steps_per_execution": 2,
            "tensorboard": True,
            **overrides,
        }
    )
    return train(config, sinks=sinks, stop=stop, resume=resume)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """4 epochs with a plateau reduction and early stopping's wait moving."""
    tmp = tmp_path_factory.mktemp("tb")
    summary = _train(
        tmp,
        "tb",
        epochs=4,
        **{
            "plateau.enabled": True,
            "plateau.patience": 0,
            "plateau.threshold": 0.5,
            "early_stopping.patience": 3,
            "early_stopping.min_delta": 0.5,
        },
    )
    return summary.run_dir


def _expected(run_dir):
    """The scalars the run's files say its TensorBoard files hold."""
    events = read_events(run_dir / "events.jsonl")
    expected = {"train": {}, "validation": {}, "test": {}}
    epochs = [e for e in events if e["type"] == "epoch_ended"]
    for event in epochs:
        epoch = event["epoch"]
        for name, value in event["metrics"].items():
            run, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            expected[run].setdefault(f"epoch_{tag}", []).append((epoch, f32(value)))
        train = expected["train"]
        train.setdefault("epoch_learning_rate", []).append((epoch, f32(event["learning_rate"])))
        wait = event["early_stopping"]["wait"]
        train.setdefault("epoch_early_stopping_wait", []).append((epoch, f32(wait)))
    for row in read_steps(run_dir).rows:
        for name, value in row.metrics.items():
            expected["train"].setdefault(f"batch_{name}", []).append((row.step, f32(value)))
    test = {}  # each part of the run: its test metrics at the epochs it had run
    for finished in (e for e in events if e["type"] == "run_finished" and e["test"]):
        for name, value in finished["test"].items():
            test.setdefault(f"epoch_{name}", {})[finished["epochs_run"]] = f32(value)
    expected["test"] = {tag: sorted(points.items()) for tag, points in test.items()}
    return expected, events, epochs


def test_every_value_of_the_run_is_in_its_tensorboard_files(run_dir):
    board, _hparams = read_board(run_dir / "tensorboard")
    expected, _events, epochs = _expected(run_dir)
    assert {run: board.get(run) for run in expected} == expected
    assert set(board) == {"train", "validation", "test"}  # and nothing else
    # the run did what the test means to check: the rate and the wait moved, steps are many
    assert len({v for _, v in expected["train"]["epoch_learning_rate"]}) > 1
    assert len({v for _, v in expected["train"]["epoch_early_stopping_wait"]}) > 1
    assert len(expected["train"]["batch_loss"]) > len(epochs)
    assert set(expected["validation"]) == {"epoch_loss", "epoch_accuracy"}


def test_the_hyperparameters_are_the_config(run_dir):
    _board, hparams = read_board(run_dir / "tensorboard")
    events = read_events(run_dir / "events.jsonl")
    config = next(e for e in events if e["type"] == "run_started")["config"]
    assert set(hparams) == {"."}  # the logdir itself
    start = hparams["."].session_start_info
    assert start.group_name == "tb"
    values = dict(start.hparams)
    flat = tensorboard_files.hparams_of(config)
    assert set(values) == set(flat)
    for section in ("data", "model", "optimizer", "schedule", "early_stopping", "plateau"):
        assert set(config[section]) == {k.split(".", 1)[1] for k in flat if k.startswith(section)}
    assert values["optimizer.learning_rate"].number_value == config["optimizer"]["learning_rate"]
    assert values["optimizer.name"].string_value == "adamw"
    assert values["model.hidden"].string_value == "256,128"
    assert values["plateau.enabled"].bool_value is True
    assert values["epochs"].number_value == 4
    assert values["optimizer.momentum"].string_value == "none"
    assert values["tensorboard"].bool_value is True


def test_export_writes_the_same_files_from_the_run_directory(run_dir, tmp_path):
    from kerasdl.cli import app

    out = tmp_path / "board"
    result = CliRunner().invoke(
        app, ["runs", "export", str(run_dir), "--tensorboard", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert f"tb -> {out / 'tb'}: 4 epochs" in result.stderr
    assert f"tensorboard --logdir {out}" in result.stderr
    live, live_hparams = read_board(run_dir / "tensorboard")
    exported, exported_hparams = read_board(out / "tb")
    assert exported == live
    assert dict(exported_hparams["."].session_start_info.hparams) == dict(
        live_hparams["."].session_start_info.hparams
    )
    again = CliRunner().invoke(app, ["runs", "export", str(run_dir), "--tensorboard", str(out)])
    assert again.exit_code == 2
    assert "exists and is not empty" in again.stderr


def test_without_the_tensorboard_package_scalars_are_written_and_a_notice_says_so(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(tensorboard_files, "hparams_available", lambda: False)
    summary = _train(tmp_path, "bare", epochs=1)
    events = read_events(summary.run_dir / "events.jsonl")
    notices = [e["message"] for e in events if e["type"] == "notice"]
    assert any("tensorboard package is not installed" in m for m in notices), notices
    board, hparams = read_board(summary.run_dir / "tensorboard")
    assert hparams == {}
    assert board["train"]["epoch_loss"] == [
        (1, f32(next(e for e in events if e["type"] == "epoch_ended")["metrics"]["loss"]))
    ]


def test_hparams_of_bounds_untrusted_configs():
    config = {
        "a": {"b": {"c": {"d": 1}}, "x": [1, 2, 3], "t": "z" * 5000},
        "big": 2**70,
        "none": None,
        "obj": object,
    }
    flat = tensorboard_files.hparams_of(config)
    assert flat["a.x"] == "1,2,3"
    assert len(flat["a.t"]) == tensorboard_files.MAX_HPARAM_TEXT
    assert flat["big"] == float(2**70) and flat["none"] == "none"
    assert "a.b.c.d" not in flat  # three levels at most
    assert isinstance(flat["obj"], str)
    assert len(tensorboard_files.hparams_of({f"k{i}": i for i in range(5000)})) == 1000
    assert tensorboard_files.hparams_of(None) == {} and tensorboard_files.hparams_of([1]) == {}


def test_a_resumed_run_continues_its_step_history_and_tensorboard_files(tmp_path):
    import threading

    stop = threading.Event()

    def stop_soon(event):
        if event["type"] == "epoch_ended":
            stop.set()  # seen at the end of the next epoch: the first part runs 2 of 3

    first = _train(tmp_path, "resumed", epochs=3, sinks=[stop_soon], stop=stop)
    assert first.status == "stopped"
    second = _train(tmp_path, "resumed", epochs=3, resume=first.run_dir)
    assert second.status == "completed"
    run_dir = second.run_dir
    events = read_events(run_dir / "events.jsonl")
    per_epoch = next(e for e in events if e["type"] == "run_started")["steps_per_epoch"]
    history = read_steps(run_dir)
    assert history.problems == []
    assert {row.epoch for row in history.rows} == {1, 2, 3}
    assert history.rows[-1].step == 3 * per_epoch
    board, hparams = read_board(run_dir / "tensorboard")
    expected, _events, epochs = _expected(run_dir)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {run: board.get(run) for run in expected} == expected
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1  # hparams once
    assert hparams["."].session_start_info.group_name == "resumed"


def test_track_writes_tensorboard_files_of_any_fit(tmp_path):
    """`Track(tensorboard=True)` on a plain Keras fit: TensorBoard reads back each epoch's logs
    (as events.jsonl holds them) and the fit's description as hyperparameters."""
    import keras

    from kerasdl.callbacks import Track

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], dtype="float32"))[:, None]
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    net.compile(keras.optimizers.SGD(0.05), "mse")
    track = Track(tmp_path, run_name="fit-tb", tensorboard=True)
    stopper = keras.callbacks.EarlyStopping(patience=5)
    net.fit(
        x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[track, stopper]
    )
    board, hparams = read_board(track.run_dir / tensorboard_files.TENSORBOARD_DIR)
    epochs = [e for e in read_events(track.run_dir / "events.jsonl") if e["type"] == "epoch_ended"]
    assert len(epochs) == 3
    for folder, prefix in (("train", ""), ("validation", "val_")):
        points = board[folder]["epoch_loss"]
        assert [step for step, _ in points] == [1, 2, 3]
        expected = [f32(e["metrics"][f"{prefix}loss"]) for e in epochs]
        assert [value for _, value in points] == expected
    assert [v for _, v in board["train"]["epoch_learning_rate"]] == [f32(0.05)] * 3
    assert "epoch_early_stopping_wait" in board["train"]
    values = hparams[next(iter(hparams))].session_start_info.hparams
    assert values["loss"].string_value == "mse"
    assert values["optimizer.config.learning_rate"].number_value == pytest.approx(0.05)
