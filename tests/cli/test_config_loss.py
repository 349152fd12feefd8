"""``[loss]``'s ``weight`` and ``ignore_index`` for cross-entropy (issue 18): validation against
the dataset's classes, the loss built (PyTorch's ``CrossEntropyLoss`` formula written out in
NumPy below), the preset's loss unchanged without them, and a file's classes checked once it is
loaded, before training.
"""

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl import config as cfg
from kerasdl.cli import app
from kerasdl.config import ConfigError, TrainConfig

runner = CliRunner()


def np_cross_entropy(labels, logits, weight=None, ignore_index=None, eps=0.0):
    """PyTorch's CrossEntropyLoss(weight, ignore_index, label_smoothing=eps), reduction "mean"."""
    logits = np.asarray(logits, "float64")
    num_classes = logits.shape[-1]
    w = np.ones(num_classes) if weight is None else np.asarray(weight, "float64")
    log_q = logits - logits.max(-1, keepdims=True)
    log_q = log_q - np.log(np.exp(log_q).sum(-1, keepdims=True))
    kept = np.ones(len(labels), bool) if ignore_index is None else labels != ignore_index
    safe = np.where(kept, labels, 0)
    nll = -w[safe] * log_q[np.arange(len(labels)), safe]
    smooth = -(w * log_q).sum(-1) / num_classes
    losses = np.where(kept, (1 - eps) * nll + eps * smooth, 0.0)
    return losses.sum() / np.where(kept, w[safe], 0.0).sum()


def _config(**overrides):
    return TrainConfig().override(overrides).validate()


def test_the_named_datasets_classes_are_the_datas():
    from kerasdl.data import IMAGE_DATASETS

    assert {name: classes for name, (_, classes) in IMAGE_DATASETS.items()} == cfg.NUM_CLASSES
    assert set(cfg.NUM_CLASSES) == {n for n, t in cfg.TASKS.items() if t == "classification"}


def test_without_weight_or_ignore_index_the_loss_is_the_presets():
    assert cfg.loss_spec(TrainConfig()) == (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.0},
    )
    smoothed = _config(**{"loss.label_smoothing": 0.1})
    assert cfg.loss_spec(smoothed)[1] == {"from_logits": True, "label_smoothing": 0.1}
    assert "\nweight =" not in TrainConfig().to_toml()  # None: left out


@pytest.mark.parametrize(
    ("fields", "eps"),
    [
        ({"loss.weight": [1, 2, 3, 1, 1, 1, 1, 1, 0.5, 4]}, 0.0),
        ({"loss.ignore_index": 3}, 0.0),
        ({"loss.weight": [1, 2, 3, 1, 1, 1, 0, 1, 0.5, 4], "loss.ignore_index": 9}, 0.2),
    ],
)
def test_weight_and_ignore_index_build_pytorchs_cross_entropy(fields, eps):
    from kerasdl.run.builders import build_loss

    config = _config(**fields, **{"loss.label_smoothing": eps})
    loss = build_loss(config, num_classes=10)
    name, kwargs = cfg.loss_spec(config)
    assert name == "SparseCategoricalCrossentropy" and kwargs["reduction"] == "mean"
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 64)
    labels[:5] = (3, 9, 9, 6, 0)
    logits = rng.normal(size=(64, 10)) * 3
    want = np_cross_entropy(
        labels, logits, fields.get("loss.weight"), fields.get("loss.ignore_index"), eps
    )
    got = float(loss(labels, logits.astype("float32")))
    np.testing.assert_allclose(got, want, rtol=2e-6)
    # The preset's loss (Keras's mean over the batch) differs here: the test can fail.
    preset = build_loss(TrainConfig().override({"loss.label_smoothing": eps}))
    assert abs(float(preset(labels, logits.astype("float32"))) - want) > 1e-3


