"""kerasdl.models.build_model: the chapter's MLP (3.6) against PyTorch's and the formulas.

References: ``tests/golden/models.json`` (the chapter's own ``MLP`` in PyTorch, made by
``tests/reference/golden_models.py``) and NumPy versions of the formulas (PyTorch's
``nn.Linear`` default bounds, batch normalisation, the L1/L2 penalties).
"""

import math
from types import SimpleNamespace

import goldens
import keras
import numpy as np
import pytest

import kerasdl.initializers
import kerasdl.regularizers
from kerasdl.config import TrainConfig
from kerasdl.models import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, build_model, layer_seed

MNIST = SimpleNamespace(input_shape=(784,), task="classification", num_classes=10)
_, CASES = goldens.cases("models")
STRUCTURE = next(case for case in CASES if case["kind"] == "structure")
FORWARD = [case for case in CASES if case["kind"] == "forward"]


def small_dataset(n_in, n_out):
    return SimpleNamespace(input_shape=(n_in,), task="classification", num_classes=n_out)


def config(**dotted):
    return TrainConfig().override(dotted).validate()


@pytest.fixture(scope="module")
def preset():
    return build_model(TrainConfig(), MNIST)


def test_preset_layers_are_the_chapters(preset):
    layers = [(type(layer).__qualname__, layer.name) for layer in preset.layers]
    assert layers == [
        ("Dense", "dense_1"),
        ("BatchNormalization", "batch_norm_1"),
        ("Activation", "relu_1"),
        ("Dropout", "dropout_1"),
        ("Dense", "dense_2"),
        ("Activation", "relu_2"),
        ("Dense", "logits"),
    ]
    assert [layer.units for layer in preset.layers if hasattr(layer, "units")] == [256, 128, 10]
    assert preset.get_layer("dropout_1").rate == 0.5
    assert preset.get_layer("relu_1").activation is keras.activations.relu
    assert preset.get_layer("logits").activation is keras.activations.linear  # logits
    assert preset.input_shape == (None, 784)
    assert preset.output_shape == (None, 10)


def test_preset_parameter_count(preset):
    trainable = sum(math.prod(w.shape) for w in preset.trainable_weights)
    statistics = sum(math.prod(w.shape) for w in preset.non_trainable_weights)
    assert trainable == 784 * 256 + 256 + 2 * 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert statistics == 2 * 256
    assert preset.count_params() == trainable + statistics
    # PyTorch's own count of the chapter's network: parameters() and the running statistics.
    assert trainable == STRUCTURE["n_parameters"]
    assert statistics == STRUCTURE["n_running_stats"]


def test_preset_weight_shapes_are_pytorchs_transposed(preset):
    ours = [list(w.shape) for w in preset.trainable_weights]
    theirs = []
    for _, shape in STRUCTURE["parameters"]:
        theirs.append(shape[::-1])  # nn.Linear keeps (out, in); Dense keeps (in, out)
    assert ours == theirs


def test_batch_norm_has_pytorchs_defaults(preset):
    bn = preset.get_layer("batch_norm_1")
    # Keras's momentum is the weight of the old statistic, PyTorch's that of the new one.
    assert bn.momentum == pytest.approx(1.0 - STRUCTURE["bn_momentum"])
    assert bn.epsilon == STRUCTURE["bn_eps"]
    assert (bn.momentum, bn.epsilon) == (BATCH_NORM_MOMENTUM, BATCH_NORM_EPSILON)


def test_preset_uses_pytorchs_default_init_for_kernels_and_biases(preset):
    for name, fan_in in (("dense_1", 784), ("dense_2", 256), ("logits", 128)):
        layer = preset.get_layer(name)
        assert isinstance(layer.kernel_initializer, kerasdl.initializers.TorchDefault)
        assert isinstance(layer.bias_initializer, kerasdl.initializers.TorchDefault)
        bound = 1.0 / np.sqrt(fan_in)  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        assert np.abs(kernel).max() <= bound
        assert np.abs(bias).max() <= bound
        # A uniform on [-b, b] has standard deviation b / sqrt(3): the draws fill the range.
        assert np.std(kernel) == pytest.approx(bound / np.sqrt(3), rel=0.05)
        assert np.abs(bias).max() > 0.5 * bound  # not Keras's zero bias


def test_other_initializers_init_kernels_and_zero_the_biases():
    model = build_model(config(**{"model.initializer": "he_normal"}), MNIST)
    layer = model.get_layer("dense_1")
    assert isinstance(layer.kernel_initializer, kerasdl.initializers.HeNormal)
    kernel, bias = (np.asarray(w) for w in layer.get_weights())
    assert np.std(kernel) == pytest.approx(np.sqrt(2.0 / 784), rel=0.02)  # He: sqrt(2/n_in)
    np.testing.assert_array_equal(bias, 0.0)


def test_same_seed_same_network_different_seed_different_network():
    a = build_model(config(seed=3), MNIST).get_weights()
    b = build_model(config(seed=3), MNIST).get_weights()
    c = build_model(config(seed=4), MNIST).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    seeds = {layer_seed(3, layer, role) for layer in range(3) for role in range(3)}
    assert len(seeds) == 9


def test_dropout_masks_follow_the_seed():
    model = build_model(config(seed=5), MNIST)
    again = build_model(config(seed=5), MNIST)
    x = np.ones((4, 784), "float32")
    np.testing.assert_array_equal(
        np.asarray(model(x, training=True)), np.asarray(again(x, training=True))
    )


