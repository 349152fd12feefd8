"""PyTorch's loss options in kerasdl.losses, against PyTorch's goldens and NumPy formulas.

- ``test_options_match_pytorch``: every ``"group": "options"`` case of tests/golden/losses.json
  (made by tests/reference/golden_losses.py from torch 2.13): torch's ``reduction`` names
  ('mean', 'sum', 'none'; 'batchmean'), class ``weight``, ``ignore_index``, ``pos_weight``,
  ``label_smoothing`` with both, ``NLLLoss`` and ``KLDivLoss``; the loss as PyTorch returns it
  (one value per element for 'none') and the gradient of its sum by the backend's autodiff.
  float64 is held to 1e-12 relative (the sums and divisions are the same operations as
  PyTorch's, in another order: rounding differences are ~1e-16 per term); float32 to 1e-5
  (inputs rounded to float32 first, against the exact float64 value: float32's epsilon is 1.2e-7,
  and a log-softmax or a sum over <= 30 terms loses at most a few dozen ulps). The same
  expectation, written out in NumPy below, is checked on the same inputs.
- Keras's reduction names on the same options, and ``sample_weight`` with torch's names,
  against NumPy.
- ``fit`` (also with ``jit_compile``), ``model.save``/``load_model``, configs, bad arguments.
"""

import functools
import json
import re

import goldens
import keras
import numpy as np
import pytest

from kerasdl import losses

BACKEND = keras.backend.backend()
RTOL = {"float64": 1e-12, "float32": 1e-5}
IDS, CASES = goldens.cases("losses")
OPTION_CASES = [case for case in CASES if case["group"] == "options"]
OPTION_IDS = [case["id"] for case in OPTION_CASES]
SPARSE = ("SparseCategoricalCrossentropy", "NLLLoss")


def value_and_grad_of_sum(loss, y_true, y_pred):
    """``loss(y_true, y_pred)`` and the gradient of its sum with respect to ``y_pred``."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        y_pred = tf.convert_to_tensor(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred)
            total = tf.reduce_sum(value)
        return np.asarray(value), np.asarray(tape.gradient(total, y_pred))
    if BACKEND == "jax":
        fn = _jax_value_and_grad(type(loss), json.dumps(loss.get_config()))
        (_, value), grad = fn(y_pred, y_true)
        return np.asarray(value), np.asarray(grad)
    pytest.skip(f"no gradient helper for the {BACKEND} backend")


@functools.cache
def _jax_value_and_grad(cls, config):
    import jax

    loss = cls.from_config(json.loads(config))

    def total(y_pred, y_true):
        value = loss(y_true, y_pred)
        return keras.ops.sum(value), value

    return jax.jit(jax.value_and_grad(total, has_aux=True))


# --------------------------------------------------------------------------- NumPy formulas
# Each returns (loss of every element as PyTorch's 'none' gives it, its count in 'mean').


def np_regression(name, kwargs, t, p):
    x = np.abs(p - t)
    if name == "MeanSquaredError":
        return x**2
    if name == "MeanAbsoluteError":
        return x
    if name == "Huber":
        d = kwargs["delta"]
        return np.where(x < d, 0.5 * x**2, d * (x - 0.5 * d))
    b = kwargs["beta"]
    return x if b == 0 else np.where(x < b, 0.5 * x**2 / b, x - 0.5 * b)


def np_bce(t, p, from_logits=False, weight=None, pos_weight=None):
    w = 1.0 if weight is None else np.asarray(weight)
    if from_logits:  # -log(sigmoid(x)) = log(1 + exp(-x))
        c = 1.0 if pos_weight is None else np.asarray(pos_weight)
        return w * (c * t * np.logaddexp(0.0, -p) + (1 - t) * np.logaddexp(0.0, p))
    return -w * (t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))


def np_log_q(p, from_logits):
    if from_logits:
        z = p - p.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    floored = np.maximum(p, np.exp(-100.0))
    return np.log(floored / floored.sum(axis=-1, keepdims=True))


def np_cce(t, p, from_logits=False, label_smoothing=0.0, weight=None):
    w = np.ones(p.shape[-1]) if weight is None else np.asarray(weight)
    t = (1 - label_smoothing) * t + label_smoothing / p.shape[-1]
    return -(w * t * np_log_q(p, from_logits)).sum(axis=-1)


def np_index(labels, log_q, label_smoothing=0.0, weight=None, ignore_index=None):
    """PyTorch's cross_entropy on class indices, per sample: the loss and the 'mean' count."""
    num_classes = log_q.shape[-1]
    w = np.ones(num_classes) if weight is None else np.asarray(weight)
    labels = np.asarray(labels).astype(int)
    ignored = labels == ignore_index if ignore_index is not None else np.zeros(labels.shape, bool)
    safe = np.where(ignored, 0, labels)
    picked = np.take_along_axis(log_q, safe[..., None], axis=-1)[..., 0]
    nll = -w[safe] * picked
    smooth = -(w * log_q).sum(axis=-1)
    loss = (1 - label_smoothing) * nll + label_smoothing / num_classes * smooth
    return np.where(ignored, 0.0, loss), np.where(ignored, 0.0, w[safe])


