"""Helpers for the experiments that train through `kerasdl.runner` (optimizers, regularization).

Every variant of an experiment is an ordinary run directory, named
``<stamp>-<experiment>-<variant>`` with one ``stamp`` (`new_stamp`, a `kerasdl.runs.new_run_id`)
per invocation, so the variants of one invocation sort together and ``kerasdl runs compare``
and the dashboard's runs browser can overlay them.

The API is small on purpose:

- `new_stamp` and `run_name`: the run names.
- `experiment_config`: the chapter's preset (`TrainConfig()`) with the settings every training
  experiment shares (no schedule, early stopping off, the data, seed and epochs asked for).
- `train_variant`: train one config with `kerasdl.runner.train` and read its run back
  (`TrainedRun`: the runner's `RunSummary` and the run's `kerasdl.runs.RunInfo`).
- `median_epoch_seconds`, `compare_command`: what the tables and the final lines show.

Importing this module is light (no Keras); `train_variant` imports the runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from kerasdl import runs
from kerasdl.config import TrainConfig

__all__ = [
    "TrainedRun",
    "compare_command",
    "experiment_config",
    "experiment_of",
    "median_epoch_seconds",
    "new_stamp",
    "run_name",
    "train_variant",
]

Progress = Callable[[str], None] | None


def new_stamp() -> str:
    """The stamp of one invocation: ``<UTC date>-<UTC time>-<6 hex digits>``."""
    return runs.new_run_id()


def run_name(stamp: str, experiment: str, variant: str) -> str:
    """``f"{stamp}-{experiment}-{variant}"``, e.g. ``20250131-154502-3fa9c1-optimizers-adam``."""
    return f"{stamp}-{experiment}-{variant}"


def experiment_config(
    *,
    data: str = "mnist-mini",
    data_dir: str | None = None,
    seed: int = 42,
    epochs: int = 10,
    limit: int | None = None,
    runs_dir: str | Path = "runs",
    overrides: Mapping[str, object] | None = None,
) -> TrainConfig:
    """The chapter's preset with the settings every training experiment shares.

    ::

        TrainConfig().override({data.name, data.data_dir, data.limit, seed, epochs, runs_dir,
                                schedule.name="none", early_stopping.enabled=False,
                                **overrides})

    A constant learning rate and no early stopping, so every variant trains the same number
    of epochs at the rate it was given. ``best.keras`` is still the epoch of the lowest
    ``val_loss`` (the test set is evaluated with it). Not validated here: the runner does.

    Args:
        data: The dataset name. Defaults to ``"mnist-mini"``.
        data_dir: ``data.data_dir`` (None: the config's default search).
        seed: The run's seed: initial weights, data split and order, dropout masks.
            Defaults to 42.
        epochs: Epochs to train. Defaults to 10.
        limit: ``data.limit`` (None: all examples).
        runs_dir: The runs folder. Defaults to ``"runs"``.
        overrides: More dotted keys (`TrainConfig.override`), applied last.
    """
    values: dict[str, object] = {
        "data.name": data,
        "seed": seed,
        "epochs": epochs,
        "data.limit": limit,
        "runs_dir": str(runs_dir),
        "schedule.name": "none",
        "early_stopping.enabled": False,
    }
    if data_dir is not None:
        values["data.data_dir"] = data_dir
    values.update(overrides or {})
    return TrainConfig().override(values)


@dataclasses.dataclass
class TrainedRun:
    """One trained variant.

    Attributes:
        variant: The variant's name (``"adam"``, ``"l1"``, ...).
        summary: The runner's `kerasdl.runner.RunSummary`.
        info: The run read back from its directory (`kerasdl.runs.load_run`): ``history``
            holds every epoch's metrics and ``epoch_seconds``.
    """

    variant: str
    summary: object
    info: runs.RunInfo

    @property
    def run_dir(self) -> Path:
        return Path(self.summary.run_dir)

    @property
    def run_id(self) -> str:
        return str(self.summary.run_id)

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """``[(epoch, value), ...]`` of one logged metric (`RunInfo.curve`)."""
        return self.info.curve(metric)


def train_variant(
    config: TrainConfig,
    variant: str,
    *,
    progress: Progress = None,
    callbacks: Sequence = (),
    experiment: str | None = None,
) -> TrainedRun:
    """Train ``config`` with `kerasdl.runner.train` and read the run back.

    ``progress`` (if given) gets one line when the run starts and one when it ends. Errors
    that stop a run before it starts (`ConfigError`, `DataError`, `RunError`) and failures
    during training propagate; a NaN loss does not (the run's ``status`` is ``"nan"``).

    Args:
        config: The run's config (``run_name`` set, e.g. with `run_name`).
        variant: The variant's name, for the progress lines and `TrainedRun`.
        progress: A callable for one-line notes, or None.
        callbacks: More Keras callbacks for ``fit`` (`kerasdl.runner.train`'s ``callbacks``).
        experiment: The tag the run gets (`kerasdl.run_meta`, as soon as it starts): the
            experiment's name. Defaults to the one in ``config.run_name`` (`experiment_of`).
    """
    from kerasdl import runner

    if progress is not None:
        progress(f"{variant}: training {config.epochs} epochs ({config.run_name})")
    experiment = experiment or experiment_of(config.run_name, variant)
    sinks = [tagger(Path(config.runs_dir) / config.run_name, experiment)] if experiment else []
    summary = runner.train(config, callbacks=list(callbacks), sinks=sinks)
    info = runs.load_run(summary.run_dir)
    if progress is not None:
        progress(f"{variant}: {summary.status} in {summary.duration_s:.1f} s")
    return TrainedRun(variant=variant, summary=summary, info=info)


def experiment_of(name: str, variant: str) -> str | None:
    """The experiment of a `run_name` (``<stamp>-<experiment>-<variant>``), or None for a name
    not made so."""
    head, sep, _ = (name or "").rpartition(f"-{variant}")
    if not sep or not name.endswith(f"-{variant}"):
        return None
    parts = head.split("-", 3)
    return parts[3] if len(parts) == 4 and parts[3] else None


def tagger(run_dir: Path, tag: str) -> Callable[[dict], None]:
    """An event sink that tags ``run_dir`` with ``tag`` at its first ``run_started``."""
    done = []

    def sink(event: dict) -> None:
        if not done and event.get("type") == "run_started":
            done.append(True)
            from kerasdl import run_meta

            # A tag is a convenience: the run goes on without it.
            with contextlib.suppress(OSError, runs.RunError):
                run_meta.add_tags(run_dir, [tag])

    return sink


def median_epoch_seconds(info: runs.RunInfo) -> float | None:
    """The median wall time of the run's epochs (``epoch_seconds``), or None without epochs.

    The median leaves out the first epoch's compilation unless most epochs are first ones.
    """
    seconds = [
        float(row["epoch_seconds"])
        for row in info.history
        if isinstance(row.get("epoch_seconds"), (int, float))
    ]
    return statistics.median(seconds) if seconds else None


def compare_command(run_ids: Iterable[str], runs_dir: str | Path) -> str:
    """``kerasdl runs compare <ids> --runs-dir <dir>``, quoted for a POSIX shell."""
    words = ["kerasdl", "runs", "compare", *run_ids, "--runs-dir", str(runs_dir)]
    return " ".join(shlex.quote(word) for word in words)
