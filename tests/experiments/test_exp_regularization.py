"""``kerasdl experiment regularization``: the direction of the chapter's claims (3.4.2-3.4.5,
think-questions 2 and 3) on a tiny seeded setting, checked against NumPy where it is a formula.

One real CLI run (``--json``, 3 epochs on 600 examples, L1 and L2 at 1e-3) is shared: its runs'
``last.keras`` are loaded again here and the near-zero shares, the inference-mode training
metrics, inverted dropout and batch norm's batch statistics are recomputed with NumPy from the
same weights and the same validation batch.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl.cli import app

runner = CliRunner()
VARIANTS = ["baseline", "l1", "l2", "dropout", "batchnorm"]
# The same strength for L1 and L2, ten times the default, so a 3-epoch run shows the direction.
SETTING = ["--epochs", "3", "--limit", "600", "--seed", "3", "--l1", "1e-3", "--l2", "1e-3"]


def _no_traceback(result):
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return text


@pytest.fixture(scope="module")
def cli_json(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("regularization-runs")
    args = ["experiment", "regularization", *SETTING, "--runs-dir", str(runs_dir), "--json"]
    result = runner.invoke(app, args)
    _no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # stdout is the JSON and nothing else


@pytest.fixture(scope="module")
def variants(cli_json):
    return {v["name"]: v for v in cli_json["variants"]}


@pytest.fixture(scope="module")
def models(variants):
    import kerasdl

    return {
        name: kerasdl.load_model(Path(v["run_dir"]) / "last.keras", compile=False)
        for name, v in variants.items()
    }


@pytest.fixture(scope="module")
def dataset(variants):
    from kerasdl.config import TrainConfig
    from kerasdl.data import load_dataset

    config = TrainConfig.from_toml(Path(variants["baseline"]["run_dir"]) / "config.toml")
    return load_dataset(config)


@pytest.fixture(scope="module")
def probe(cli_json, dataset):
    """The validation batch the experiment probed dropout and batch norm with."""
    assert cli_json["settings"]["probe"]["source"] == "validation"
    return dataset.x_val[: cli_json["settings"]["probe"]["first"]].astype(np.float64)


def _weights(model, name):
    layer = model.get_layer(name)
    return [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]


def _np(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


# ----------------------------------------------------------------------------- the JSON


def test_json_has_every_variant_and_field(cli_json, variants):
    assert cli_json["experiment"] == "regularization"
    assert list(variants) == VARIANTS
    stamp = cli_json["stamp"]
    for name, v in variants.items():
        assert v["run_id"] == f"{stamp}-regularization-{name}"
        assert v["status"] == "completed"
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "gap_loss",
                    "gap_accuracy", "penalty", "test_accuracy"):  # fmt: skip
            assert isinstance(v[key], float), key
        assert v["gap_loss"] == pytest.approx(v["val_loss"] - v["train_loss"])
        assert v["gap_accuracy"] == pytest.approx(v["train_accuracy"] - v["val_accuracy"])
        assert set(v["near_zero"]) == {"dense_1", "dense_2", "logits", "all"}
        assert [e for e, _ in v["curves"]["val_data_loss"]] == [1, 2, 3]
    settings = cli_json["settings"]
    assert settings["optimizer"] == {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.0}
    assert settings["l1"] == settings["l2"] == 1e-3 and settings["dropout"] == 0.5
    for key in ("zero_share", "training_max_abs_diff", "inference_max_abs_diff",
                "mean_relative_error", "rate"):  # fmt: skip
        assert key in cli_json["dropout"]
    for key in ("mean_abs_diff_mean", "max_abs_diff_var", "output_max_abs_diff"):
        assert key in cli_json["batchnorm"]
    assert cli_json["reading"] and "kerasdl runs compare" in cli_json["compare_command"]


def test_only_the_penalty_variants_have_a_penalty(variants):
    assert variants["baseline"]["penalty"] == variants["dropout"]["penalty"] == 0.0
    assert variants["l1"]["penalty"] > 0 and variants["l2"]["penalty"] > 0
    # The logged val_loss includes the penalty (Keras adds model.losses); the data loss not.
    for name in ("l1", "l2"):
        curves = variants[name]["curves"]
        logged = dict(map(tuple, curves["val_loss"]))
        penalty = dict(map(tuple, curves["penalty"]))
        for epoch, value in curves["val_data_loss"]:
            assert value == pytest.approx(logged[epoch] - penalty[epoch])
            assert penalty[epoch] > 0


# ----------------------------------------------------------------------------- L1 against L2


def test_near_zero_shares_match_numpy(cli_json, variants, models):
    threshold = cli_json["settings"]["near_zero"]
    for name, model in models.items():
        kernels = {n: _weights(model, n)[0] for n in ("dense_1", "dense_2", "logits")}
        for layer, kernel in kernels.items():
            assert variants[name]["near_zero"][layer] == pytest.approx(
                np.mean(np.abs(kernel) < threshold)
            )
        flat = np.concatenate([k.ravel() for k in kernels.values()])
        assert variants[name]["near_zero"]["all"] == pytest.approx(
            np.mean(np.abs(flat) < threshold)
        )


def test_l1_makes_more_weights_near_zero_than_l2_and_baseline(variants, cli_json):
    share = {name: v["near_zero"]["all"] for name, v in variants.items()}
    assert share["l1"] > share["l2"], share
    assert share["l1"] > share["baseline"], share
    assert share["l1"] > cli_json["initial_near_zero"]["all"], share
    assert variants["l1"]["mean_abs_weight"]["all"] < variants["baseline"]["mean_abs_weight"]["all"]


def test_training_metrics_are_measured_in_inference_mode(variants, models, dataset):
    """The baseline MLP forward in NumPy on the training set: the same loss and accuracy."""
    model = models["baseline"]
    h = dataset.x_train.astype(np.float64)
    for name in ("dense_1", "dense_2"):
        kernel, bias = _weights(model, name)
        h = np.maximum(h @ kernel + bias, 0.0)
    kernel, bias = _weights(model, "logits")
    logits = h @ kernel + bias
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    y = dataset.y_train
    assert variants["baseline"]["train_loss"] == pytest.approx(
        -log_p[np.arange(len(y)), y].mean(), rel=1e-4
    )
    assert variants["baseline"]["train_accuracy"] == pytest.approx(
        np.mean(logits.argmax(axis=1) == y), abs=2 / len(y)
    )


# ----------------------------------------------------------------------------- dropout


def test_dropout_varies_in_training_and_not_in_inference(cli_json):
    d = cli_json["dropout"]
    assert d["training_max_abs_diff"] > 0
    assert d["training_changed_share"] > 0.1
    assert d["inference_max_abs_diff"] == 0
    assert abs(d["zero_share"] - d["rate"]) < 0.05
    assert d["kept_scale_max_error"] < 1e-4
    errors = [d["mean_relative_error"][k] for k in ("1", "10", "100")]
    assert errors[0] > errors[1] > errors[2], errors  # the mean approaches inference


def test_dropout_is_inverted_dropout_in_numpy(models, probe):
    """Input a = relu(x W1 + b1) in NumPy; training keeps a / (1 - p) or 0, inference is a."""
    model = models["dropout"]
    layer = model.get_layer("dropout_1")
    p = float(layer.rate)
    kernel, bias = _weights(model, "dense_1")
    a = np.maximum(probe @ kernel + bias, 0.0).astype("float32")
    active = a > 0
    first, second = (_np(layer(a, training=True)) for _ in range(2))
    assert np.any(first != second)
    np.testing.assert_array_equal(_np(layer(a, training=False)), a)
    for out in (first, second):
        kept = out[active] != 0
        assert abs(1 - kept.mean() - p) < 0.05
        np.testing.assert_allclose(out[active][kept], a[active][kept] / (1 - p), rtol=1e-5)
        assert np.all(out[~active] == 0)


# ----------------------------------------------------------------------------- batch norm


def test_batchnorm_statistics_match_numpy(cli_json, models, probe):
    """The BN input h = x W1 + b1, its batch mean and variance in NumPy, against the moving
    statistics the layer keeps: the experiment's numbers, and the chapter's formula."""
    b = cli_json["batchnorm"]
    model = models["batchnorm"]
    layer = model.get_layer("batch_norm_1")
    kernel, bias = _weights(model, "dense_1")
    h = probe @ kernel + bias
    mean_b, var_b = h.mean(axis=0), h.var(axis=0)
    moving_mean, moving_var = _np(layer.moving_mean), _np(layer.moving_variance)
    gamma, beta, eps = _np(layer.gamma), _np(layer.beta), float(layer.epsilon)
    assert b["units"] == h.shape[1] and b["batch"] == h.shape[0]
    assert b["mean_abs_diff_mean"] == pytest.approx(np.mean(np.abs(mean_b - moving_mean)), 1e-4)
    assert b["max_abs_diff_var"] == pytest.approx(np.max(np.abs(var_b - moving_var)), 1e-4)
    inference = _np(layer(h.astype("float32"), training=False))  # before training=True
    training = _np(layer(h.astype("float32"), training=True))
    np.testing.assert_allclose(
        training, gamma * (h - mean_b) / np.sqrt(var_b + eps) + beta, atol=1e-4
    )
    np.testing.assert_allclose(
        inference, gamma * (h - moving_mean) / np.sqrt(moving_var + eps) + beta, atol=1e-4
    )
    assert b["output_max_abs_diff"] == pytest.approx(np.max(np.abs(training - inference)), 1e-3)


def test_batchnorm_training_and_inference_outputs_differ(cli_json):
    b = cli_json["batchnorm"]
    assert b["output_max_abs_diff"] > 1e-2
    assert b["logits_max_abs_diff"] > 0
    assert b["mean_abs_diff_mean"] > 0 and b["mean_abs_diff_var"] > 0
    assert b["training_formula_max_error"] < 1e-4
    assert b["inference_formula_max_error"] < 1e-4


# ----------------------------------------------------------------------------- the CLI


def test_tables_and_plot(cli_json, monkeypatch):
    from kerasdl.experiments import regularization

    result = regularization.RegularizationResult(
        **{
            **cli_json,
            "variants": [regularization.VariantResult(**v) for v in cli_json["variants"]],
        }
    )
    calls = []

    def fake_run(**kwargs):
        calls.append(kwargs)
        return result

    monkeypatch.setattr(regularization, "run", fake_run)
    args = ["experiment", "regularization", "--l2", "0", "--dropout", "0.3", "--no-batchnorm"]
    out = runner.invoke(app, args, env={"COLUMNS": "100"})
    text = _no_traceback(out)
    assert out.exit_code == 0, text
    assert calls[0]["l2"] == 0 and calls[0]["dropout"] == 0.3 and calls[0]["batchnorm"] is False
    for piece in ("Regularization:", "gap", "Share of kernel weights with |w| < 0.001",
                  "Dropout dropout_1", "Batch norm batch_norm_1", "val_loss per epoch",
                  "kerasdl runs compare", *VARIANTS):  # fmt: skip
        assert piece in out.stdout, piece
    for line in cli_json["reading"]:
        assert line in out.stdout, line


def test_a_zero_strength_drops_its_variant():
    from kerasdl.experiments import regularization

    plan = regularization._plan(l1=1e-4, l2=0.0, dropout=0.0, batchnorm=False)
    assert list(plan) == ["baseline", "l1"]
    plan = regularization._plan(l1=0.0, l2=1e-3, dropout=0.2, batchnorm=True)
    assert list(plan) == ["baseline", "l2", "dropout", "batchnorm"]
    assert plan["dropout"][0] == {"model.dropout": [0.2, 0.0]}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dropout", "1"], "--dropout: got 1.0"),
        (["--l1", "-1e-4"], "--l1: got -0.0001"),
        (["--l2", "nan"], "--l2: got nan"),
        (["--near-zero", "0"], "--near-zero: got 0.0"),
        (["--epochs", "0"], "--epochs: got 0"),
        (["--seed", "-1"], "--seed: got -1"),
        (["--data", "regression"], "--data: got 'regression'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    result = runner.invoke(
        app, ["experiment", "regularization", *args, "--runs-dir", str(tmp_path / "runs")]
    )
    text = _no_traceback(result)
    assert result.exit_code == 2, text
    assert "error: " in result.stderr and needle in result.stderr, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "runs").exists()