def np_kl(t, p, log_target=False):
    if log_target:
        return np.exp(t) * (t - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, t * np.log(t)) - t * p


def np_elements(name, kwargs, t, p):
    """``(values, counts)``: counts is None where every element counts 1."""
    kwargs = {k: v for k, v in kwargs.items() if k != "reduction"}
    if name == "BinaryCrossentropy":
        return np_bce(t, p, **kwargs), None
    if name == "CategoricalCrossentropy":
        return np_cce(t, p, **kwargs), None
    if name == "SparseCategoricalCrossentropy":
        log_q = np_log_q(p, kwargs.pop("from_logits", False))
        return np_index(t, log_q, **kwargs)
    if name == "NLLLoss":
        kwargs.setdefault("ignore_index", -100)
        return np_index(t, p, **kwargs)
    if name == "KLDivLoss":
        return np_kl(t, p, **kwargs), None
    return np_regression(name, kwargs, t, p), None


def np_torch_reduce(values, counts, reduction, sample_weight=None):
    if sample_weight is not None:
        w = np.asarray(sample_weight)
        values = values * w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "batchmean":
        return values.sum() / values.shape[0]
    with np.errstate(invalid="ignore"):
        return values.sum() / (values.size if counts is None else counts.sum())


def inputs(case):
    dtype = case["dtype"]
    label_dtype = "int64" if case["loss"] in SPARSE else dtype
    return np.asarray(case["y_true"], dtype=label_dtype), np.asarray(case["y_pred"], dtype=dtype)


# --------------------------------------------------------------------------- PyTorch goldens


def test_option_goldens_cover_the_brief():
    assert goldens.load("losses")["meta"]["torch_version"].startswith("2.13")
    names = {case["loss"] for case in OPTION_CASES}
    assert len(names) == 9
    assert {case["dtype"] for case in OPTION_CASES} == set(RTOL)
    reductions = {case["kwargs"]["reduction"] for case in OPTION_CASES}
    assert reductions == {"mean", "sum", "none", "batchmean"}
    kwargs = [case["kwargs"] for case in OPTION_CASES]
    for option in ("weight", "pos_weight", "ignore_index", "log_target"):
        assert any(k.get(option) not in (None, False) for k in kwargs), option
    assert any(
        k.get("weight") and k.get("label_smoothing") and k.get("ignore_index") is not None
        for k in kwargs
    )
    assert sum(case["grad"] is None for case in OPTION_CASES) == 8  # the all-ignored NaN cases
    multi_column_sums = [
        c
        for c in OPTION_CASES
        if c["kwargs"]["reduction"] == "sum" and c["loss"] == "MeanSquaredError"
    ]
    assert multi_column_sums and all(np.shape(c["y_pred"])[-1] > 1 for c in multi_column_sums)