def test_layers_follow_the_config():
    model = build_model(
        config(
            **{
                "model.hidden": [32, 16, 8],
                "model.batch_norm": [False, True, False],
                "model.dropout": [0.0, 0.25, 0.1],
                "model.activation": "tanh",
            }
        ),
        MNIST,
    )
    kinds = [type(layer).__qualname__ for layer in model.layers]
    assert kinds == [
        "Dense",
        "Activation",
        "Dense",
        "BatchNormalization",
        "Activation",
        "Dropout",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
    ]
    assert [layer.rate for layer in model.layers if hasattr(layer, "rate")] == [0.25, 0.1]
    assert model.get_layer("tanh_2").activation is keras.activations.tanh


def test_regression_has_one_output_unit():
    data = SimpleNamespace(input_shape=(10,), task="regression", num_classes=None)
    cfg = config(**{"data.name": "regression", "loss.name": "huber"})
    model = build_model(cfg, data)
    assert model.layers[-1].name == "output"
    assert model.output_shape == (None, 1)


def test_image_inputs_are_flattened():
    model = build_model(TrainConfig(), SimpleNamespace(**{**vars(MNIST), "input_shape": (28, 28)}))
    assert type(model.layers[0]).__name__ == "Flatten"
    assert model.get_layer("dense_1").kernel.shape == (784, 256)


@pytest.mark.parametrize("name", ["l1", "l2", "l1l2"])
def test_regularizer_penalises_every_kernel(name):
    factors = {"l1": (1e-3, 0.0), "l2": (0.0, 1e-3), "l1l2": (1e-3, 2e-3)}[name]
    cfg = config(**{"model.regularizer": name, "model.l1": factors[0], "model.l2": factors[1]})
    model = build_model(cfg, MNIST)
    model(np.zeros((1, 784), "float32"))
    kernels = [
        np.asarray(layer.kernel, "float64") for layer in model.layers if hasattr(layer, "kernel")
    ]
    l1, l2 = factors
    expected = sum(l1 * np.abs(k).sum() + l2 * np.square(k).sum() for k in kernels)  # 3.4.2-3
    assert float(sum(np.asarray(loss) for loss in model.losses)) == pytest.approx(
        expected, rel=1e-5
    )
    assert len(model.losses) == 3


def test_no_regularizer_no_penalty(preset):
    assert preset.get_layer("dense_1").kernel_regularizer is None
    assert not preset.losses


def _load_torch_weights(model, weights):
    def array(name):
        return np.asarray(weights[name], "float32")

    model.get_layer("dense_1").set_weights([array("fc1.weight").T, array("fc1.bias")])
    model.get_layer("batch_norm_1").set_weights(
        [
            array("bn1.weight"),
            array("bn1.bias"),
            array("bn1.running_mean"),
            array("bn1.running_var"),
        ]
    )
    model.get_layer("dense_2").set_weights([array("fc2.weight").T, array("fc2.bias")])
    model.get_layer("logits").set_weights([array("fc3.weight").T, array("fc3.bias")])


def _small_model(case, dropout):
    n_in, h1, h2, n_out = case["sizes"]
    cfg = config(**{"model.hidden": [h1, h2], "model.dropout": [dropout, 0.0]})
    model = build_model(cfg, small_dataset(n_in, n_out))
    _load_torch_weights(model, case["weights"])
    return model


@pytest.mark.parametrize("case", FORWARD, ids=[case["id"] for case in FORWARD])
def test_eval_forward_matches_the_chapters_pytorch_network(case):
    model = _small_model(case, dropout=0.5)
    logits = np.asarray(model(np.asarray(case["x"], "float32"), training=False))
    np.testing.assert_allclose(logits, case["logits_eval"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", FORWARD, ids=[case["id"] for case in FORWARD])
def test_train_forward_and_batch_statistics_match_pytorch(case):
    model = _small_model(case, dropout=0.0)
    x = np.asarray(case["x"], "float32")
    logits = np.asarray(model(x, training=True))
    np.testing.assert_allclose(logits, case["logits_train"], rtol=1e-4, atol=1e-5)

    bn = model.get_layer("batch_norm_1")
    mean_before = np.asarray(case["weights"]["bn1.running_mean"])
    var_before = np.asarray(case["weights"]["bn1.running_var"])
    batch_mean = np.asarray(case["batch_mean"])
    batch_var = np.asarray(case["batch_var_biased"])
    n = len(case["x"])
    # running = (1 - 0.1) * running + 0.1 * batch, PyTorch's momentum 0.1 (Keras's 0.9).
    np.testing.assert_allclose(bn.moving_mean, case["running_mean_after"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_mean, 0.9 * mean_before + 0.1 * batch_mean, atol=1e-6)
    # The one difference: Keras averages the biased batch variance, PyTorch the unbiased one.
    np.testing.assert_allclose(bn.moving_variance, 0.9 * var_before + 0.1 * batch_var, rtol=1e-5)
    unbiased = 0.9 * var_before + 0.1 * batch_var * n / (n - 1)
    np.testing.assert_allclose(case["running_var_after"], unbiased, rtol=1e-12)


def test_saved_model_loads_without_custom_objects(tmp_path, preset):
    path = tmp_path / "mlp.keras"
    preset.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 784)).astype("float32")
    np.testing.assert_array_equal(np.asarray(preset(x)), np.asarray(loaded(x)))
    assert isinstance(
        loaded.get_layer("dense_1").bias_initializer, kerasdl.initializers.TorchDefault
    )


def test_regularizers_survive_saving(tmp_path):
    model = build_model(config(**{"model.regularizer": "l2", "model.l2": 0.01}), MNIST)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("logits").kernel_regularizer, kerasdl.regularizers.L2)
