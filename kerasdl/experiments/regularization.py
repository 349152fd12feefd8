"""``kerasdl experiment regularization``: L1, L2, dropout and batch norm side by side (3.4).

Variants trained from the same seed (same initial weights, data split and order), each the
baseline plus one thing::

    baseline    784-256-ReLU-128-ReLU-10, no penalty, no dropout, no batch norm
    l1          + L1 penalty   l1 * sum |w|   on every Dense kernel     (3.4.2)
    l2          + L2 penalty   l2 * sum w^2   on every Dense kernel     (3.4.3)
    dropout     + Dropout(p) after the first hidden layer's ReLU        (3.4.4)
    batchnorm   + BatchNormalization after the first hidden Dense       (3.4.5)

(the preset's places for dropout and batch norm). The optimizer is the preset's AdamW with
``weight_decay=0``, so the only penalty a variant has is the one measured; a constant
learning rate, early stopping off.

From each run's ``last.keras`` (the last epoch), loaded with `kerasdl.load_model`:

- the cross-entropy and accuracy on the training and validation sets in inference mode
  (``training=False``; the running training metrics are measured with dropout on), and the
  gap between them. Losses here are the data term alone: Keras adds the penalty to ``loss``
  and ``val_loss`` (``model.losses``), so the plot's val_loss per epoch subtracts the penalty
  measured at the end of each epoch;
- the share of near-zero kernel weights, ``|w| < near_zero``, per Dense layer and overall,
  also for the initial weights;
- dropout (think-question 2), on one validation batch ``x``: the dropout layer's input
  ``a`` (after ReLU) and its outputs: ``training=True`` over several calls differs call to
  call, zeros about a share ``p`` of the active units and scales the kept ones by
  ``1 / (1 - p)`` (inverted dropout), so the mean of many calls approaches the
  ``training=False`` output, which is ``a`` itself and the same every call;
- batch norm (think-question 3), on the same batch: the batch mean and (biased) variance of
  the layer's input ``h`` against the layer's moving mean and variance, and the largest
  difference between ``training=True`` (normalised with the batch's statistics) and
  ``training=False`` (with the moving ones) outputs::

      training:   y = gamma * (h - mean_B) / sqrt(var_B + eps) + beta
      inference:  y = gamma * (h - moving_mean) / sqrt(moving_var + eps) + beta

References:
    - [Srivastava et al. (2014), Dropout](https://jmlr.org/papers/v15/srivastava14a.html)
    - [Ioffe & Szegedy (2015), Batch Normalization](https://arxiv.org/abs/1502.03167)
    - [Keras BatchNormalization](https://keras.io/api/layers/normalization_layers/batch_normalization/)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from kerasdl.experiments import _runs

__all__ = ["VARIANTS", "RegularizationResult", "VariantResult", "run"]

#: Every variant, in the order they train and print.
VARIANTS = ("baseline", "l1", "l2", "dropout", "batchnorm")
#: Training-mode calls of the dropout layer whose mean is compared with inference (1, 10, ...).
DROPOUT_CALLS = (1, 10, 100)
#: Examples a forward pass in inference mode takes at once.
_CHUNK = 1000

EXPERIMENT = "regularization"


@dataclasses.dataclass
class VariantResult:
    """One variant's run and its measurements (from ``last.keras``).

    Attributes:
        name: ``baseline``, ``l1``, ``l2``, ``dropout`` or ``batchnorm``.
        description: What it adds to the baseline, in words.
        run_id, run_dir, status: The run.
        train_loss, train_accuracy: Cross-entropy (no penalty) and accuracy on the training
            set, in inference mode.
        val_loss, val_accuracy: The same on the validation set.
        gap_loss: ``val_loss - train_loss``.
        gap_accuracy: ``train_accuracy - val_accuracy``.
        penalty: The weight penalty at the end (``sum(model.losses)``; 0 without one).
        test_accuracy: The runner's test accuracy (best epoch by ``val_loss``, penalty
            included).
        near_zero: ``{layer: share of |w| < near_zero}`` per Dense kernel, and ``"all"``.
        mean_abs_weight: ``{layer: mean |w|}`` per Dense kernel, and ``"all"``.
        curves: Per epoch ``[[epoch, value], ...]``: ``val_loss`` (as logged, penalty
            included), ``val_data_loss`` (penalty subtracted), ``val_accuracy``, ``penalty``.
    """

    name: str
    description: str
    run_id: str
    run_dir: str
    status: str
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    gap_loss: float
    gap_accuracy: float
    penalty: float
    test_accuracy: float | None
    near_zero: dict[str, float]
    mean_abs_weight: dict[str, float]
    curves: dict[str, list[list[float]]]


@dataclasses.dataclass
class RegularizationResult:
    """What ``kerasdl experiment regularization`` measured (``to_dict()`` is its ``--json``).

    Attributes:
        experiment: ``"regularization"``.
        stamp: The invocation's stamp: every run is ``<stamp>-regularization-<variant>``.
        runs_dir: The runs folder.
        settings: Data, seed, epochs, strengths, optimizer, near-zero threshold, probe batch.
        notes: What the comparison holds fixed and how it measures, in words.
        variants: One `VariantResult` per variant trained.
        initial_near_zero: The near-zero shares of the initial weights (the same for every
            variant: one seed).
        initial_mean_abs_weight: The initial weights' mean |w| per layer and ``"all"``.
        dropout: The dropout probe (None without the dropout variant), see `_dropout_probe`.
        batchnorm: The batch-norm probe (None without the batchnorm variant), see
            `_batchnorm_probe`.
        reading: One-line readings computed from the numbers.
        compare_command: The ``kerasdl runs compare`` command that overlays the runs.
    """

    experiment: str
    stamp: str
    runs_dir: str
    settings: dict
    notes: list[str]
    variants: list[VariantResult]
    initial_near_zero: dict[str, float]
    initial_mean_abs_weight: dict[str, float]
    dropout: dict | None
    batchnorm: dict | None
    reading: list[str]
    compare_command: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run(
    *,
    l1: float = 1e-4,
    l2: float = 1e-4,
    dropout: float = 0.5,
    batchnorm: bool = True,
    epochs: int = 10,
    near_zero: float = 1e-3,
    data: str = "mnist-mini",
    data_dir: str | None = None,
    seed: int = 42,
    limit: int | None = None,
    runs_dir: str | Path = "runs",
    progress: Callable[[str], None] | None = None,
) -> RegularizationResult:
    """Train the variants side by side and measure what each regularizer does.

    Args:
        l1: The L1 factor (0: no ``l1`` variant). Defaults to 1e-4.
        l2: The L2 factor (0: no ``l2`` variant). Defaults to 1e-4.
        dropout: The drop probability ``p`` of the ``dropout`` variant, in [0, 1) (0: no
            variant). Defaults to 0.5.
        batchnorm: Train the ``batchnorm`` variant. Defaults to True.
        epochs: Epochs per variant. Defaults to 10.
        near_zero: The threshold of a near-zero weight, ``|w| < near_zero``. Defaults to 1e-3.
        data: ``"mnist-mini"`` (default) or ``"mnist"``.
        data_dir: Where MNIST is (``data.data_dir``); None: the usual search.
        seed: The seed of every run. Defaults to 42.
        limit: ``data.limit``: at most this many training and test examples. Defaults to all.
        runs_dir: The runs folder. Defaults to ``"runs"``.
        progress: A callable for one-line progress notes, or None.

    Returns:
        A `RegularizationResult`.
    """
    import kerasdl
    from kerasdl import data as kdata
    from kerasdl.models import build_model

    if not (l1 >= 0 and l2 >= 0 and 0 <= dropout < 1 and near_zero > 0 and epochs >= 1):
        raise ValueError(
            f"need l1 >= 0, l2 >= 0, 0 <= dropout < 1, near_zero > 0, epochs >= 1; got "
            f"l1={l1}, l2={l2}, dropout={dropout}, near_zero={near_zero}, epochs={epochs}"
        )
    plan = _plan(l1=l1, l2=l2, dropout=dropout, batchnorm=batchnorm)
    stamp = _runs.new_stamp()
    base = {
        "model.batch_norm": [False, False],
        "model.dropout": [0.0, 0.0],
        "model.regularizer": "none",
        "model.l1": 0.0,
        "model.l2": 0.0,
        "optimizer.name": "adamw",
        "optimizer.weight_decay": 0.0,
    }
    configs = {}
    for name, (overrides, _) in plan.items():
        configs[name] = _runs.experiment_config(
            data=data,
            data_dir=data_dir,
            seed=seed,
            epochs=epochs,
            limit=limit,
            runs_dir=runs_dir,
            overrides={
                **base,
                **overrides,
                "run_name": _runs.run_name(stamp, EXPERIMENT, name),
            },
        )

    trained = {}
    penalties = {}
    for name, config in configs.items():
        tracker = _penalty_tracker()
        trained[name] = _runs.train_variant(config, name, progress=progress, callbacks=[tracker])
        penalties[name] = tracker.values

    if progress is not None:
        progress("measuring the trained models")
    kerasdl.register_all()
    first = next(iter(configs.values()))
    dataset = kdata.load_dataset(first)
    keras.utils.set_random_seed(seed)
    initial = _kernels(build_model(configs["baseline"], dataset))
    probe = dataset.x_val[: first.batch_size]
    models = {
        name: kerasdl.load_model(run_.run_dir / "last.keras", compile=False)
        for name, run_ in trained.items()
    }
    variants = [
        _measure(
            name,
            plan[name][1],
            trained[name],
            models[name],
            dataset,
            penalties[name],
            near_zero,
        )
        for name in configs
    ]
    dropout_probe = (
        _dropout_probe(models["dropout"], probe, "dropout_1") if "dropout" in models else None
    )
    bn_probe = (
        _batchnorm_probe(models["batchnorm"], probe, "batch_norm_1")
        if "batchnorm" in models
        else None
    )
    settings = {
        "data": data,
        "limit": limit,
        "seed": seed,
        "epochs": epochs,
        "batch_size": first.batch_size,
        "hidden": list(first.model.hidden),
        "l1": l1,
        "l2": l2,
        "dropout": dropout,
        "batchnorm": batchnorm,
        "near_zero": near_zero,
        "optimizer": {
            "name": "adamw",
            "learning_rate": first.optimizer.learning_rate,
            "weight_decay": 0.0,
        },
        "probe": {"source": "validation", "first": len(probe)},
    }
    notes = [
        "same seed: same initial weights, data split and order for every variant",
        "AdamW with weight_decay 0: the only penalty is the variant's own; constant lr, "
        "no early stopping",
        "losses: cross-entropy without the penalty, in inference mode, from last.keras",
        "gap: val_loss - train_loss and train_acc - val_acc",
    ]
    result = RegularizationResult(
        experiment=EXPERIMENT,
        stamp=stamp,
        runs_dir=str(runs_dir),
        settings=settings,
        notes=notes,
        variants=variants,
        initial_near_zero=_shares(initial, near_zero),
        initial_mean_abs_weight=_mean_abs(initial),
        dropout=dropout_probe,
        batchnorm=bn_probe,
        reading=[],
        compare_command=_runs.compare_command([run_.run_id for run_ in trained.values()], runs_dir),
    )
    result.reading = reading(result)
    return result


def _plan(*, l1, l2, dropout, batchnorm) -> dict[str, tuple[dict, str]]:
    """``{variant: (config overrides, description)}`` of the variants to train."""
    plan = {"baseline": ({}, "no penalty, dropout or batch norm")}
    if l1 > 0:
        plan["l1"] = ({"model.regularizer": "l1", "model.l1": l1}, f"L1 {l1:g}")
    if l2 > 0:
        plan["l2"] = ({"model.regularizer": "l2", "model.l2": l2}, f"L2 {l2:g}")
    if dropout > 0:
        plan["dropout"] = ({"model.dropout": [dropout, 0.0]}, f"p={dropout:g} after relu_1")
    if batchnorm:
        plan["batchnorm"] = ({"model.batch_norm": [True, False]}, "after dense_1")
    return plan


def _penalty_tracker():
    """A callback that records ``sum(model.losses)`` (the weight penalty) after each epoch."""

    class PenaltyTracker(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.values = []

        def on_epoch_end(self, epoch, logs=None):
            losses = self.model.losses
            total = float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in losses))
            self.values.append((epoch + 1, total))

    return PenaltyTracker()


def _numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _logits(model, x) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode, in chunks."""
    parts = [_numpy(model(x[i : i + _CHUNK], training=False)) for i in range(0, len(x), _CHUNK)]
    return np.concatenate(parts).astype(np.float64)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy of ``logits`` for integer ``labels`` (float64, NumPy)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def _kernels(model) -> dict[str, np.ndarray]:
    """``{layer name: kernel}`` of every Dense layer, in order."""
    return {
        layer.name: _numpy(layer.kernel)
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    }


