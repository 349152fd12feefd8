"""``kerasdl train``: config building, exit codes and messages, the plain view on a real tiny run,
resume, SIGTERM on a real process, and a light ``--help``.

Most tests replace the runner with a scripted fake (`FakeRunner`), so they check the CLI alone and
run in milliseconds; one module fixture trains a real 2-epoch mnist-mini run, and two subprocess
tests run the installed command.
"""

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerasdl import config as kconfig
from kerasdl.cli import app
from kerasdl.cli import options as opt
from kerasdl.cli import train as train_cli

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")


def _invoke(*args, env=None):
    return runner.invoke(app, ["train", *map(str, args)], env=env)


def _no_traceback(result):
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return text


# ----------------------------------------------------------------------------- a scripted runner


class FakeRunner:
    """Stands in for `kerasdl.runner`: records the call, emits scripted events, then ends as told.

    ``end``: a status string to return, or an exception instance to raise after the events.
    """

    def __init__(self, end="completed", epochs=2, write_last=True, during=None):
        self.end = end
        self.epochs = epochs
        self.write_last = write_last
        self.during = during
        self.calls = []

    def train(self, config, *, sinks=(), resume=None, stop=None):
        self.calls.append({"config": config, "resume": resume})
        run_dir = Path(resume) if resume else Path(config.runs_dir) / (config.run_name or "fake")
        run_dir.mkdir(parents=True, exist_ok=True)

        def emit(event):
            event.setdefault("run_id", run_dir.name)
            for sink in sinks:
                sink(event)

        emit(
            {
                "type": "run_started",
                "config": config.to_dict(),
                "dataset": {"name": config.data.name, "source": "scripted"},
                "epochs": config.epochs,
                "steps_per_epoch": 3,
                "batch_size": config.batch_size,
                "optimizer": {"name": config.optimizer.name, "learning_rate": 0.001},
                "resumed_from": None,
            }
        )
        for epoch in range(1, self.epochs + 1):
            emit({"type": "batch", "epoch": epoch, "step": 3, "steps": 3, "metrics": {}})
            if self.write_last:
                (run_dir / "last.keras").write_text("fake")
            emit(
                {
                    "type": "epoch_ended",
                    "epoch": epoch,
                    "epochs": config.epochs,
                    "metrics": {"loss": 1.0 / epoch, "val_loss": 1.0 / epoch},
                    "learning_rate": 0.001,
                    "early_stopping": None,
                }
            )
            if self.during is not None:
                self.during(epoch)
        status = self.end if isinstance(self.end, str) else "failed"
        emit(
            {
                "type": "run_finished",
                "status": status,
                "best_epoch": self.epochs,
                "best": {"monitor": "val_loss", "value": 1.0 / self.epochs},
                "test": {"loss": 0.3, "accuracy": 0.9} if status != "nan" else None,
                "duration_s": 1.0,
                "epochs_run": self.epochs,
                "error": None if isinstance(self.end, str) else str(self.end),
            }
        )
        if not isinstance(self.end, str):
            raise self.end
        return types.SimpleNamespace(status=status, run_dir=run_dir)


@pytest.fixture
def fake(monkeypatch):
    fake = FakeRunner()
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    return fake


# ----------------------------------------------------------------------------- config building


