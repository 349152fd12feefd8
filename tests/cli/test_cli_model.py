"""``kerasdl train --model``: the cnn and models of yours train end to end on mnist-mini, and every
way a model of yours can be wrong fails before training with exit 2, one message, no traceback
and no run directory.

Each run is small (mnist-mini, ``--limit``, one epoch) and in this process (`CliRunner`).
"""

import sys
import textwrap

import keras
import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.config import TrainConfig

runner = CliRunner()

SMALL_NET = """
import keras

def build(input_shape, num_outputs):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(num_outputs),
        ]
    )
"""

#: File name -> content of the models the failure cases name.
BROKEN = {
    "raises.py": """
        def build(input_shape, num_outputs):
            raise RuntimeError("no GPU here")
        """,
    "positional.py": """
        def build(shape):
            pass
        """,
    "number.py": """
        def build(input_shape, num_outputs):
            return 42
        """,
    "layer.py": """
        import keras

        def build(input_shape, num_outputs):
            return keras.layers.Dense(num_outputs)
        """,
    "not_callable.py": """
        build = 3
        """,
    "flat_input.py": """
        import keras

        def build(input_shape, num_outputs):
            return keras.Sequential([keras.Input((784,)), keras.layers.Dense(num_outputs)])
        """,
    "five.py": """
        import keras

        def build(input_shape, num_outputs):
            return keras.Sequential(
                [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(5)]
            )
        """,
    "two_outputs.py": """
        import keras

        def build(input_shape, num_outputs):
            x = keras.Input(input_shape)
            flat = keras.layers.Flatten()(x)
            heads = [keras.layers.Dense(num_outputs)(flat), keras.layers.Dense(1)(flat)]
            return keras.Model(x, heads)
        """,
    "needs_dep.py": """
        import kerasdl_no_such_dependency
        """,
    "syntax.py": """
        def build(:
        """,
}


def _invoke(*args):
    return runner.invoke(app, ["train", *map(str, args)])


def _quick(model, runs_dir, *more, dataset="mnist-mini"):
    return _invoke(
        "--model", model, "--dataset", dataset, "--epochs", 1, "--limit", 200,
        "--runs-dir", runs_dir, "--ui", "none", *more,
    )  # fmt: skip


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A folder with a working model in each form, and the broken ones of `BROKEN`."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "small_net.py").write_text(SMALL_NET)
    (folder / "kerasdl_test_user_nets.py").write_text(SMALL_NET)
    for name, text in BROKEN.items():
        (folder / name).write_text(textwrap.dedent(text))
    net = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    net.save(folder / "net.keras")
    net.compile(optimizer="sgd", loss="mse")
    net.save(folder / "compiled.keras")
    lam = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Flatten()]
    )
    lam.save(folder / "lambda.keras")
    (folder / "damaged.keras").write_bytes(b"not a zip at all")
    return folder


@pytest.fixture
def here(models, monkeypatch):
    monkeypatch.chdir(models)
    yield models
    sys.modules.pop("kerasdl_test_user_nets", None)


def _completed(result):
    text = result.stdout + result.stderr
    assert result.exit_code == 0, text
    assert "Traceback" not in text
    assert "Test accuracy" in result.stdout, text
    return text


def test_cnn_trains_on_mnist_mini_end_to_end(tmp_path):
    result = _invoke(
        "--model", "cnn", "--dataset", "mnist-mini", "--epochs", 1, "--limit", 500,
        "--runs-dir", tmp_path, "--run-name", "cnn", "--ui", "none",
    )  # fmt: skip
    _completed(result)
    toml = (tmp_path / "cnn" / "config.toml").read_text()
    assert 'architecture = "cnn"' in toml


@pytest.mark.parametrize(
    "model",
    [
        "small_net.py:build",
        "kerasdl_test_user_nets:build",
        "net.keras",
        "{folder}/small_net.py:build",
    ],
)
def test_a_model_of_yours_trains(here, tmp_path, model):
    _completed(_quick(model.format(folder=here), tmp_path))


