"""kerasdl.initializers against PyTorch (golden file) and the chapter's formulas (NumPy/math).

References, none produced by the code under test:
- tests/golden/initializers.json: torch's fans, gains, the bounds and standard deviations
  its init functions and layers actually drew with, and statistics of real torch draws;
- the chapter's formulas (3.3.3-3.3.6, with the errata), written out below;
- the exact uniform and normal CDFs (math.erf) and quantiles (statistics.NormalDist);
- Keras's own initializers drawing from the same distribution with the same seed.
"""

import json
import math
import random
import statistics

import goldens
import keras
import numpy as np
import pytest
from keras import ops

from kerasdl import initializers as kinit

_, CASES = goldens.cases("initializers")


def _kind(kind):
    return [case for case in CASES if case["kind"] == kind]


LAYERS, GAINS, INITS, DRAWS = _kind("layer"), _kind("gain"), _kind("init"), _kind("draw")
SHAPE = (30, 20)  # the shape of the small draws


def _ids(cases):
    return [case["id"] for case in cases]


def _np(x):
    return ops.convert_to_numpy(x)


# ---------------------------------------------------------------------------------------
# The chapter's formulas, written out independently of kerasdl.
# (factory, distribution, bound or std as a function of (fan_in, fan_out))
CHAPTER = {
    "XavierUniform": (
        lambda: kinit.XavierUniform(seed=11),
        "uniform",
        lambda fi, fo: math.sqrt(6.0) / math.sqrt(fi + fo),
    ),
    "XavierUniform-tanh-gain": (
        lambda: kinit.XavierUniform(gain=5.0 / 3.0, seed=12),
        "uniform",
        lambda fi, fo: 5.0 / 3.0 * math.sqrt(6.0 / (fi + fo)),
    ),
    "HeUniform": (lambda: kinit.HeUniform(seed=13), "uniform", lambda fi, fo: math.sqrt(6 / fi)),
    "HeUniform-leaky-fan_out": (
        lambda: kinit.HeUniform(
            mode="fan_out", nonlinearity="leaky_relu", negative_slope=0.2, seed=14
        ),
        "uniform",
        lambda fi, fo: math.sqrt(2.0 / (1.0 + 0.2**2)) * math.sqrt(3.0 / fo),
    ),
    "TorchDefault": (lambda: kinit.TorchDefault(seed=15), "uniform", lambda fi, fo: fi**-0.5),
    "XavierNormal": (
        lambda: kinit.XavierNormal(seed=16),
        "normal",
        lambda fi, fo: math.sqrt(2.0 / (fi + fo)),
    ),
    "HeNormal": (lambda: kinit.HeNormal(seed=17), "normal", lambda fi, fo: math.sqrt(2.0 / fi)),
    "HeNormal-tanh-fan_out": (
        lambda: kinit.HeNormal(mode="fan_out", nonlinearity="tanh", seed=18),
        "normal",
        lambda fi, fo: 5.0 / 3.0 / math.sqrt(fo),
    ),
    "LeCunNormal": (lambda: kinit.LeCunNormal(seed=19), "normal", lambda fi, fo: math.sqrt(1 / fi)),
}

# A conv kernel: fan_in = 20 * 100, fan_out = 20 * 200; 400,000 values. The golden draws
# use the same shape (JAX compiles a sampler per shape and dtype: few shapes keep it fast).
BIG = (5, 4, 100, 200)
BIG_FANS = (2000, 4000)


def _normal_cdf(x, std):
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1.0 + erf(np.asarray(x, dtype=np.float64) / (std * math.sqrt(2.0))).astype(float))


def _ks(sorted_values, cdf_values):
    """Kolmogorov-Smirnov statistic of a sorted sample against its exact CDF values."""
    n = len(sorted_values)
    upper = np.arange(1, n + 1) / n - cdf_values
    lower = cdf_values - np.arange(0, n) / n
    return max(upper.max(), lower.max())


