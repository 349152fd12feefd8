"""``kerasdl train --data``: your own ``.npz`` or ``.csv`` (``--target``), or a dataset name.

Bad files exit 2 with a message naming the problem, before TensorFlow is even imported (checked
in a fresh process); an npz classification run and a CSV regression run complete with test
metrics; resuming on a changed file is refused. Files are made in ``tmp_path``; the runs are
tiny (a few dozen examples, one small layer, two epochs).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.cli import train as train_cli

runner = CliRunner()
TINY = ["--hidden", "8", "--batch-norm", "false", "--dropout", "0", "--batch-size", "16"]


def _invoke(*args):
    return runner.invoke(app, ["train", *map(str, args)])


def _digits(path, n=60):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = (rng.integers(0, 60, size=(n, 4, 4)) + 60 * y[:, None, None]).astype(np.uint8)
    np.savez(path, x_train=x, y_train=y)
    return path


def _prices(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ [1.0, -2.0, 0.5] + 3
    rows = [",".join(f"{v:.4f}" for v in (*r, t)) for r, t in zip(x, y, strict=True)]
    lines = ["size,rooms,age,price", *rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def seen(monkeypatch):
    """The config `kerasdl train` would run (the run itself replaced)."""
    got = {}

    def fake_run_plain(config, resume_dir, *, live):
        got["config"] = config
        return 0

    monkeypatch.setattr(train_cli, "run_plain", fake_run_plain)
    return got


def test_data_takes_a_dataset_name_or_a_path(seen, tmp_path):
    assert _invoke("--data", "cifar10", "--ui", "none").exit_code == 0
    assert (seen["config"].data.name, seen["config"].data.path) == ("cifar10", "")
    path = _digits(tmp_path / "digits.npz")
    assert _invoke("--data", path, "--ui", "none").exit_code == 0
    assert (seen["config"].data.name, seen["config"].data.path) == ("file", str(path))
    csv_path = _prices(tmp_path / "prices.csv")
    result = _invoke("--data", csv_path, "--target", "price", "--loss", "mse", "--ui", "none")
    assert result.exit_code == 0, result.output
    assert seen["config"].data.target == "price"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "cifar10", "--dataset", "mnist"], "--data: got 'cifar10'; allowed: a file"),
        (["--data", "x.txt"], "data.path: got 'x.txt'; allowed: a file ending in .npz or .csv"),
        (["--data", "x.csv"], "data.target: got ''; allowed: the CSV column to predict"),
        (["--data", "nope.npz"], "nope.npz: no such file"),
    ],
)
def test_bad_data_options_exit_2(seen, args, message):
    result = _invoke(*args, "--ui", "none")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert "config" not in seen


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("size,price\n", "a header but no rows"),
        ("size,rooms\n1,2\n", "no column 'price' for data.target"),
        ("size,city,price\n1,2,3\n2,Oslo,4\n", "column 'city' is not numeric: 'Oslo' at line 3"),
        ("size,price\n1,2\n,3\n", "line 3, column 'size': missing value"),
        ("size,price\n1,2\nnan,3\n", "line 3, column 'size': 'nan' is not a finite number"),
    ],
)
def test_a_bad_csv_exits_2_naming_the_problem(seen, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = _invoke("--data", path, "--target", "price", "--loss", "mse", "--ui", "none")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: data: {path}: ") and message in result.stderr
    assert "config" not in seen  # nothing ran


def test_the_task_must_fit_the_loss(seen, tmp_path):
    result = _invoke("--data", _prices(tmp_path / "p.csv"), "--target", "price", "--ui", "none")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: invalid config: loss.name: got 'cross_entropy'; allowed: one of 'mse', 'mae', "
        "'huber', 'smooth_l1' for this regression data (target 'price' has non-integer values)\n"
    )


def test_bad_data_fails_before_tensorflow_is_imported(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((5, 2)), y_train=np.zeros(4))
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kerasdl.cli import app\n"
        "for args in (['--data', sys.argv[1]], ['--data', 'cifar100']):\n"
        "    r = CliRunner().invoke(app, ['train', *args, '--ui', 'none'])\n"
        "    print(r.exit_code, r.stderr.strip()[:60])\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "KERASDL_OFFLINE": "1", "HOME": str(tmp_path)}
    env["KERAS_HOME"] = str(tmp_path / ".keras")
    out = subprocess.run(
        [sys.executable, "-c", code, str(bad)], capture_output=True, text=True, env=env
    )
    lines = out.stdout.splitlines()
    assert lines[0] == f"2 error: data: {bad}: x_train has 5 rows but y_train 4"[:62], out
    assert lines[1].startswith("2 error: data: cifar100: no copy in Keras's cache"), out
    assert lines[2] == "[]", out


# ----------------------------------------------------------------------------- real runs


def test_an_npz_classification_run_completes_with_test_metrics(tmp_path):
    runs = tmp_path / "runs"
    path = _digits(tmp_path / "digits.npz")
    result = _invoke(
        "--data", path, "--epochs", 2, *TINY, "--runs-dir", runs, "--run-name", "npz",
        "--ui", "plain",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0]
    assert head.startswith("run npz | file (digits.npz: npz, 16 features -> classification: ")
    assert "[info] digits.npz read as classification data" in result.stdout
    summary = json.loads((runs / "npz" / "summary.json").read_text())
    assert set(summary["test"]) >= {"loss", "accuracy"}


def test_a_csv_regression_run_completes_and_a_changed_file_is_not_resumed(tmp_path):
    runs = tmp_path / "runs"
    path = _prices(tmp_path / "prices.csv")
    args = ["--target", "price", "--loss", "mse", *TINY, "--runs-dir", runs, "--ui", "none"]
    result = _invoke("--data", path, "--epochs", 2, "--run-name", "csv", *args)
    assert result.exit_code == 0, result.output
    summary = json.loads((runs / "csv" / "summary.json").read_text())
    assert set(summary["test"]) >= {"loss", "mae"}
    started = json.loads((runs / "csv" / "events.jsonl").read_text().splitlines()[0])
    assert started["dataset"]["task"] == "regression"
    assert started["dataset"]["features"] == ["size", "rooms", "age"]
    _prices(path, seed=1)  # the same shape, other numbers
    resumed = _invoke("--resume", "csv", "--runs-dir", runs, "--epochs", 3, "--ui", "none")
    assert resumed.exit_code == 2, resumed.output
    assert "it was trained with another setup" in resumed.stderr
    assert "  data file sha256: '" in resumed.stderr


def test_an_npz_of_images_trains_the_cnn(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.choice(["cat", "dog"], size=48)
    x = rng.integers(0, 100, size=(48, 12, 12), dtype=np.uint8)
    x[y == "dog"] += 120
    np.savez(tmp_path / "pets.npz", x_train=x, y_train=y)
    runs = tmp_path / "runs"
    result = _invoke(
        "--data", tmp_path / "pets.npz", "--model", "cnn", "--epochs", 1, "--batch-size", 16,
        "--runs-dir", runs, "--run-name", "cnn", "--ui", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    started = json.loads((runs / "cnn" / "events.jsonl").read_text().splitlines()[0])
    assert started["dataset"]["classes"] == ["cat", "dog"]
    assert "accuracy" in json.loads((runs / "cnn" / "summary.json").read_text())["test"]