def test_flags_override_the_config_file_and_set_comes_last(fake, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'epochs = 7\nbatch_size = 16\n[optimizer]\nname = "sgd"\nlearning_rate = 0.05\n'
        '[data]\nname = "mnist-mini"\n'
    )
    result = _invoke(
        "--config", path, "--epochs", 3, "--lr", 0.1, "--runs-dir", tmp_path / "runs",
        "--set", "optimizer.learning_rate=0.2", "--set", "model.hidden=32,16",
        "--set", "model.batch_norm=false,false", "--set", "model.dropout=0,0",
        "--no-plateau", "--jit",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = fake.calls[0]["config"]
    assert config.epochs == 3  # flag over file
    assert config.batch_size == 16  # file over preset
    assert config.optimizer.name == "sgd"
    assert config.optimizer.learning_rate == 0.2  # --set over flag
    assert config.model.hidden == [32, 16] and config.model.batch_norm == [False, False]
    assert config.plateau.enabled is False and config.jit_compile is True
    assert config.runs_dir == str(tmp_path / "runs")


def test_preset_is_the_base_without_a_config_file(fake, tmp_path):
    result = _invoke("--runs-dir", tmp_path, "--dataset", "mnist-mini", "--ui", "none")
    assert result.exit_code == 0, result.output
    expected = kconfig.TrainConfig().override(
        {"runs_dir": str(tmp_path), "data.name": "mnist-mini"}
    )
    assert fake.calls[0]["config"] == expected


def test_every_flag_names_a_config_field():
    # (the options are made from the fields: tests/cli/test_config_declared_once.py)
    paths = kconfig.field_paths()
    assert train_cli.FLAG_KEYS
    for flag, key in train_cli.FLAG_KEYS.items():
        assert key in paths, (flag, key)


def test_ui_auto_is_plain_until_the_dashboard_exists():
    assert train_cli.choose_view(opt.UI.auto) == "plain"
    assert train_cli.choose_view(opt.UI.none) == "none"


# ----------------------------------------------------------------------------- bad input: exit 2


def test_unknown_optimizer_lists_the_valid_names(fake):
    result = _invoke("--optimizer", "adamx")
    assert result.exit_code == 2
    text = _no_traceback(result)
    assert "optimizer.name: got 'adamx'" in result.stderr
    for name in kconfig.OPTIMIZERS:
        assert repr(name) in result.stderr
    assert "(did you mean 'adam" in result.stderr
    assert not fake.calls and "epoch" not in text


def test_bad_toml_is_a_clear_error(fake, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("epochs = = 3\n")
    result = _invoke("--config", path)
    assert result.exit_code == 2
    _no_traceback(result)
    assert "is not valid TOML" in result.stderr and str(path) in result.stderr
    assert not fake.calls


def test_unknown_key_suggests_the_closest(fake):
    result = _invoke("--set", "optimizer.learnin_rate=0.1")
    assert result.exit_code == 2
    _no_traceback(result)
    assert "optimizer.learnin_rate" in result.stderr
    assert "optimizer.learning_rate" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "epochs"], "expected KEY=VALUE"),
        (["--epochs", "0"], "epochs: got 0; allowed: an integer in [1, 1,000,000]"),
        (["--config", "no-such.toml"], "does not exist"),
        (["--ui", "fancy"], "'fancy' is not one of"),
        (["--resume", "nope"], "no run 'nope'"),
    ],
)
def test_bad_input_exits_2_with_a_message(fake, tmp_path, args, message):
    result = _invoke(*args, "--runs-dir", tmp_path)
    assert result.exit_code == 2, result.output
    text = _no_traceback(result)
    assert message in text
    assert not fake.calls


def test_config_and_resume_cannot_be_combined(fake, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("epochs = 3\n")
    result = _invoke("--config", path, "--resume", "x")
    assert result.exit_code == 2
    assert "--config and --resume cannot be combined" in result.stderr


def test_domain_error_from_the_runner_exits_2(monkeypatch, tmp_path):
    from kerasdl.runs import RunError

    fake = FakeRunner(end=RunError("runs directory x is not writable: Permission denied"))
    fake.train = lambda *a, **k: (_ for _ in ()).throw(fake.end)
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path, "--ui", "plain")
    assert result.exit_code == 2
    _no_traceback(result)
    assert result.stderr.strip() == (
        "error: run: runs directory x is not writable: Permission denied"
    )


# ----------------------------------------------------------------------------- run outcomes


def test_ui_none_prints_only_the_final_lines(fake, tmp_path):
    result = _invoke("--runs-dir", tmp_path, "--run-name", "r", "--ui", "none", "--epochs", 2)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Completed: 2 of 2 epochs ran.",
        "Best val_loss 0.5000 at epoch 2 (weights restored).",
        "Test accuracy 0.9000 (loss 0.3000)",
        f"Run directory: {tmp_path / 'r'} (1.0 s)",
    ]


def test_nan_exits_1_with_a_message(monkeypatch, tmp_path):
    fake = FakeRunner(end="nan")
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path, "--ui", "plain")
    assert result.exit_code == 1
    _no_traceback(result)
    assert "Stopped in epoch 2: the loss became NaN." in result.stdout
    assert result.stderr.startswith("error: the loss became NaN; the run stopped (no epoch")