def _ks_limit(n, alpha=1e-6):
    """The KS statistic a correct sampler exceeds with probability < alpha (DKW bound)."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


@pytest.mark.parametrize("name", [k for k, v in CHAPTER.items() if v[1] == "uniform"])
def test_uniform_draws_have_the_chapters_exact_bounds_and_distribution(name):
    factory, _, formula = CHAPTER[name]
    bound = formula(*BIG_FANS)
    values = _np(factory()(BIG, dtype="float64")).ravel()
    n = values.size

    assert factory().limit(BIG) == pytest.approx(bound, rel=1e-12)
    # No draw outside [-b, b] (up to the last bits of b's two float64 computations) ...
    assert np.abs(values).max() <= bound * (1 + 1e-12)
    # ... and both ends reached within a hair: P(max < b (1 - 1e-4)) = (1 - 5e-5)^n ~ e^-20.
    assert values.max() >= bound * (1 - 1e-4)
    assert values.min() <= -bound * (1 - 1e-4)
    assert abs(values.mean()) <= 6 * bound / math.sqrt(3 * n)
    # sd of the sample sd of a uniform is ~ sd * sqrt(0.2 / n)
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=6 * math.sqrt(0.2 / n))
    values.sort()
    assert _ks(values, (values + bound) / (2 * bound)) < _ks_limit(n)


@pytest.mark.parametrize("name", [k for k, v in CHAPTER.items() if v[1] == "normal"])
def test_normal_draws_are_plain_normals_with_the_chapters_std(name):
    factory, _, formula = CHAPTER[name]
    std = formula(*BIG_FANS)
    values = _np(factory()(BIG, dtype="float64")).ravel()
    n = values.size

    assert factory().stddev(BIG) == pytest.approx(std, rel=1e-12)
    assert abs(values.mean()) <= 6 * std / math.sqrt(n)
    assert values.std() == pytest.approx(std, rel=6 / math.sqrt(2 * n))
    # Untruncated: the tails beyond 2 and 3 sd hold 4.55% and 0.27% (a truncated normal: 0).
    for k in (2.0, 3.0):
        p = 1.0 - math.erf(k / math.sqrt(2.0))
        observed = np.mean(np.abs(values) > k * std)
        assert abs(observed - p) <= 6 * math.sqrt(p * (1 - p) / n), (k, observed, p)
    exact = statistics.NormalDist(0.0, std)
    for q in (0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999):
        x = exact.inv_cdf(q)
        se = math.sqrt(q * (1 - q) / n) / exact.pdf(x)
        assert np.quantile(values, q) == pytest.approx(x, abs=6 * se), q
    values.sort()
    assert _ks(values, _normal_cdf(values, std)) < _ks_limit(n)


# ---------------------------------------------------------------------------------------
# PyTorch, from the golden file.


def _build(case, **initializers):
    """The Keras layer with the weights of the golden case's torch layer, built."""
    layer = getattr(keras.layers, case["keras_layer"])(**case["keras_kwargs"], **initializers)
    layer.build((None, *[8] * case["keras_spatial_rank"], case["keras_input_channels"]))
    return layer


@pytest.mark.parametrize("case", LAYERS, ids=_ids(LAYERS))
def test_fans_of_keras_kernels_equal_torchs_for_the_same_layer(case):
    assert kinit.compute_fans(case["keras_shape"]) == (case["fan_in"], case["fan_out"])
    # The Keras layer with these weights really has this kernel shape (zeros: no draws).
    layer = _build(case, kernel_initializer="zeros", dtype="float64")
    assert list(layer.kernel.shape) == case["keras_shape"]
    assert list(layer.bias.shape) == case["bias_shape"]


@pytest.mark.parametrize("case", LAYERS, ids=_ids(LAYERS))
def test_torch_default_has_the_bounds_of_torch_layers_reset_parameters(case):
    kernel, bias = tuple(case["keras_shape"]), tuple(case["bias_shape"])
    assert case["weight_low"] == -case["weight_high"] and case["bias_low"] == -case["bias_high"]
    assert kinit.TorchDefault().limit(kernel) == pytest.approx(case["weight_high"], rel=1e-12)
    bias_init = kinit.TorchDefault(fan_in=case["fan_in"])
    assert bias_init.limit(bias) == pytest.approx(case["bias_high"], rel=1e-12)
    # The errata's closed form, and PyTorch's bias rule: 1 / sqrt(fan_in of the weight).
    assert case["bias_high"] == pytest.approx(1 / math.sqrt(case["fan_in"]), rel=1e-15)
    assert case["weight_high"] == pytest.approx(1 / math.sqrt(case["fan_in"]), rel=1e-12)


# Drawing is slow to compile per shape on JAX: one layer, the chapter's MNIST MLP's first.
DRAWN_LAYERS = [case for case in LAYERS if case["id"] == "layer-Linear-784-256"]


