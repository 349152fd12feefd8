"""MSE, MAE, Huber and SmoothL1 on regression data with outliers (chapter 3.1.2).

The ``regression`` dataset (`kerasdl.data.make_regression`) is ``y = x . w_true + b_true +
noise`` with a fraction of the training targets pushed up by a multiple of ``std(y)`` (the test
targets stay clean). `run` fits a linear model (``model.hidden = []``: one Dense(1)) to it with
each loss through the runner, twice: on the data with outliers and on the same data without them
(``data.outlier_fraction = 0``, the reference), so every fit is an ordinary run directory. Per
loss it reports, from each run's last epoch (``last.keras``)::

    theta = (w, b)                          the fitted parameters
    error = ||theta - theta_true||          against the parameters that made the data
    shift = ||theta_outliers - theta_clean||  how far the outliers moved the fit
    test MSE, test MAE                      of the fit on the clean test points

The chapter's claim: the MSE is sensitive to outliers (its fit moves with them), the MAE is
robust, and Huber / SmoothL1 sit between (quadratic for small residuals, linear for large ones,
so an outlier pulls with a bounded force). The closed-form least-squares solution on the same
training points is reported too: it is where the MSE fit should land.

The parameters are the last epoch's, not ``best.keras``'s: the best epoch is chosen by the
validation loss, and the validation split has outliers of its own, so it would pick a point on
the way rather than where each loss's training converged (the runs' test metrics, as always,
use ``best.keras``).

Every fit uses the same seed, so the same data, initial weights and batch order; Adam with a
cosine-annealed learning rate and no weight decay, early stopping off. TensorFlow and Keras are
imported inside `run`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from kerasdl.config import REGRESSION_LOSSES

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_LOSSES",
    "LossFit",
    "LossesExperiment",
    "parse_losses",
    "run",
]

#: The losses compared by default: every regression loss of `kerasdl.config`.
DEFAULT_LOSSES = tuple(REGRESSION_LOSSES)
#: Adam's initial learning rate (annealed to 0 by a cosine over the epochs).
DEFAULT_LEARNING_RATE = 0.05
EXPERIMENT = "losses"


def parse_losses(text: str) -> list[str]:
    """``"mse,huber"`` -> ``["mse", "huber"]``, checked against `DEFAULT_LOSSES`.

    Args:
        text: Comma-separated names (spaces around them are ignored).

    Raises:
        ValueError: an unknown or repeated name, or an empty list; the message lists the
            valid names.
    """
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    valid = ", ".join(DEFAULT_LOSSES)
    if not names:
        raise ValueError(f"got {text!r}, an empty list; allowed: a comma-separated list of {valid}")
    for name in names:
        if name not in DEFAULT_LOSSES:
            raise ValueError(f"got {name!r}; allowed: {valid}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"got {', '.join(map(repr, repeated))} more than once")
    return names


@dataclasses.dataclass
class LossFit:
    """One loss, fitted with and without the outliers.

    Attributes:
        loss: The config name (``"mse"``, ...).
        run_id, clean_run_id: The run directories' names (with outliers, without).
        weights, bias: The fit with outliers (its last epoch, ``last.keras``).
        clean_weights, clean_bias: The fit without outliers.
        error: ``||theta - theta_true||`` of the fit with outliers (theta = weights and bias).
        clean_error: The same for the fit without outliers.
        shift: ``||theta - theta_clean||``: how far the outliers moved the fit.
        bias_shift: ``bias - clean_bias``.
        test_mse, test_mae: The fit with outliers on the clean test points.
        clean_test_mse, clean_test_mae: The fit without outliers on them.
        val_mae: ``[[epoch, value], ...]`` of the fit with outliers (its validation set has
            outliers too).
        duration_s: Seconds both fits took.
    """

    loss: str
    run_id: str
    clean_run_id: str
    weights: list[float]
    bias: float
    clean_weights: list[float]
    clean_bias: float
    error: float
    clean_error: float
    shift: float
    bias_shift: float
    test_mse: float
    test_mae: float
    clean_test_mse: float
    clean_test_mae: float
    val_mae: list[list[float]]
    duration_s: float


@dataclasses.dataclass
class LossesExperiment:
    """What `run` returns; `to_dict` is what ``--json`` prints.

    Attributes:
        settings: The experiment's options and the training setup (``epochs``,
            ``learning_rate``, ``optimizer``, ``schedule``, ``batch_size``, ``seed``,
            ``delta``, ``beta``, ``outlier_fraction``, ``outlier_scale``, ``limit``,
            ``n_train``, ``n_train_outliers``, ``n_test``, ``runs_dir``, ``backend``).
        true_weights, true_bias: The parameters that generated the data.
        least_squares: The closed-form least-squares fit on the training points with outliers
            and without: ``{"weights", "bias", "error", "clean_weights", "clean_bias",
            "clean_error", "shift"}``.
        fits: One `LossFit` per loss, in the order asked.
        run_ids: Every run made, in order.
        compare_command: A ``kerasdl runs compare`` line that overlays the runs.
    """

    settings: dict
    true_weights: list[float]
    true_bias: float
    least_squares: dict
    fits: list[LossFit]
    run_ids: list[str]
    compare_command: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _theta(weights, bias):
    import numpy as np

    return np.concatenate([np.asarray(weights, np.float64).ravel(), [float(bias)]])


def _distance(a, b) -> float:
    import numpy as np

    return float(np.linalg.norm(a - b))


def _least_squares(x, y):
    """``(w, b)`` minimising ``sum (x w + b - y)^2`` (NumPy's lstsq, float64)."""
    import numpy as np

    design = np.hstack([np.asarray(x, np.float64), np.ones((len(x), 1))])
    solution, *_ = np.linalg.lstsq(design, np.asarray(y, np.float64).ravel(), rcond=None)
    return solution[:-1], float(solution[-1])


def _fitted(run_dir: Path):
    """``(weights, bias)`` of the output Dense layer in ``run_dir/last.keras`` (the last epoch)."""
    import keras

    from kerasdl import runs

    model = keras.saving.load_model(run_dir / runs.LAST_MODEL_FILE, compile=False)
    kernel, bias = model.get_layer("output").get_weights()
    return kernel[:, 0].astype(float), float(bias[0])


def _test_errors(weights, bias, x, y):
    import numpy as np

    residual = np.asarray(x, np.float64) @ np.asarray(weights) + bias - np.ravel(y)
    return float(np.mean(residual**2)), float(np.mean(np.abs(residual)))


def run(
    *,
    losses: Sequence[str] = DEFAULT_LOSSES,
    epochs: int = 30,
    delta: float = 1.0,
    beta: float = 1.0,
    outlier_fraction: float = 0.1,
    outlier_scale: float = 10.0,
    seed: int = 42,
    runs_dir: str | Path = "runs",
    limit: int | None = None,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> LossesExperiment:
    """Fit each loss with and without outliers through the runner (see the module docstring).

    Args:
        losses: Names from `DEFAULT_LOSSES`. Defaults to all four.
        epochs: Epochs of every fit. Defaults to 30.
        delta: Huber's ``delta`` (``loss.delta``). Defaults to 1.0.
        beta: SmoothL1's ``beta`` (``loss.beta``). Defaults to 1.0.
        outlier_fraction: ``data.outlier_fraction`` of the fits with outliers. Defaults to 0.1.
        outlier_scale: ``data.outlier_scale``. Defaults to 10.0.
        seed: The runs' seed (data, initial weights, batch order). Defaults to 42.
        runs_dir: Where the run directories go. Defaults to ``"runs"``.
        limit: ``data.limit`` (at most this many training and test examples). Defaults to None.
        learning_rate: Adam's initial rate. Defaults to `DEFAULT_LEARNING_RATE`.
        batch_size: Defaults to 64.
        progress: Called with one-line notes. Defaults to None.

    Returns:
        A `LossesExperiment`.

    Raises:
        kerasdl.config.ConfigError: an invalid value (checked before anything trains).
        kerasdl.runs.RunError: the runs folder cannot be written.
        ValueError: an unknown loss name.
        RuntimeError: a fit ended with a NaN loss (status ``"nan"``).

    References:
        - [Huber, 1964. Robust Estimation of a Location Parameter](
          https://doi.org/10.1214/aoms/1177703732)
    """
    import time

    import keras

    from kerasdl import runs
    from kerasdl.config import TrainConfig
    from kerasdl.data import load_dataset
    from kerasdl.experiments import _runs

    names = parse_losses(",".join(losses))
    note = progress or (lambda _message: None)
    stamp = _runs.new_stamp()
    base = TrainConfig().override(
        {
            "seed": seed,
            "epochs": epochs,
            "batch_size": batch_size,
            "runs_dir": str(runs_dir),
            "data.name": "regression",
            "data.limit": limit,
            "data.outlier_scale": float(outlier_scale),
            "model.hidden": [],
            "model.batch_norm": [],
            "model.dropout": [],
            "loss.delta": float(delta),
            "loss.beta": float(beta),
            "optimizer.name": "adam",
            "optimizer.learning_rate": float(learning_rate),
            "optimizer.weight_decay": 0.0,
            "schedule.name": "cosine",
            "early_stopping.enabled": False,
        }
    )
    plans = []  # (loss, variant, config)
    for name in names:
        for variant, fraction in (("outliers", float(outlier_fraction)), ("clean", 0.0)):
            config = base.override(
                {
                    "loss.name": name,
                    "data.outlier_fraction": fraction,
                    "run_name": _runs.run_name(stamp, EXPERIMENT, f"{name}-{variant}"),
                }
            )
            plans.append((name, variant, config.validate()))
    runs.check_writable(runs_dir)

    dirty = load_dataset(plans[0][2])
    clean = load_dataset(plans[1][2])
    theta_true = _theta(dirty.w_true, dirty.b_true)

    fitted = {}
    run_ids = []
    for i, (name, variant, config) in enumerate(plans, 1):
        note(f"[{i}/{len(plans)}] {name}, {variant}: {epochs} epochs -> {config.run_name}")
        started = time.monotonic()
        trained = _runs.train_variant(config, f"{name}-{variant}")
        summary = trained.summary
        if summary.status not in ("completed", "early_stopped", "stopped"):
            raise RuntimeError(f"run {summary.run_id} ended {summary.status}: {summary.error}")
        weights, bias = _fitted(trained.run_dir)
        fitted[name, variant] = {
            "run_id": trained.run_id,
            "weights": weights,
            "bias": bias,
            "val_mae": [[float(e), float(v)] for e, v in trained.curve("val_mae")],
            "seconds": time.monotonic() - started,
        }
        run_ids.append(trained.run_id)

    fits = []
    for name in names:
        out, ref = fitted[name, "outliers"], fitted[name, "clean"]
        theta, theta_clean = (
            _theta(out["weights"], out["bias"]),
            _theta(ref["weights"], ref["bias"]),
        )
        mse, mae = _test_errors(out["weights"], out["bias"], dirty.x_test, dirty.y_test)
        clean_mse, clean_mae = _test_errors(ref["weights"], ref["bias"], clean.x_test, clean.y_test)
        fits.append(
            LossFit(
                loss=name,
                run_id=out["run_id"],
                clean_run_id=ref["run_id"],
                weights=[float(w) for w in out["weights"]],
                bias=out["bias"],
                clean_weights=[float(w) for w in ref["weights"]],
                clean_bias=ref["bias"],
                error=_distance(theta, theta_true),
                clean_error=_distance(theta_clean, theta_true),
                shift=_distance(theta, theta_clean),
                bias_shift=out["bias"] - ref["bias"],
                test_mse=mse,
                test_mae=mae,
                clean_test_mse=clean_mse,
                clean_test_mae=clean_mae,
                val_mae=out["val_mae"],
                duration_s=out["seconds"] + ref["seconds"],
            )
        )

    ls_w, ls_b = _least_squares(dirty.x_train, dirty.y_train)
    ls_cw, ls_cb = _least_squares(clean.x_train, clean.y_train)
    least_squares = {
        "weights": [float(w) for w in ls_w],
        "bias": ls_b,
        "error": _distance(_theta(ls_w, ls_b), theta_true),
        "clean_weights": [float(w) for w in ls_cw],
        "clean_bias": ls_cb,
        "clean_error": _distance(_theta(ls_cw, ls_cb), theta_true),
        "shift": _distance(_theta(ls_w, ls_b), _theta(ls_cw, ls_cb)),
    }
    settings = {
        "losses": names,
        "epochs": epochs,
        "delta": float(delta),
        "beta": float(beta),
        "outlier_fraction": float(outlier_fraction),
        "outlier_scale": float(outlier_scale),
        "seed": seed,
        "limit": limit,
        "learning_rate": float(learning_rate),
        "optimizer": "adam",
        "schedule": "cosine",
        "batch_size": batch_size,
        "model": "linear (one Dense(1), model.hidden = [])",
        "n_train": len(dirty.y_train),
        "n_train_outliers": int(dirty.train_outliers.sum()),
        "n_val": len(dirty.y_val),
        "n_test": len(dirty.y_test),
        "runs_dir": str(runs_dir),
        "backend": keras.backend.backend(),
    }
    compare = _runs.compare_command(run_ids, runs_dir)
    return LossesExperiment(
        settings=settings,
        true_weights=[float(w) for w in dirty.w_true],
        true_bias=float(dirty.b_true),
        least_squares=least_squares,
        fits=fits,
        run_ids=run_ids,
        compare_command=compare,
    )
