"""The root of the CLI: help, version, info, and bad input."""

import subprocess
import sys

from typer.testing import CliRunner

from kerasdl import __version__
from kerasdl.cli import app

runner = CliRunner()


def test_help_shows_usage():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "kerasdl" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kerasdl {__version__}"


def test_info_names_backend_and_versions():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    import keras

    assert keras.__version__ in result.output
    assert keras.backend.backend() in result.output


def test_unknown_command_fails_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "kerasdl", "no-such-command"], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "no-such-command" in result.stderr + result.stdout