def _shares(kernels: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """Share of ``|w| < threshold`` per kernel and over all of them (``"all"``)."""
    shares = {name: float(np.mean(np.abs(w) < threshold)) for name, w in kernels.items()}
    flat = np.concatenate([w.ravel() for w in kernels.values()])
    shares["all"] = float(np.mean(np.abs(flat) < threshold))
    return shares


def _mean_abs(kernels: dict[str, np.ndarray]) -> dict[str, float]:
    means = {name: float(np.mean(np.abs(w))) for name, w in kernels.items()}
    means["all"] = float(np.mean(np.abs(np.concatenate([w.ravel() for w in kernels.values()]))))
    return means


def _measure(name, description, trained, model, dataset, penalties, near_zero) -> VariantResult:
    train_logits = _logits(model, dataset.x_train)
    val_logits = _logits(model, dataset.x_val)
    y_train = np.asarray(dataset.y_train)
    y_val = np.asarray(dataset.y_val)
    train_loss = cross_entropy(train_logits, y_train)
    val_loss = cross_entropy(val_logits, y_val)
    train_acc = float(np.mean(train_logits.argmax(axis=1) == y_train))
    val_acc = float(np.mean(val_logits.argmax(axis=1) == y_val))
    kernels = _kernels(model)
    penalty_at = dict(penalties)
    logged = trained.curve("val_loss")
    curves = {
        "val_loss": [[e, v] for e, v in logged],
        "val_data_loss": [[e, v - penalty_at.get(e, 0.0)] for e, v in logged],
        "val_accuracy": [[e, v] for e, v in trained.curve("val_accuracy")],
        "penalty": [[e, v] for e, v in penalties],
    }
    penalty = float(sum(float(_numpy(loss)) for loss in model.losses))
    return VariantResult(
        name=name,
        description=description,
        run_id=trained.run_id,
        run_dir=str(trained.run_dir),
        status=trained.summary.status,
        train_loss=train_loss,
        train_accuracy=train_acc,
        val_loss=val_loss,
        val_accuracy=val_acc,
        gap_loss=val_loss - train_loss,
        gap_accuracy=train_acc - val_acc,
        penalty=penalty,
        test_accuracy=(trained.summary.test or {}).get("accuracy"),
        near_zero=_shares(kernels, near_zero),
        mean_abs_weight=_mean_abs(kernels),
        curves=curves,
    )


def _forward_to(model, x, name: str, *, training: bool = False):
    """The input of the layer ``name`` (the outputs of the layers before it) for ``x``."""
    for layer in model.layers:
        if layer.name == name:
            return x
        x = layer(x, training=training)
    raise ValueError(f"the model has no layer {name!r}")


def _dropout_probe(model, x, layer_name: str) -> dict:
    """Dropout's training-mode outputs against its inference output on one batch.

    Returns a dict with:
        ``rate``: the layer's drop probability p;
        ``units_active``: the share of the layer's inputs that are > 0 (after ReLU);
        ``inference_max_abs_diff``: max |difference| between two ``training=False`` calls;
        ``training_max_abs_diff``: the same between two ``training=True`` calls;
        ``training_changed_share``: the share of active units whose output differs between
            those two training calls;
        ``zero_share``: the share of zeros among active units' training outputs (all calls);
        ``kept_scale_max_error``: max |kept output * (1 - p) - input| (inverted dropout);
        ``inference_is_input_max_error``: max |inference output - input|;
        ``mean_relative_error``: ``{K: ||mean of K training outputs - inference||_1 /
            ||inference||_1}`` for K in `DROPOUT_CALLS`;
        ``logits_max_abs_diff``: max |logits(training=True) - logits(training=False)|;
        ``predictions_changed``: the share of the batch whose predicted class differs
            between one training-mode call and inference.
    """
    layer = model.get_layer(layer_name)
    rate = float(layer.rate)
    a = _numpy(_forward_to(model, x, layer_name))
    inference = [_numpy(layer(a, training=False)) for _ in range(2)]
    calls = [_numpy(layer(a, training=True)) for _ in range(max(DROPOUT_CALLS))]
    active = a > 0
    stacked = np.stack(calls)
    zero_share = float(np.mean(stacked[:, active] == 0))
    kept = stacked[:, active] != 0
    scaled = stacked[:, active] * (1.0 - rate) - a[active][None, :]
    mean_errors = {}
    norm = float(np.abs(inference[0]).sum())
    for k in DROPOUT_CALLS:
        mean_k = stacked[:k].mean(axis=0)
        mean_errors[str(k)] = float(np.abs(mean_k - inference[0]).sum() / norm)
    logits_train = _numpy(model(x, training=True))
    logits_inf = _numpy(model(x, training=False))
    return {
        "layer": layer_name,
        "rate": rate,
        "batch": len(x),
        "units_active": float(np.mean(active)),
        "inference_max_abs_diff": float(np.max(np.abs(inference[0] - inference[1]))),
        "training_max_abs_diff": float(np.max(np.abs(calls[0] - calls[1]))),
        "training_changed_share": float(np.mean(calls[0][active] != calls[1][active])),
        "zero_share": zero_share,
        "kept_scale_max_error": float(np.max(np.abs(scaled[kept]))) if kept.any() else 0.0,
        "inference_is_input_max_error": float(np.max(np.abs(inference[0] - a))),
        "mean_relative_error": mean_errors,
        "logits_max_abs_diff": float(np.max(np.abs(logits_train - logits_inf))),
        "predictions_changed": float(
            np.mean(logits_train.argmax(axis=1) != logits_inf.argmax(axis=1))
        ),
    }


def _batchnorm_probe(model, x, layer_name: str) -> dict:
    """Batch norm's batch statistics against its moving statistics on one batch.

    The moving statistics are read and the inference output computed before any
    ``training=True`` call (which updates the moving statistics).

    Returns a dict with:
        ``units``, ``batch``: the layer's width and the batch size;
        ``mean_abs_diff_mean``, ``max_abs_diff_mean``: mean and max over units of
            |batch mean - moving mean|;
        ``mean_abs_diff_var``, ``max_abs_diff_var``: the same for the (biased) batch
            variance against the moving variance;
        ``mean_rel_diff_var``: mean |batch var / moving var - 1|;
        ``output_max_abs_diff``, ``output_mean_abs_diff``: |BN(h, training=True) -
            BN(h, training=False)|;
        ``training_formula_max_error``, ``inference_formula_max_error``: max |output -
            formula| with the batch's and with the moving statistics;
        ``logits_max_abs_diff``: max |logits(training=True) - logits(training=False)|;
        ``predictions_changed``: the share of the batch whose predicted class differs.
    """
    layer = model.get_layer(layer_name)
    h = _numpy(_forward_to(model, x, layer_name)).astype(np.float64)
    moving_mean = _numpy(layer.moving_mean).astype(np.float64)
    moving_var = _numpy(layer.moving_variance).astype(np.float64)
    gamma = _numpy(layer.gamma).astype(np.float64)
    beta = _numpy(layer.beta).astype(np.float64)
    eps = float(layer.epsilon)
    logits_inf = _numpy(model(x, training=False))
    out_inf = _numpy(layer(h.astype("float32"), training=False)).astype(np.float64)
    batch_mean = h.mean(axis=0)
    batch_var = h.var(axis=0)
    out_train = _numpy(layer(h.astype("float32"), training=True)).astype(np.float64)
    logits_train = _numpy(model(x, training=True))
    formula_train = gamma * (h - batch_mean) / np.sqrt(batch_var + eps) + beta
    formula_inf = gamma * (h - moving_mean) / np.sqrt(moving_var + eps) + beta
    diff = np.abs(out_train - out_inf)
    return {
        "layer": layer_name,
        "units": int(h.shape[1]),
        "batch": int(h.shape[0]),
        "momentum": float(layer.momentum),
        "epsilon": eps,
        "mean_abs_diff_mean": float(np.mean(np.abs(batch_mean - moving_mean))),
        "max_abs_diff_mean": float(np.max(np.abs(batch_mean - moving_mean))),
        "mean_abs_diff_var": float(np.mean(np.abs(batch_var - moving_var))),
        "max_abs_diff_var": float(np.max(np.abs(batch_var - moving_var))),
        "mean_rel_diff_var": float(np.mean(np.abs(batch_var / moving_var - 1.0))),
        "output_max_abs_diff": float(diff.max()),
        "output_mean_abs_diff": float(diff.mean()),
        "training_formula_max_error": float(np.max(np.abs(out_train - formula_train))),
        "inference_formula_max_error": float(np.max(np.abs(out_inf - formula_inf))),
        "logits_max_abs_diff": float(np.max(np.abs(logits_train - logits_inf))),
        "predictions_changed": float(
            np.mean(logits_train.argmax(axis=1) != logits_inf.argmax(axis=1))
        ),
    }


def reading(result: RegularizationResult) -> list[str]:
    """A few lines read off the numbers (no canned claims: each names its values)."""
    lines = []
    by_name = {v.name: v for v in result.variants}
    share = {name: v.near_zero["all"] for name, v in by_name.items()}
    threshold = result.settings["near_zero"]
    if "l1" in by_name:
        others = ", ".join(f"{name} {value:.1%}" for name, value in share.items() if name != "l1")
        lines.append(
            f"Weights with |w| < {threshold:g}: l1 {share['l1']:.1%} against {others} "
            f"(initial weights {result.initial_near_zero['all']:.1%})."
        )
    elif "l2" in by_name:
        lines.append(
            f"Weights with |w| < {threshold:g}: l2 {share['l2']:.1%}, baseline "
            f"{share['baseline']:.1%}."
        )
    gaps = sorted(result.variants, key=lambda v: v.gap_loss)
    lines.append(
        "Train/validation loss gap, smallest first: "
        + ", ".join(f"{v.name} {v.gap_loss:.4f}" for v in gaps)
        + "."
    )
    best = max(result.variants, key=lambda v: v.val_accuracy)
    lines.append(f"Highest final val_accuracy: {best.name} ({best.val_accuracy:.4f}).")
    if result.dropout is not None:
        d = result.dropout
        k_last = str(max(DROPOUT_CALLS))
        lines.append(
            f"Dropout: two training-mode calls differ by up to {d['training_max_abs_diff']:.3g}, "
            f"two inference calls by {d['inference_max_abs_diff']:.3g}; zeros among active "
            f"units {d['zero_share']:.3f} (p = {d['rate']:g}); the mean of {k_last} calls is "
            f"{d['mean_relative_error'][k_last]:.1%} off the inference output."
        )
    if result.batchnorm is not None:
        b = result.batchnorm
        lines.append(
            f"Batch norm: batch mean vs moving mean differ by {b['mean_abs_diff_mean']:.3g} on "
            f"average, batch variance vs moving variance by {b['mean_rel_diff_var']:.1%}; "
            f"outputs in training and inference mode differ by up to "
            f"{b['output_max_abs_diff']:.3g}."
        )
    return lines