@pytest.mark.parametrize("case", OPTION_CASES, ids=OPTION_IDS)
def test_options_match_pytorch(case):
    dtype, rtol = case["dtype"], RTOL[case["dtype"]]
    loss = getattr(losses, case["loss"])(**case["kwargs"], dtype=dtype)
    y_true, y_pred = inputs(case)
    value, grad = value_and_grad_of_sum(loss, y_true, y_pred)
    expected = np.asarray(case["expected"], dtype="float64")

    assert value.dtype == dtype
    assert value.shape == expected.shape
    if case["grad"] is None:  # every target ignored: PyTorch's 'mean' is NaN
        assert np.isnan(value).all() and np.isnan(expected).all()
        return
    atol = rtol * np.abs(expected).max()
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    want = np.asarray(case["grad"])
    np.testing.assert_allclose(grad, want, rtol=rtol, atol=rtol * np.abs(want).max())

    # The formula in NumPy, in float64 on the same inputs: agrees with PyTorch and kerasdl.
    t = y_true if case["loss"] in SPARSE else y_true.astype("float64")
    values, counts = np_elements(case["loss"], case["kwargs"], t, y_pred.astype("float64"))
    reference = np_torch_reduce(values, counts, case["kwargs"]["reduction"])
    np.testing.assert_allclose(reference, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_torch_sum_is_not_divided_by_the_columns():
    """The issue: Keras's per-sample mean made 'sum' PyTorch's sum / D on D columns."""
    t, p = np.zeros((2, 4)), np.ones((2, 4))
    assert float(losses.MeanSquaredError(reduction="sum", dtype="float64")(t, p)) == 8.0
    assert float(losses.BinaryCrossentropy(from_logits=True, reduction="sum")(t, 0 * p)) == (
        pytest.approx(8 * np.log(2.0), rel=1e-6)
    )
    assert np.shape(losses.Huber(reduction="none")(t, p)) == (2, 4)
    assert np.shape(losses.Huber(reduction=None)(t, p)) == (2,)  # Keras's: one per sample


# --------------------------------------------------------------------------- Keras's plumbing

N, D, C = 6, 3, 4
WEIGHT = [0.5, 2.0, 1.0, 0.25]
SPECS = [
    ("MeanSquaredError", {}),
    ("SmoothL1", {"beta": 0.4}),
    ("BinaryCrossentropy", {"weight": [1.0, 0.5, 2.0]}),
    ("BinaryCrossentropy", {"from_logits": True, "pos_weight": [2.0, 1.0, 0.5]}),
    ("CategoricalCrossentropy", {"from_logits": True, "weight": WEIGHT, "label_smoothing": 0.1}),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "weight": WEIGHT, "ignore_index": -1}),
    (
        "SparseCategoricalCrossentropy",
        {"weight": WEIGHT, "ignore_index": 2, "label_smoothing": 0.2},
    ),
    ("NLLLoss", {"weight": WEIGHT}),
    ("KLDivLoss", {}),
    ("KLDivLoss", {"log_target": True}),
]
SPEC_IDS = [f"{name}-{json.dumps(kwargs, sort_keys=True)}" for name, kwargs in SPECS]


def _data(name, kwargs, rng):
    logits = kwargs.get("from_logits", False)
    if name in ("MeanSquaredError", "SmoothL1"):
        t = rng.normal(size=(N, D))
        return t, t + rng.normal(size=(N, D))
    if name == "BinaryCrossentropy":
        p = rng.normal(size=(N, D)) * 3 if logits else rng.uniform(0.02, 0.98, (N, D))
        return rng.integers(0, 2, (N, D)).astype("float64"), p
    if name == "KLDivLoss":
        t = rng.dirichlet(np.ones(C), N)
        p = np.log(rng.dirichlet(np.ones(C), N))
        return (np.log(t) if kwargs.get("log_target") else t), p
    if name == "NLLLoss":
        labels = rng.integers(0, C, N)
        labels[2] = -100
        return labels, np.log(rng.dirichlet(np.ones(C), N))
    p = rng.normal(size=(N, C)) * 2 if logits else rng.dirichlet(np.ones(C), N)
    labels = rng.integers(0, C, N)
    if name == "SparseCategoricalCrossentropy":
        labels[[1, 4]] = kwargs["ignore_index"]
        return labels, p
    return rng.dirichlet(np.ones(C), N), p


def _per_sample(values):
    """Keras's per-sample loss from the element losses: the mean over the last axis."""
    return values if values.ndim == 1 else values.mean(axis=-1)


@pytest.mark.parametrize("name, kwargs", SPECS, ids=SPEC_IDS)
def test_reductions_and_sample_weight_with_options(name, kwargs):
    """Keras's names reduce the per-sample losses as Keras does; PyTorch's as PyTorch does, with
    ``sample_weight`` multiplying each sample's losses (not the denominator)."""
    rng = np.random.default_rng(0)
    t, p = _data(name, kwargs, rng)
    values, counts = np_elements(name, kwargs, t, p)
    per_sample = values.sum(axis=-1) if name == "KLDivLoss" else _per_sample(values)
    weight = rng.uniform(0.1, 2.0, N)
    for sample_weight in (None, weight, weight[:, None]):
        w = np.ones(N) if sample_weight is None else weight
        keras_expected = {
            None: w * per_sample if np.ndim(sample_weight) < 2 else (w * per_sample)[:, None],
            "sum_over_batch_size": (w * per_sample).sum() / N,
            "mean_with_sample_weight": (w * per_sample).sum() / w.sum(),
        }
        torch_reductions = ["mean", "sum", "none"] + (["batchmean"] if name == "KLDivLoss" else [])
        torch_expected = {
            r: np_torch_reduce(values, counts, r, sample_weight=w) for r in torch_reductions
        }
        for reduction, want in {**keras_expected, **torch_expected}.items():
            loss = getattr(losses, name)(**kwargs, reduction=reduction, dtype="float64")
            got = np.asarray(loss(t, p, sample_weight=sample_weight))
            assert got.shape == np.shape(want), (reduction, np.shape(sample_weight))
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=str(reduction))


