"""``model.architecture``: the built-in cnn, a model of yours (``module:function``,
``file.py:function``, ``file.keras``), and everything that must not change for the mlp.

References: the mlp's own builder (`kerasdl.models.build_mlp`, the code path the preset always
took, itself checked against the chapter's PyTorch MLP in test_models.py), PyTorch's
``nn.Conv2d`` default bounds ``1/sqrt(fan_in)``, and Keras's MNIST convnet example for the cnn's
parameter count.
"""

import math
import sys
import textwrap
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kerasdl import runner, runs
from kerasdl.config import ConfigError, TrainConfig, unused_model_fields
from kerasdl.data import load_dataset
from kerasdl.events import read_events
from kerasdl.models import ModelError, build_cnn, build_mlp, build_model, build_model_with_notices
from kerasdl.run import resume, threads

RNG = np.random.default_rng(0)
IMAGES = SimpleNamespace(
    name="mnist",
    input_shape=(28, 28, 1),
    task="classification",
    num_classes=10,
    x_train=RNG.standard_normal((4, 28, 28, 1)).astype("float32"),
)
FLAT = SimpleNamespace(
    name="mnist",
    input_shape=(784,),
    task="classification",
    num_classes=10,
    x_train=RNG.standard_normal((4, 784)).astype("float32"),
)
REGRESSION = SimpleNamespace(
    name="regression",
    input_shape=(10,),
    task="regression",
    num_classes=None,
    x_train=RNG.standard_normal((4, 10)).astype("float32"),
)

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


def config(**dotted):
    return TrainConfig().override(dotted).validate()


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


# ----------------------------------------------------------------------------- the mlp: unchanged


def test_the_preset_builds_the_mlp_as_before():
    small = {"model.hidden": "32", "model.batch_norm": "false", "model.dropout": "0.2"}
    for cfg in (TrainConfig(), config(**small)):
        cfg.validate()
        for data in (FLAT, REGRESSION):
            a, b = build_model(cfg, data), build_mlp(cfg, data)
            assert a.name == b.name == "mlp"
            assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
            assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
            for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
                np.testing.assert_array_equal(x, y)


def test_the_preset_gets_no_notice_and_the_same_thread_rule():
    model, notices = build_model_with_notices(TrainConfig(), FLAT)
    assert notices == () and model.name == "mlp"
    preset = TrainConfig()
    assert threads.intra_op_threads(preset, cores=2, gpus=0) == 1
    assert threads.intra_op_threads(preset, cores=8, gpus=0) == 0


# ----------------------------------------------------------------------------- the cnn


def test_cnn_layers_and_parameters():
    model = build_model(config(**{"model.architecture": "cnn"}), IMAGES)
    assert model.name == "cnn"
    assert [layer.name for layer in model.layers] == [
        "conv_1", "relu_1", "pool_1", "conv_2", "relu_2", "pool_2",
        "flatten", "dropout", "dense", "relu_3", "logits",
    ]  # fmt: skip
    # 3*3*1*32+32, 3*3*32*64+64, 5*5*64*128+128, 128*10+10
    assert model.count_params() == 320 + 18_496 + 204_928 + 1_290
    assert model.get_layer("dropout").rate == 0.5  # the largest of the preset's [0.5, 0.0]
    assert model.output_shape == (None, 10)


def test_cnn_initialises_as_pytorch_and_is_seeded():
    cfg = config(**{"model.architecture": "cnn", "seed": 3})
    model = build_model(cfg, IMAGES)
    for name, fan_in in (("conv_1", 9), ("conv_2", 9 * 32), ("dense", 1600), ("logits", 128)):
        kernel, bias = model.get_layer(name).get_weights()
        bound = 1 / math.sqrt(fan_in)  # nn.Conv2d / nn.Linear: U(-1/sqrt(fan_in), ...)
        assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
        assert np.abs(kernel).max() > 0.9 * bound and np.abs(bias).max() > 0.5 * bound
    again = build_model(cfg, IMAGES).get_weights()
    other = build_model(config(**{"model.architecture": "cnn", "seed": 4}), IMAGES).get_weights()
    for a, b, c in zip(model.get_weights(), again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_cnn_takes_activation_regularizer_dropout_and_grey_images():
    cfg = config(
        **{
            "model.architecture": "cnn",
            "model.activation": "tanh",
            "model.regularizer": "l2",
            "model.l2": 1e-3,
            "model.dropout": "0",
            "model.initializer": "he_uniform",
        }
    )
    grey = SimpleNamespace(**{**vars(IMAGES), "input_shape": (12, 12)})
    model = build_model(cfg, grey)
    names = [layer.name for layer in model.layers]
    assert names[0] == "channel" and "dropout" not in names and "tanh_3" in names
    assert len(model.losses) == 4  # an L2 penalty on each kernel
    assert model.output_shape == (None, 10)
    regression = SimpleNamespace(**{**vars(IMAGES), "task": "regression", "num_classes": None})
    assert build_cnn(cfg, regression).get_layer("output").units == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (REGRESSION, "the cnn needs images (height, width, channels); the 'regression' data"),
        (FLAT, "inputs of shape (784,): use model.architecture 'mlp' or a model of your own"),
        (
            SimpleNamespace(**{**vars(IMAGES), "input_shape": (9, 28, 1)}),
            "the cnn needs images of at least 10x10; the 'mnist' data's are 9x28",
        ),
    ],
)
def test_cnn_refuses_what_is_not_an_image(data, message):
    with pytest.raises(ModelError) as info:
        build_model(config(**{"model.architecture": "cnn"}), data)
    assert message in str(info.value)
    assert str(info.value).startswith("model.architecture 'cnn': ")