@pytest.mark.parametrize("case", DRAWN_LAYERS, ids=_ids(DRAWN_LAYERS))
def test_a_keras_layer_draws_inside_torchs_bounds(case):
    fan_in = kinit.compute_fans(case["keras_shape"])[0]
    layer = _build(
        case,
        kernel_initializer=kinit.TorchDefault(seed=1),
        bias_initializer=kinit.TorchDefault(fan_in=fan_in, seed=2),
        dtype="float64",
    )
    kernel, bias = np.abs(_np(layer.kernel)), np.abs(_np(layer.bias))
    assert kernel.max() <= case["weight_high"] and bias.max() <= case["bias_high"]
    assert kernel.max() > 0.5 * case["weight_high"] and bias.max() > 0


@pytest.mark.parametrize("case", GAINS, ids=_ids(GAINS))
def test_calculate_gain_equals_torch(case):
    if "error" not in case:
        gain = kinit.calculate_gain(case["nonlinearity"], case["param"])
        assert gain == pytest.approx(case["gain"], rel=1e-15, abs=0)
    elif case["nonlinearity"] == "identity":
        # Listed in torch's docstring table, refused by its code; kerasdl accepts it.
        assert kinit.calculate_gain("identity") == 1.0
    else:
        with pytest.raises(ValueError, match="Argument `nonlinearity` must be one of"):
            kinit.calculate_gain(case["nonlinearity"], case["param"])


@pytest.mark.parametrize("param", [True, "0.2", math.nan, math.inf, [0.2]])
def test_calculate_gain_rejects_a_bad_leaky_relu_slope(param):
    with pytest.raises(ValueError, match="Argument `param` must be a finite real number"):
        kinit.calculate_gain("leaky_relu", param)


@pytest.mark.parametrize("case", INITS, ids=_ids(INITS))
def test_bound_and_std_equal_torchs_init_functions(case):
    init = getattr(kinit, case["init"])(**case["init_kwargs"])
    shape = tuple(case["keras_shape"])
    if case["distribution"] == "uniform":
        assert case["low"] == -case["high"]
        assert init.limit(shape) == pytest.approx(case["high"], rel=1e-12)
        assert init.stddev(shape) == pytest.approx(case["high"] / math.sqrt(3.0), rel=1e-12)
    else:
        assert case["mean"] == 0.0
        assert not hasattr(init, "limit")
        assert init.stddev(shape) == pytest.approx(case["std"], rel=1e-12)


@pytest.mark.parametrize("case", DRAWS, ids=_ids(DRAWS))
def test_draws_match_real_torch_draws(case):
    init = getattr(kinit, case["init"])(**case["init_kwargs"], seed=2024)
    values = _np(init(tuple(case["keras_shape"]), dtype=case["dtype"]))
    n = values.size
    assert n == case["n"]
    std = case["std"]
    # Two independent samples: their sds differ by ~ std * sqrt(1 / n) (less for a uniform).
    assert values.std() == pytest.approx(std, rel=6 * math.sqrt(1.0 / n))
    assert abs(values.mean()) <= 6 * std / math.sqrt(n)
    assert abs(case["mean"]) <= 6 * std / math.sqrt(n)
    max_abs = np.abs(values).max()
    if isinstance(init, kinit.XavierUniform | kinit.HeUniform):
        # Both reach the bound within a hair.
        assert max_abs == pytest.approx(case["max_abs"], rel=1e-3)
    else:
        # The largest of 400,000 normal draws is ~5 sd; a 2-sd truncated normal stops at 2.3.
        assert 0.85 < max_abs / case["max_abs"] < 1.2


# ---------------------------------------------------------------------------------------
# Seeds: Keras's semantics, checked against Keras's own initializers.


def _keras_twins():
    """(kerasdl initializer, Keras initializer that draws the same) for a seed."""
    return [
        (lambda s: kinit.XavierUniform(seed=s), lambda s: keras.initializers.GlorotUniform(seed=s)),
        (lambda s: kinit.HeUniform(seed=s), lambda s: keras.initializers.HeUniform(seed=s)),
        (
            lambda s: kinit.HeNormal(seed=s),
            lambda s: keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", s),
        ),
        (
            lambda s: kinit.XavierNormal(seed=s),
            lambda s: keras.initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal", s),
        ),
        (
            lambda s: kinit.LeCunNormal(seed=s),
            lambda s: keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal", s),
        ),
    ]