def test_failed_run_exits_1_without_traceback_unless_asked(monkeypatch, tmp_path):
    fake = FakeRunner(end=RuntimeError("boom"))
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path, "--run-name", "f")
    assert result.exit_code == 1
    _no_traceback(result)
    assert "Failed: boom" in result.stdout
    assert "run failed: RuntimeError: boom" in result.stderr
    assert f"events and checkpoints: {tmp_path / 'f'}" in result.stderr
    result = _invoke("--runs-dir", tmp_path, "--run-name", "g", env={"KERASDL_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr


def test_keyboard_interrupt_exits_130_naming_the_last_checkpoint(monkeypatch, tmp_path):
    def interrupt(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    fake = FakeRunner(during=interrupt)
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path, "--run-name", "k", "--ui", "plain")
    assert result.exit_code == 130
    _no_traceback(result)
    run_dir = tmp_path / "k"
    assert result.stderr.strip() == (
        f"interrupted; last checkpoint: {run_dir / 'last.keras'} (epoch 1); "
        f"resume with: kerasdl train --resume {run_dir}"
    )


def test_interrupt_before_any_checkpoint(monkeypatch, tmp_path):
    def interrupt(epoch):
        raise KeyboardInterrupt

    fake = FakeRunner(during=interrupt, write_last=False)
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path, "--run-name", "k")
    assert result.exit_code == 130
    assert "last checkpoint: none (no epoch finished)" in result.stderr


def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored(monkeypatch, tmp_path):
    def terminate(epoch):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before this ends
        raise AssertionError("SIGTERM did not interrupt")

    fake = FakeRunner(during=terminate)
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    before = signal.getsignal(signal.SIGTERM)
    start = time.monotonic()
    result = _invoke("--runs-dir", tmp_path, "--run-name", "t")
    assert time.monotonic() - start < 4
    assert result.exit_code == 130, result.output
    assert "interrupted; last checkpoint:" in result.stderr
    assert signal.getsignal(signal.SIGTERM) is before


# ----------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One real 2-epoch mnist-mini run through the CLI, shared by the tests below."""
    runs_dir = tmp_path_factory.mktemp("runs")
    args = [
        "--dataset", "mnist-mini", "--limit", 512, "--epochs", 2, "--batch-size", 64,
        "--runs-dir", runs_dir, "--run-name", "tiny", "--ui", "plain", "--seed", 1,
    ]  # fmt: skip
    result = _invoke(*args)
    return types.SimpleNamespace(result=result, runs_dir=runs_dir, run_dir=runs_dir / "tiny")


def test_real_run_prints_epoch_lines_and_the_end(real_run):
    result = real_run.result
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run tiny | mnist-mini")
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line[:10] for line in epoch_lines] == ["epoch 1/2 ", "epoch 2/2 "]
    for line in epoch_lines:
        for key in ("loss", " acc ", "val_loss", "val_acc", "lr 0.001", "wait "):
            assert key in line, line
    assert "/5" in epoch_lines[0]  # wait/patience, the preset's patience 5
    assert lines[-4] == "Completed: 2 of 2 epochs ran."
    assert lines[-2].startswith("Test accuracy 0.")
    assert lines[-1].startswith(f"Run directory: {real_run.run_dir} (")
    for name in ("config.toml", "events.jsonl", "best.keras", "last.keras", "summary.json"):
        assert (real_run.run_dir / name).is_file(), name


def test_real_run_events_match_what_was_printed(real_run):
    from kerasdl.events import read_events

    events = read_events(real_run.run_dir / "events.jsonl")
    finished = events[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "completed"
    accuracy = f"Test accuracy {finished['test']['accuracy']:.4f}"
    assert accuracy in real_run.result.stdout


def test_resume_continues_the_real_run(real_run):
    result = _invoke(
        "--resume", "tiny", "--runs-dir", real_run.runs_dir, "--epochs", 3, "--ui", "plain"
    )
    assert result.exit_code == 0, result.output
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line[:10] for line in epoch_lines] == ["epoch 3/3 "]
    assert "resumed after epoch 2" in result.stdout
    shown = runner.invoke(app, ["runs", "show", str(real_run.run_dir)])
    assert shown.exit_code == 0, shown.output
    assert "resumed         1 time" in shown.stdout
    assert "epochs          3/3" in shown.stdout