def test_cnn_gets_mnist_as_images_and_the_mlp_flat():
    flat = load_dataset(config(**{"data.name": "mnist-mini", "data.limit": 50}))
    images = load_dataset(
        config(**{"data.name": "mnist-mini", "data.limit": 50, "model.architecture": "cnn"})
    )
    assert flat.input_shape == (784,) and flat.x_train.shape[1:] == (784,)
    assert images.input_shape == (28, 28, 1) and images.x_train.shape[1:] == (28, 28, 1)
    np.testing.assert_array_equal(images.x_test.reshape(len(images.x_test), -1), flat.x_test)


# ----------------------------------------------------------------------------- the config


def test_architecture_rule_says_every_form():
    for good in ("mlp", "cnn", "pkg.nets:build", "nets/net.py:build", "net.keras", "C:\\n.py:f"):
        assert config(**{"model.architecture": good}).model.architecture == good
    for bad, hint in (("cnnn", " (did you mean 'cnn'?)"), ("net.h5", ""), ("a:b:c", ""), ("", "")):
        with pytest.raises(ConfigError) as info:
            config(**{"model.architecture": bad})
        assert str(info.value) == (
            f"model.architecture: got {bad!r}; allowed: 'mlp', 'cnn', module:function, "
            "path/to/file.py:function or path/to/model.keras (paths of at most 1,024 characters, "
            f"without control characters){hint}"
        )


def test_mlp_lengths_are_checked_for_the_mlp_only():
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        config(**{"model.dropout": "0.3"})
    cfg = config(**{"model.architecture": "cnn", "model.dropout": "0.3", "model.hidden": "64"})
    assert unused_model_fields(cfg) == ["model.hidden"]
    yours = config(**{"model.architecture": "n.py:f", "model.activation": "tanh"})
    assert unused_model_fields(yours) == ["model.activation"]


def test_unused_fields_give_a_notice(tmp_path):
    path = write(tmp_path / "net.py", SMALL_NET)
    yours = config(**{"model.architecture": f"{path}:build", "model.activation": "tanh"})
    assert build_model_with_notices(yours, IMAGES)[1] == (
        (
            "warning",
            f"model.activation is not used by model.architecture '{path}:build': it shapes the "
            "built-in networks only (docs/models.md)",
        ),
    )
    cfg = config(**{"model.architecture": "cnn", "model.hidden": "64", "model.batch_norm": "true"})
    _, notices = build_model_with_notices(cfg, IMAGES)
    assert notices == (
        (
            "warning",
            "model.hidden, model.batch_norm are not used by model.architecture 'cnn': they "
            "shape the mlp only (docs/models.md)",
        ),
    )


def test_the_thread_rule_leaves_other_networks_to_tensorflow():
    for architecture in ("cnn", "nets.py:build", "net.keras"):
        cfg = config(**{"model.architecture": architecture})
        assert threads.intra_op_threads(cfg, cores=2, gpus=0) == 0
    assert (
        threads.intra_op_threads(config(**{"model.architecture": "cnn", "intra_op_threads": 3}))
        == 3
    )


# ----------------------------------------------------------------------------- a model of yours


def test_a_file_function_builds_and_is_checked(tmp_path):
    path = write(tmp_path / "my_net.py", SMALL_NET)
    model = build_model(config(**{"model.architecture": f"{path}:build"}), IMAGES)
    assert model.output_shape == (None, 10) and model.input_shape == (None, 28, 28, 1)
    assert str(tmp_path) not in sys.path  # only while it loads and builds