@pytest.mark.parametrize("twins", _keras_twins(), ids=["xu", "hu", "hn", "xn", "ln"])
def test_seeds_behave_as_in_keras_initializers(twins):
    ours, theirs = twins
    # An integer seed: the same values at every call, equal to Keras's with that seed.
    mine = ours(7)
    first = _np(mine(SHAPE))
    np.testing.assert_array_equal(first, _np(mine(SHAPE)))
    np.testing.assert_allclose(first, _np(theirs(7)(SHAPE)), rtol=1e-6)
    assert not np.array_equal(first, _np(ours(8)(SHAPE)))
    # A SeedGenerator: new values at each call, the same sequence as Keras's.
    mine = ours(keras.random.SeedGenerator(3))
    keras_init = theirs(keras.random.SeedGenerator(3))
    draws = [_np(mine(SHAPE)) for _ in range(2)]
    assert not np.array_equal(draws[0], draws[1])
    for draw in draws:
        np.testing.assert_allclose(draw, _np(keras_init(SHAPE)), rtol=1e-6)


def test_unseeded_initializers_pick_a_seed_once_from_python_random():
    init = kinit.HeNormal()
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(init(SHAPE)))
    assert not np.array_equal(_np(init(SHAPE)), _np(kinit.HeNormal()(SHAPE)))
    assert init.get_config()["seed"] is None
    # keras.utils.set_random_seed(s) seeds Python's random (it also imports TensorFlow, slow
    # on the JAX backend, so the test seeds Python's random directly), as for Keras's own.
    draws = []
    for make in (kinit.XavierUniform, kinit.XavierUniform, keras.initializers.GlorotUniform):
        random.seed(5)
        draws.append(_np(make()(SHAPE)))
    np.testing.assert_array_equal(draws[0], draws[1])
    np.testing.assert_allclose(draws[0], draws[2], rtol=1e-6)


def test_a_seed_generator_survives_the_config():
    init = kinit.TorchDefault(seed=keras.random.SeedGenerator(9))
    config = init.get_config()
    json.dumps(config)
    clone = kinit.TorchDefault.from_config(config)
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(clone(SHAPE)))


# ---------------------------------------------------------------------------------------
# Shapes, dtypes, Zeros, arguments.

ALL = {
    "Zeros": lambda: kinit.Zeros(),
    "XavierUniform": lambda: kinit.XavierUniform(gain=2.0, seed=1),
    "XavierNormal": lambda: kinit.XavierNormal(gain=0.5, seed=2),
    "HeUniform": lambda: kinit.HeUniform("fan_out", "leaky_relu", 0.1, seed=3),
    "HeNormal": lambda: kinit.HeNormal(nonlinearity="selu", seed=4),
    "LeCunNormal": lambda: kinit.LeCunNormal(seed=5),
    "TorchDefault": lambda: kinit.TorchDefault(seed=6),
    "TorchDefault-bias": lambda: kinit.TorchDefault(fan_in=12, seed=7),
}
RANDOM = [name for name in ALL if name != "Zeros"]


@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
@pytest.mark.parametrize("name", ALL)
def test_dtype_is_respected(name, dtype):
    values = ALL[name]()(SHAPE, dtype=dtype)
    assert keras.backend.standardize_dtype(values.dtype) == (dtype or keras.config.floatx())
    assert tuple(values.shape) == SHAPE


@pytest.mark.parametrize("shape", [(), (4,), (3, 2), (2, 3, 4)])
def test_zeros_are_zeros(shape):
    for dtype in ("float32", "float64"):
        values = _np(kinit.Zeros()(shape, dtype=dtype))
        assert values.shape == shape and values.dtype == np.dtype(dtype)
        assert not values.any()


@pytest.mark.parametrize("shape", [(), (7,)])
@pytest.mark.parametrize("name", [n for n in RANDOM if n != "TorchDefault-bias"])
def test_rank_0_and_1_shapes_have_no_fans(name, shape):
    with pytest.raises(ValueError, match="Argument `shape` must be of rank >= 2"):
        ALL[name]()(shape)
    with pytest.raises(ValueError, match="Argument `shape` must be of rank >= 2"):
        kinit.compute_fans(shape)


def test_torch_default_with_fan_in_initialises_a_bias():
    with pytest.raises(ValueError, match="fan_in"):
        kinit.TorchDefault()((10,))
    init = kinit.TorchDefault(fan_in=9, seed=3)
    assert init.limit((10,)) == pytest.approx(1 / 3)
    values = _np(init((10_000,), dtype="float64"))
    assert np.abs(values).max() <= 1 / 3
    assert np.abs(values).max() > (1 / 3) * (1 - 2e-3)
    assert _np(init((), dtype="float64")).shape == ()