def test_default_reduction_of_weighted_cross_entropy_is_keras_s():
    """With `weight`, Keras's default divides by N and PyTorch's 'mean' by the summed weights."""
    labels, logits = np.array([0, 1, 1]), np.zeros((3, 2))
    kwargs = {"from_logits": True, "weight": [1.0, 3.0], "dtype": "float64"}
    keras_default = losses.SparseCategoricalCrossentropy(**kwargs)(labels, logits)
    torch_mean = losses.SparseCategoricalCrossentropy(**kwargs, reduction="mean")(labels, logits)
    np.testing.assert_allclose(keras_default, 7 * np.log(2) / 3, rtol=1e-12)
    np.testing.assert_allclose(torch_mean, 7 * np.log(2) / 7, rtol=1e-12)


def test_all_ignored_mean_is_nan_and_sum_is_zero():
    labels, logits = np.array([-100, -100]), np.zeros((2, 3))
    for cls, kwargs in (
        (losses.NLLLoss, {}),
        (losses.SparseCategoricalCrossentropy, {"from_logits": True, "ignore_index": -100}),
    ):
        assert np.isnan(float(cls(**kwargs, reduction="mean")(labels, logits)))
        assert float(cls(**kwargs, reduction="sum")(labels, logits)) == 0.0
        np.testing.assert_array_equal(cls(**kwargs, reduction="none")(labels, logits), [0.0, 0.0])


def test_kl_div_sum_over_batch_size_is_batchmean():
    rng = np.random.default_rng(4)
    t, p = rng.dirichlet(np.ones(C), N), np.log(rng.dirichlet(np.ones(C), N))
    keras_name = losses.KLDivLoss(reduction="sum_over_batch_size", dtype="float64")(t, p)
    batchmean = losses.KLDivLoss(reduction="batchmean", dtype="float64")(t, p)
    np.testing.assert_allclose(keras_name, batchmean, rtol=1e-12)
    np.testing.assert_allclose(batchmean, np_kl(t, p).sum() / N, rtol=1e-12)


# --------------------------------------------------------------------------- arguments

INVALID = [
    (losses.BinaryCrossentropy, {"pos_weight": [1.0]}, "Argument `pos_weight` needs"),
    (losses.BinaryCrossentropy, {"weight": "heavy"}, "Argument `weight` must be an array of"),
    (
        losses.BinaryCrossentropy,
        {"from_logits": True, "pos_weight": [np.nan]},
        "Argument `pos_weight` must be an array of finite real numbers",
    ),
    (losses.CategoricalCrossentropy, {"weight": [[1.0, 2.0]]}, "Argument `weight` must be 1-D"),
    (
        losses.SparseCategoricalCrossentropy,
        {"ignore_index": 1.5},
        "Argument `ignore_index` must be an integer or None. Received: ignore_index=1.5",
    ),
    (losses.NLLLoss, {"ignore_index": "pad"}, "Argument `ignore_index` must be an integer"),
    (losses.KLDivLoss, {"log_target": 1.5}, "Argument `log_target` must be one of False, True"),
    (losses.KLDivLoss, {"reduction": "avg"}, "Invalid value for argument `reduction`"),
    (losses.MeanSquaredError, {"reduction": "batchmean"}, "Invalid value for argument"),
]