def test_a_compiled_keras_file_trains_with_the_configs_compile_and_says_so(here, tmp_path):
    text = _completed(_quick("compiled.keras", tmp_path, "--optimizer", "sgd", "--ui", "plain"))
    assert "compiled.keras was saved compiled" in text
    assert "compiles it with the config's optimizer 'sgd'" in text


def test_fields_the_network_does_not_use_give_a_notice(tmp_path):
    text = _completed(
        _quick("cnn", tmp_path, "--hidden", "64", "--batch-norm", "true", "--ui", "plain")
    )
    assert "model.hidden, model.batch_norm are not used by model.architecture 'cnn'" in text


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("kerasdl_no_such_module:build", "no module named 'kerasdl_no_such_module'"),
        ("missing.py:build", "no such file: missing.py"),
        ("small_net.py:make", "small_net.py has no function 'make' (it defines: build)"),
        ("not_callable.py:build", "'build' in not_callable.py is an int, not a function"),
        (
            "raises.py:build",
            "build(input_shape=(28, 28, 1), num_outputs=10) raised RuntimeError: no GPU here",
        ),
        (
            "positional.py:build",
            "raised TypeError: build() got an unexpected keyword argument 'input_shape' (kerasdl "
            "calls it as function(input_shape=..., num_outputs=...))",
        ),
        ("number.py:build", "returned an int, not a keras.Model"),
        ("layer.py:build", "returned a Dense, not a keras.Model: wrap it in keras.Sequential"),
        (
            "flat_input.py:build",
            "the model takes inputs of shape (784,); the data's are (28, 28, 1) (the same values",
        ),
        ("five.py:build", "the model outputs 5 values; the data has 10 classes"),
        ("two_outputs.py:build", "the model has 2 outputs; kerasdl trains one"),
        (
            "needs_dep.py:build",
            "loading needs_dep.py raised ModuleNotFoundError: No module named "
            "'kerasdl_no_such_dependency'",
        ),
        ("syntax.py:build", "loading syntax.py raised SyntaxError: "),
        ("absent.keras", "no such file: absent.keras"),
        ("damaged.keras", "damaged.keras is not a .keras archive (damaged, or not a Keras 3"),
        ("lambda.keras", "Keras's safe mode refused it: ValueError: "),
    ],
)
def test_a_broken_model_fails_before_training_with_exit_2(here, tmp_path, model, message):
    result = _quick(model, tmp_path / "runs")
    text = result.stdout + result.stderr
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert f"error: model: model.architecture {model!r}: " in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cnn_on_flat_data_fails_clearly(tmp_path):
    result = _quick("cnn", tmp_path, "--loss", "mse", dataset="regression")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert (
        "error: model: model.architecture 'cnn': the cnn needs images (height, width, channels); "
        "the 'regression' data has inputs of shape (10,)"
    ) in result.stderr


def test_a_bad_architecture_is_a_config_error(tmp_path):
    result = _quick("resnet50", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: invalid config: model.architecture: got 'resnet50'; allowed: 'mlp', 'cnn', "
        "module:function, path/to/file.py:function or path/to/model.keras"
    )


def test_help_lists_the_model_option():
    result = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert "--model" in result.stdout and "module:function" in result.stdout


def test_runs_show_names_the_network():
    from kerasdl.cli.runs import config_summary

    def model_line(**model):
        return dict(config_summary({"model": {**TrainConfig().to_dict()["model"], **model}}))[
            "model"
        ]

    assert model_line().startswith("256-BN-relu-Dropout(0.5) / 128-relu; init torch_default")
    assert model_line(architecture="cnn") == "cnn, relu, dropout 0.5; init torch_default"
    assert model_line(architecture="nets.py:build") == "nets.py:build (yours)"