def test_real_nan_run_exits_1_with_the_message(real_run, tmp_path):
    result = _invoke(
        "--dataset", "mnist-mini", "--limit", 256, "--epochs", 3, "--optimizer", "sgd",
        "--lr", 1e9, "--runs-dir", tmp_path, "--run-name", "nan", "--ui", "plain",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    _no_traceback(result)
    assert "Stopped in epoch 1: the loss became NaN." in result.stdout
    assert "Test set not evaluated." in result.stdout
    assert result.stderr.strip() == (
        "error: the loss became NaN; the run stopped (no epoch improved, so there is no "
        "best.keras). Try a smaller --lr."
    )


def test_unwritable_runs_dir_exits_2_before_training(real_run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _invoke(
        "--dataset",
        "mnist-mini",
        "--limit",
        64,
        "--epochs",
        1,
        "--runs-dir",
        blocker / "runs",
        "--ui",
        "plain",
    )
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert result.stderr.startswith("error: run: ") and str(blocker) in result.stderr
    assert "epoch 1/1" not in result.stdout


# ----------------------------------------------------------------------------- subprocesses


def _importtime(*args, env=None):
    """Run ``python -X importtime -m kerasdl ...``; return (result, top-level modules imported)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kerasdl", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules, "python -X importtime printed nothing"
    return result, modules


def test_help_of_train_is_light_and_grouped():
    result, modules = _importtime("train", "--help")
    assert result.returncode == 0
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    for panel in ("Data", "Model", "Optimization", "Run"):
        assert f"─ {panel} ─" in result.stdout
    for name in kconfig.OPTIMIZERS:
        assert name in result.stdout


def test_bad_config_fails_before_tensorflow_is_imported(tmp_path):
    result, modules = _importtime("train", "--optimizer", "adamx", "--runs-dir", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "optimizer.name: got 'adamx'" in result.stderr
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert not any(tmp_path.iterdir())  # no run directory was made


def test_sigterm_stops_a_real_run_with_exit_130(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [
        sys.executable, "-m", "kerasdl", "train", "--dataset", "mnist-mini", "--limit", 2000,
        "--epochs", 200, "--batch-size", 32, "--runs-dir", tmp_path, "--run-name", "sig",
        "--ui", "plain", "--no-early-stopping",
    ]  # fmt: skip
    events_path = tmp_path / "sig" / "events.jsonl"
    process = subprocess.Popen(
        list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 90
        while '"epoch_ended"' not in (events_path.read_text() if events_path.exists() else ""):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no epoch ended within 90 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert "interrupted; last checkpoint: " in stderr
    assert (tmp_path / "sig" / "last.keras").is_file()
    from kerasdl.events import read_events

    events = read_events(events_path)
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["status"] == "interrupted"
    assert "Interrupted with " in stdout


def test_auto_ui_without_a_terminal_says_why_it_uses_the_plain_view(monkeypatch, tmp_path):
    from kerasdl.runs import RunError

    fake = FakeRunner(end=RunError("stop here"))
    fake.train = lambda *a, **k: (_ for _ in ()).throw(fake.end)
    monkeypatch.setattr(train_cli, "import_runner", lambda: fake)
    result = _invoke("--runs-dir", tmp_path)  # --ui auto; CliRunner's stdout is no terminal
    first, second = result.stderr.strip().splitlines()
    assert first == "note: stdout is not a terminal, so the dashboard cannot draw: plain view"
    assert second == "error: run: stop here"


def test_resume_keeps_the_runs_name(tmp_path):
    from kerasdl.cli.train import build_config
    from kerasdl.config import ConfigError, TrainConfig

    run_dir = tmp_path / "runs" / "mine"
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").write_text("")
    (run_dir / "config.toml").write_text(TrainConfig(runs_dir=str(tmp_path / "runs")).to_toml())
    with pytest.raises(ConfigError, match=r"run_name: got 'other'.*a run keeps its name"):
        build_config(None, {"run_name": "other"}, [], str(run_dir))
    _config, resume_dir = build_config(None, {"run_name": "mine"}, [], str(run_dir))
    assert resume_dir == run_dir
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "--run-name", "x"])
    assert result.exit_code == 2 and "a run keeps its name" in result.stderr