def test_a_module_function_is_imported_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "kerasdl_test_pkg").mkdir()
    write(tmp_path / "kerasdl_test_pkg" / "__init__.py", "")
    write(tmp_path / "kerasdl_test_pkg" / "nets.py", SMALL_NET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "kerasdl_test_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "kerasdl_test_pkg.nets", raising=False)
    try:
        model = build_model(config(**{"model.architecture": "kerasdl_test_pkg.nets:build"}), FLAT)
    finally:
        sys.modules.pop("kerasdl_test_pkg.nets", None)
        sys.modules.pop("kerasdl_test_pkg", None)
    assert model.output_shape == (None, 10)


def test_a_subclassed_model_is_checked_by_calling_it(tmp_path):
    path = write(
        tmp_path / "sub.py",
        """
        import keras

        class Net(keras.Model):
            def __init__(self, outputs):
                super().__init__()
                self.flat = keras.layers.Flatten()
                self.out = keras.layers.Dense(outputs)

            def call(self, x):
                return self.out(self.flat(x))

        def good(input_shape, num_outputs):
            return Net(num_outputs)

        def bad(input_shape, num_outputs):
            return Net(3)
        """,
    )
    assert build_model(config(**{"model.architecture": f"{path}:good"}), IMAGES).built
    with pytest.raises(ModelError, match="the model outputs 3 values; the data has 10 classes"):
        build_model(config(**{"model.architecture": f"{path}:bad"}), IMAGES)


def test_a_keras_file_loads_in_safe_mode(tmp_path):
    saved = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    saved.save(tmp_path / "net.keras")
    cfg = config(**{"model.architecture": str(tmp_path / "net.keras")})
    model, notices = build_model_with_notices(cfg, IMAGES)
    for a, b in zip(model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert notices == ()
    saved.compile(optimizer="sgd", loss="mse")
    saved.save(tmp_path / "compiled.keras")
    cfg = config(**{"model.architecture": str(tmp_path / "compiled.keras")})
    _, notices = build_model_with_notices(cfg, IMAGES)
    assert notices == (
        (
            "warning",
            f"{tmp_path / 'compiled.keras'} was saved compiled: its optimizer, loss and metrics "
            "are not used; kerasdl compiles it with the config's optimizer 'adamw' and loss "
            "'cross_entropy'",
        ),
    )


def test_a_softmax_at_the_end_gives_a_notice(tmp_path):
    path = write(
        tmp_path / "soft.py",
        """
        import keras

        def build(input_shape, num_outputs):
            return keras.Sequential(
                [keras.Input(input_shape), keras.layers.Dense(num_outputs, activation="softmax")]
            )
        """,
    )
    _, notices = build_model_with_notices(config(**{"model.architecture": f"{path}:build"}), FLAT)
    assert len(notices) == 1 and "ends in a softmax" in notices[0][1]


def test_the_fingerprint_names_the_network_and_the_file(tmp_path):
    data = SimpleNamespace(input_shape=(28, 28, 1), y_train=np.zeros(5))
    preset = resume.run_fingerprint(TrainConfig(), data)
    assert preset["model.architecture"] == "mlp" and preset["model.hidden"] == [256, 128]
    assert preset["input features"] == 784 and preset["input shape"] == [28, 28, 1]
    path = write(tmp_path / "net.py", SMALL_NET)
    cfg = config(**{"model.architecture": f"{path}:build"})
    before = resume.run_fingerprint(cfg, data)
    assert before["model file sha256"] == resume.file_sha256(path)
    assert "model.hidden" not in before
    write(path, SMALL_NET + "\n# changed\n")
    after = resume.run_fingerprint(cfg, data)
    with pytest.raises(runs.RunError) as info:
        resume.check_fingerprint("runs/x", {"fingerprint": before}, after)
    assert str(info.value).splitlines()[1] == (
        f"  model file sha256: {before['model file sha256']!r} in the run, "
        f"{after['model file sha256']!r} now"
    )


# ----------------------------------------------------------------------------- resume, for real


def test_a_cnn_run_resumes_and_refuses_a_changed_model(tmp_path):
    cfg = config(
        **{
            "model.architecture": "cnn",
            "data.name": "mnist-mini",
            "data.limit": 300,
            "epochs": 3,
            "runs_dir": str(tmp_path),
            "run_name": "cnn",
        }
    )
    first = runner.train(cfg.override({"epochs": 2}))
    assert first.status == "completed" and first.epochs_run == 2
    summary = runner.train(cfg, resume=first.run_dir)
    assert (summary.status, summary.resumed_from, summary.epochs_run) == ("completed", 2, 3)
    events = read_events(first.run_dir / "events.jsonl")
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == [1, 2, 3]
    whole = runner.train(cfg.override({"run_name": "whole"}))  # 3 epochs without a stop
    assert summary.test == whole.test and summary.best == whole.best
    other = cfg.override({"epochs": 4, "model.architecture": "mlp"})
    with pytest.raises(runs.RunError) as info:
        runner.train(other, resume=first.run_dir)
    assert "  model.architecture: 'cnn' in the run, 'mlp' now" in str(info.value).splitlines()
