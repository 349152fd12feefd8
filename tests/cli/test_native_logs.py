"""TensorFlow's own logs stay off the terminal (`kerasdl.cli.native_logs`), unless ``--verbose``
or ``KERASDL_DEBUG`` asks for them: the file-descriptor filter, the Python loggers and warnings,
and two real commands (``kerasdl info``, a tiny ``kerasdl experiment init``) in a subprocess."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerasdl.cli import app, native_logs
from kerasdl.cli import train as train_cli

NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795753076.828799   16308 port.cc:153] oneDNN custom operations are on.\n"
    "To enable the following instructions: AVX2 AVX512F, in other operations, rebuild.\n"
    "E0000 00:00:1795753706.873375   24455 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error\n"
    "E0000 00:00:1795753706.873375   24455 cuda_dnn.cc:8310] Unable to register cuDNN factory: "
    "Attempting to register factory for plugin cuDNN when one has already been registered\n"
)
# What a quiet command's stderr must not hold: the C++ side's known lines, the Python loggers'
# lines and Python warnings.
LEAK = re.compile(
    r"^([IW]\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\]|"
    r"E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] (failed call to cuInit|Unable to register)|"
    r"WARNING: All log messages before absl|To enable the following instructions|"
    r"WARNING:(tensorflow|absl))|retracing|\w+Warning: ",
    re.M,
)


@pytest.fixture
def quiet(monkeypatch):
    """Neither --verbose nor KERASDL_DEBUG; TF_CPP_MIN_LOG_LEVEL unset (conftest sets it)."""
    monkeypatch.setattr(native_logs, "_verbose", False)
    monkeypatch.delenv("KERASDL_DEBUG", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)


def test_train_still_offers_the_moved_names():
    assert train_cli.quiet_native_logs is native_logs.quiet_native_logs
    assert train_cli.import_runner is native_logs.import_runner


def test_native_log_filter_drops_tensorflow_noise_only(capfd, quiet, monkeypatch):
    with native_logs.quiet_native_logs():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        os.write(2, NOISE.encode())
        os.write(2, b"E0000 00:00:1.0   1 other.cc:1] a real error\n")
        os.write(2, b"a real problem, half")
        os.write(2, b" a line\nno newline at the end")
    assert capfd.readouterr().err == (
        "E0000 00:00:1.0   1 other.cc:1] a real error\n"
        "a real problem, half a line\nno newline at the end"
    )
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the C++ side asked for: no filter
    with native_logs.quiet_native_logs():
        os.write(2, NOISE.encode())
    assert capfd.readouterr().err == NOISE


def test_native_log_pump_drains_even_when_stderr_is_closed():
    read_fd, write_fd = os.pipe()
    reader_gone, broken = os.pipe()
    os.close(reader_gone)  # writing to `broken` fails with EPIPE, as to a closed stderr

    def write():  # more than a pipe holds: it blocks unless the pump keeps reading
        os.write(write_fd, b"x" * 100_000 + b"\n" + b"y" * 100_000)
        os.close(write_fd)

    pump = threading.Thread(target=native_logs._pump, args=(read_fd, broken), daemon=True)
    writer = threading.Thread(target=write, daemon=True)
    pump.start()
    writer.start()
    writer.join(timeout=10)
    pump.join(timeout=10)
    assert not writer.is_alive() and not pump.is_alive()
    os.close(broken)


def _warn_from(module: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # what a test runner or -W does; quiet goes on top
        with native_logs.quiet_native_logs(filter_stderr=False):
            warnings.warn_explicit("noisy", UserWarning, "x.py", 1, module=module)
    return [str(w.message) for w in caught]


def test_the_python_side_is_quiet_and_put_back(quiet):
    import absl.logging

    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    before = [(logger.level, logger.isEnabledFor(logging.WARNING)) for logger in loggers]
    verbosity = absl.logging.get_verbosity()
    with native_logs.quiet_native_logs(filter_stderr=False):
        assert not any(logger.isEnabledFor(logging.WARNING) for logger in loggers)
        assert all(logger.isEnabledFor(logging.ERROR) for logger in loggers)
        assert absl.logging.get_verbosity() == absl.logging.ERROR
    assert [(logger.level, logger.isEnabledFor(logging.WARNING)) for logger in loggers] == before
    assert absl.logging.get_verbosity() == verbosity
    for module in ("tensorflow.python.eager", "keras.src.layers", "keras", "absl.logging"):
        assert _warn_from(module) == [], module
    assert _warn_from("kerasdl.models") == ["noisy"]  # kerasdl's own warnings go through
    assert _warn_from("kerasful") == ["noisy"]


@pytest.mark.parametrize("how", ["--verbose", "KERASDL_DEBUG=1"])
def test_verbose_or_debug_filters_nothing(capfd, quiet, monkeypatch, how):
    if how == "--verbose":
        native_logs.set_verbose(True)
    else:
        monkeypatch.setenv("KERASDL_DEBUG", "1")
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    with native_logs.quiet_native_logs():
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        assert tf_logger.level == level
        os.write(2, NOISE.encode())
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert capfd.readouterr().err == NOISE
    assert _warn_from("keras.src.layers") == ["noisy"]
    assert not native_logs.filters_stderr()


def test_the_root_verbose_option_holds_for_one_invocation(quiet, monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "1")
    runner = CliRunner()
    assert runner.invoke(app, ["--verbose", "data", "info"]).exit_code == 0
    assert native_logs.verbose()
    assert runner.invoke(app, ["data", "info"]).exit_code == 0
    assert not native_logs.verbose()


def _kerasdl(*args, tmp_path):
    script = Path(sys.executable).with_name("kerasdl")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kerasdl"]
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASDL_DEBUG")
    }
    env.update(KERASDL_OFFLINE="1", COLUMNS="100")
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


TINY_INIT = ["--depth", "2", "--width", "8", "--batch-size", "16", "--inits", "he_normal"]


@pytest.mark.parametrize(
    "args", [["info"], ["experiment", "init", *TINY_INIT, "--json"]], ids=["info", "experiment"]
)
def test_commands_keep_tensorflow_logs_off_stderr(tmp_path, args):
    result = _kerasdl(*args, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert LEAK.search(result.stderr) is None, result.stderr[-3000:]
    assert result.stdout.strip()


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_the_dashboards_replay_drops_the_noise_unless_verbose(capfd, quiet, verbose):
    from kerasdl.cli import dashboard

    native_logs.set_verbose(verbose)
    with dashboard._native_stderr_aside() as aside:
        os.write(2, NOISE.encode())
        os.write(2, b"a real warning from the run\n")
    capfd.readouterr()
    aside.replay()
    real = "a real warning from the run\n"
    assert capfd.readouterr().err == (NOISE + real if verbose else real)


_WITHOUT_JAX = """
import json, sys
from kerasdl.cli import native_logs
runner = native_logs.import_runner()
loaded = "jax" in sys.modules
import jax  # still importable afterwards
print(json.dumps({"jax_with_tensorflow": loaded, "jax_after": jax.__name__}))
"""


def test_the_cli_loads_tensorflow_without_the_jax_it_would_import(tmp_path):
    """TensorFlow's TFLite helpers import JAX whenever it is installed (2 s and 130 MB here);
    the CLI's `import_runner` loads TensorFlow without it, and `import jax` still works after."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_JAX], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"jax_with_tensorflow": False, "jax_after": "jax"}
    # And without the guard TensorFlow does import it here (so the test can fail).
    plain = subprocess.run(
        [sys.executable, "-c", "import sys, tensorflow; print('jax' in sys.modules)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(
    ("env", "json_text", "expected"),
    [
        ({"KERAS_BACKEND": "jax"}, '{"backend": "tensorflow"}', "jax"),
        ({}, '{"backend": "torch"}', "torch"),
        ({}, "not json", "tensorflow"),
        ({}, None, "tensorflow"),
    ],
)
def test_configured_backend_reads_the_env_then_keras_json(
    tmp_path, monkeypatch, env, json_text, expected
):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if json_text is not None:
        (tmp_path / "keras.json").write_text(json_text, encoding="utf-8")
    assert native_logs.configured_backend() == expected