@pytest.mark.parametrize(
    ("overrides", "field", "got", "allowed"),
    [
        (
            {"loss.weight": [1.0, 2.0]},
            "loss.weight",
            [1.0, 2.0],
            "a list of 10 numbers >= 0, one per class of the 'mnist' dataset",
        ),
        (
            {"data.name": "cifar100", "loss.weight": [1.0] * 10},
            "loss.weight",
            [1.0] * 10,
            "a list of 100 numbers >= 0, one per class of the 'cifar100' dataset",
        ),
        ({"loss.weight": [1.0, -1.0]}, "loss.weight[1]", -1.0, "a number >= 0.0"),
        (
            {"loss.weight": [0.0] * 10},
            "loss.weight",
            [0.0] * 10,
            "none or one number >= 0 per class, not all 0 (PyTorch's mean divides by them)",
        ),
        (
            {"loss.ignore_index": 10},
            "loss.ignore_index",
            10,
            "none or a class index in [0, 10) (the 10 classes of the 'mnist' dataset)",
        ),
        ({"loss.ignore_index": -100}, "loss.ignore_index", -100, "none or an integer in [0, "),
        (
            {"data.name": "regression", "loss.name": "mse", "loss.weight": [1.0]},
            "loss.weight",
            [1.0],
            "unset (none) unless cross_entropy",
        ),
        (
            {"data.name": "regression", "loss.name": "huber", "loss.ignore_index": 0},
            "loss.ignore_index",
            0,
            "unset (none) unless cross_entropy",
        ),
    ],
)
def test_invalid_weight_or_ignore_index_names_field_value_and_allowed(
    overrides, field, got, allowed
):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override(overrides).validate()
    assert info.value.field == field
    assert info.value.got == got
    assert str(info.value).startswith(f"{field}: got {got!r}; allowed: {allowed}")


def test_the_cli_sets_them_and_toml_round_trips():
    config = TrainConfig().override(
        {"loss.weight": "1,1,1,1,1,1,1,1,2,2", "loss.ignore_index": "0"}
    )
    assert config.validate().loss.weight == [1.0] * 8 + [2.0, 2.0]
    assert TrainConfig.from_toml_string(config.to_toml()) == config
    assert TrainConfig().override({"loss.ignore_index": "none"}).loss.ignore_index is None


def test_build_loss_checks_a_files_classes():
    from kerasdl.run.builders import build_loss

    config = _config(**{"loss.weight": [1.0] * 10})
    with pytest.raises(ConfigError, match=r"loss.weight: got .*; allowed: a list of 3 numbers"):
        build_loss(config, num_classes=3)


def test_a_files_classes_are_checked_before_training(tmp_path):
    """A .npz of 3 classes with 2 weights: exit 2 naming the field, before any run directory."""
    rng = np.random.default_rng(0)
    path = tmp_path / "three.npz"
    np.savez(path, x_train=rng.normal(size=(60, 4)), y_train=np.arange(60) % 3)
    runs_dir = tmp_path / "runs"
    args = [
        "train", "--data", str(path), "--runs-dir", str(runs_dir), "--ui", "none",
        "--set", "loss.weight=1,2", "--epochs", "1",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = result.stdout + result.stderr
    assert "loss.weight: got [1.0, 2.0]; allowed: a list of 3 numbers >= 0, one per class" in text
    assert f"in {path}" in text
    assert not any(runs_dir.glob("*/events.jsonl"))


def test_a_kerasdl_train_run_uses_the_weighted_loss(tmp_path):
    import keras

    import kerasdl.losses

    args = [
        "train", "--dataset", "mnist-mini", "--limit", "128", "--epochs", "1",
        "--runs-dir", str(tmp_path), "--run-name", "weighted", "--ui", "none",
        "--set", "loss.weight=1,1,1,1,1,1,1,1,2,2", "--set", "loss.ignore_index=0",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(tmp_path / "weighted" / "last.keras")
    loss = model.loss
    assert isinstance(loss, kerasdl.losses.SparseCategoricalCrossentropy)
    config = loss.get_config()
    assert config["reduction"] == "mean" and config["ignore_index"] == 0
    assert config["weight"] == [1.0] * 8 + [2.0, 2.0]