@pytest.mark.parametrize("name", RANDOM)
def test_empty_shapes_give_empty_tensors(name):
    assert tuple(ALL[name]()((0, 5)).shape) == (0, 5)
    assert tuple(ALL[name]()((3, 0, 4)).shape) == (3, 0, 4)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: kinit.XavierUniform(gain=0.0), "Argument `gain` must be > 0. Received: gain=0.0"),
        (lambda: kinit.XavierNormal(gain=-1), "Argument `gain` must be > 0"),
        (lambda: kinit.XavierNormal(gain=math.nan), "Argument `gain` must be a real number"),
        (lambda: kinit.XavierNormal(gain=math.inf), "Argument `gain` must be a finite real"),
        (lambda: kinit.HeUniform(mode="fan_avg"), "Argument `mode` must be one of 'fan_in'"),
        (lambda: kinit.HeNormal(nonlinearity="gelu"), "Argument `nonlinearity` must be one"),
        (lambda: kinit.HeNormal(negative_slope=0.2), "Argument `negative_slope` must be 0.0"),
        (
            lambda: kinit.HeUniform(nonlinearity="leaky_relu", negative_slope=math.nan),
            "Argument `negative_slope` must be a finite real number",
        ),
        (lambda: kinit.TorchDefault(fan_in=0), "Argument `fan_in` must be an integer >= 1"),
        (lambda: kinit.TorchDefault(fan_in=2.5), "Argument `fan_in` must be an integer >= 1"),
        (lambda: kinit.LeCunNormal(seed=-1), "Argument `seed` must be None, a keras.random"),
        (lambda: kinit.LeCunNormal(seed=2**32), "Argument `seed` must be"),
        (lambda: kinit.HeNormal(seed=1.5), "Argument `seed` must be"),
        (lambda: kinit.HeNormal(seed="1"), "Argument `seed` must be"),
        (lambda: kinit.HeNormal(seed=True), "Argument `seed` must be"),
    ],
)
def test_invalid_arguments_raise_in_the_constructor(make, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_negative_slope_is_accepted_with_leaky_relu():
    init = kinit.HeNormal(nonlinearity="leaky_relu", negative_slope=-0.3)
    assert init.stddev((10, 4)) == pytest.approx(math.sqrt(2 / 1.09) / math.sqrt(10))


# ---------------------------------------------------------------------------------------
# Serialization and use in models.


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip(name):
    init = ALL[name]()
    config = init.get_config()
    assert json.loads(json.dumps(config)) == config
    clone = type(init).from_config(config)
    assert clone.get_config() == config
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(again) is type(init) and again.get_config() == config
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(clone(SHAPE)))
    np.testing.assert_array_equal(_np(init(SHAPE)), _np(again(SHAPE)))


def _model(seed):
    """A model with one Dense branch per initializer, and TorchDefault biases."""
    inputs = keras.Input((12,))
    branches = []
    for i, make in enumerate(ALL.values()):
        branches.append(
            keras.layers.Dense(
                4,
                activation="tanh",
                kernel_initializer=make(),
                bias_initializer=kinit.TorchDefault(fan_in=12, seed=seed + 100 + i),
                name=f"branch{i}",
            )(inputs)
        )
    outputs = keras.layers.Dense(1, kernel_initializer=kinit.XavierUniform(seed=seed))(
        keras.layers.Concatenate()(branches)
    )
    return keras.Model(inputs, outputs)


def test_model_survives_save_and_load_without_custom_objects(tmp_path):
    model = _model(seed=1)
    x = np.random.default_rng(0).normal(size=(16, 12)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_np(model(x)), _np(loaded(x)))
    for layer, twin in zip(model.layers, loaded.layers, strict=True):
        if isinstance(layer, keras.layers.Dense):
            assert type(twin.kernel_initializer) is type(layer.kernel_initializer)
            assert twin.kernel_initializer.get_config() == layer.kernel_initializer.get_config()
            assert twin.bias_initializer.get_config() == layer.bias_initializer.get_config()


def test_a_dense_layer_with_each_initializer_builds_and_trains():
    model = _model(seed=2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = np.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    before = {layer.name: _np(layer.kernel).copy() for layer in model.layers if layer.weights}
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]
    for layer in model.layers:
        if layer.weights:
            assert not np.array_equal(before[layer.name], _np(layer.kernel)), layer.name