@pytest.mark.parametrize("cls, kwargs, message", INVALID, ids=[m[:40] for _, _, m in INVALID])
def test_invalid_arguments_raise_in_init(cls, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(**kwargs)


def test_weight_of_the_wrong_length_raises_at_the_call():
    loss = losses.SparseCategoricalCrossentropy(weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=re.escape("one value per class: 3")):
        loss(np.array([0, 1]), np.full((2, 3), 1 / 3))


# --------------------------------------------------------------------------- configs, fit, save

BCE_KWARGS = {"from_logits": True, "weight": [1.0, 2.0], "pos_weight": [3.0, 0.5]}
CONFIGURED = [
    (losses.BinaryCrossentropy, BCE_KWARGS),
    (losses.CategoricalCrossentropy, {"from_logits": False, "label_smoothing": 0.1, "weight": [1]}),
    (
        losses.SparseCategoricalCrossentropy,
        {"from_logits": True, "label_smoothing": 0.0, "weight": WEIGHT, "ignore_index": -100},
    ),
    (losses.NLLLoss, {"weight": None, "ignore_index": 3}),
    (losses.KLDivLoss, {"log_target": True}),
]


@pytest.mark.parametrize("cls, kwargs", CONFIGURED, ids=[c.__qualname__ for c, _ in CONFIGURED])
@pytest.mark.parametrize("reduction", ["mean", "sum_over_batch_size"])
def test_config_round_trip(cls, kwargs, reduction):
    loss = cls(**kwargs, reduction=reduction, name="custom", dtype="float64")
    config = loss.get_config()
    assert config == {"name": "custom", "reduction": reduction, "dtype": "float64", **kwargs}
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
    assert serialized["registered_name"] == f"kerasdl>{cls.__qualname__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is cls and restored.get_config() == config


FIT_SPECS = [
    ("MeanSquaredError", {"reduction": "sum"}, 3, None),
    (
        "BinaryCrossentropy",
        {
            "from_logits": True,
            "pos_weight": [2.0, 1.0, 0.5],
            "weight": [1.0, 1.0, 3.0],
            "reduction": "mean",
        },
        3,
        None,
    ),
    (
        "SparseCategoricalCrossentropy",
        {
            "from_logits": True,
            "weight": WEIGHT,
            "ignore_index": -1,
            "label_smoothing": 0.1,
            "reduction": "mean",
        },
        C,
        None,
    ),
    ("NLLLoss", {"weight": WEIGHT}, C, "log_softmax"),
    ("KLDivLoss", {"reduction": "batchmean"}, C, "log_softmax"),
]


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize(
    "name, kwargs, units, activation", FIT_SPECS, ids=[s[0] for s in FIT_SPECS]
)
def test_model_trains_saves_and_loads(name, kwargs, units, activation, jit_compile, tmp_path):
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    x = rng.normal(size=(32, 4)).astype("float32")
    if name in SPARSE:
        y = rng.integers(0, C, 32)
        y[::5] = kwargs.get("ignore_index", -100)
    elif name == "KLDivLoss":
        y = rng.dirichlet(np.ones(C), 32).astype("float32")
    elif name == "BinaryCrossentropy":
        y = rng.integers(0, 2, (32, units)).astype("float32")
    else:
        y = (x[:, :units] + 0.1 * rng.normal(size=(32, units))).astype("float32")
    sample_weight = rng.uniform(0.5, 1.5, 32).astype("float32")
    loss = getattr(losses, name)(**kwargs)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation=activation)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, jit_compile=jit_compile)

    before = model.evaluate(x, y, batch_size=32, verbose=0)
    history = model.fit(
        x, y, sample_weight=sample_weight, batch_size=8, epochs=3, shuffle=False, verbose=0
    )
    after = model.evaluate(x, y, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert after < before
    # evaluate's value is the loss on the whole batch, as the loss itself computes it.
    direct = loss(y, model.predict(x, batch_size=32, verbose=0))
    np.testing.assert_allclose(after, float(direct), rtol=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    assert type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, batch_size=32, verbose=0), after, rtol=1e-6)


def test_a_keras_mask_drops_entries_from_the_sum_and_from_torch_s_mean():
    """As Keras's own reductions treat a mask (``sum_over_batch_size``: over the valid entries)."""
    from keras.src.backend import set_keras_mask

    rng = np.random.default_rng(5)
    mask = np.array([[True, True, False], [True, False, False]])
    labels, logits = rng.integers(0, C, (2, 3)), rng.normal(size=(2, 3, C))
    t, p = rng.normal(size=(2, 3, D)), rng.normal(size=(2, 3, D))
    per_sample = np.asarray(losses.sparse_categorical_crossentropy(labels, logits, True))
    squared = (t - p) ** 2
    cases = [
        (losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean", dtype="float64"),
         labels, logits, per_sample[mask].mean()),
        (losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum", dtype="float64"),
         labels, logits, per_sample[mask].sum()),
        (losses.MeanSquaredError(reduction="mean", dtype="float64"), t, p, squared[mask].mean()),
        (losses.MeanSquaredError(reduction="sum", dtype="float64"), t, p, squared[mask].sum()),
        (losses.MeanSquaredError(dtype="float64"), t, p, squared[mask].mean()),  # Keras's
    ]  # fmt: skip
    for loss, y_true, y_pred, want in cases:
        y_pred = keras.ops.convert_to_tensor(y_pred)
        set_keras_mask(y_pred, keras.ops.convert_to_tensor(mask))
        np.testing.assert_allclose(float(loss(y_true, y_pred)), want, rtol=1e-12)
