"""``kerasdl train``: build the run's config from a TOML file (or the preset), flags and ``--set``,
validate it, then hand it to ``kerasdl.runner.train`` with a view as the event sink.

The config is checked before TensorFlow is imported, so a typo costs no start-up time. Exit codes
are those of `kerasdl.cli.errors`: 0 done, 1 NaN or failed, 2 bad input, 130 interrupted.
"""

import contextlib
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated

import typer

from kerasdl import _interrupt
from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.config_options import config_options, flagged

#: The config fields `kerasdl train` offers as options (those that declare a `Flag`).
TRAIN_OPTIONS = flagged()
#: Option parameter -> the dotted config key it sets (`TrainConfig.override`).
FLAG_KEYS = {o.param: o.spec.key for o in TRAIN_OPTIONS}

# Statuses of `run_finished` and the exit code each gives.
STATUS_EXIT = {
    "completed": errors.EXIT_OK,
    "early_stopped": errors.EXIT_OK,
    "stopped": errors.EXIT_OK,
    "nan": errors.EXIT_FAILED,
    "failed": errors.EXIT_FAILED,
    "interrupted": errors.EXIT_INTERRUPTED,
}


@config_options(TRAIN_OPTIONS)
def train(
    config_values: dict,
    config_file: opt.ConfigFile = None,
    set_: opt.Set = None,
    resume: opt.Resume = None,
    ui: opt.UIOption = opt.UI.auto,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print the resolved config as TOML (after --config, the options, --set and "
            "--resume) and exit without training.",
            rich_help_panel=opt.RUN,
        ),
    ] = False,
):
    """Train a network: the chapter's 3.6 example (MNIST MLP, AdamW, StepLR) unless told otherwise.

    Options override the --config file (or the preset); --set sets any config key.

    The run's config, events, best.keras and last.keras go to RUNS_DIR/<run id>.
    """
    if config_file is not None and resume is not None:
        errors.fail(
            "--config and --resume cannot be combined: a resumed run continues with its own "
            "config.toml (change values with options or --set)"
        )
    with errors.domain_errors():
        config, resume_dir = build_config(config_file, config_values, set_ or [], resume)
        if print_config:
            typer.echo(config.to_toml(), nl=False)
            raise typer.Exit(errors.EXIT_OK)
        preload_data(config)
    view_name = choose_view(ui)
    if view_name == "tui":
        from kerasdl.cli.dashboard import run_dashboard

        raise typer.Exit(run_dashboard(config, resume_dir))
    code = run_plain(config, resume_dir, live=view_name == "plain")
    raise typer.Exit(code)


def parse_sets(items: list[str]) -> dict[str, str]:
    """``["optimizer.beta_2=0.99", ...]`` -> ``{"optimizer.beta_2": "0.99"}``."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(
                f"expected KEY=VALUE (e.g. optimizer.learning_rate=0.01), got {item!r}",
                param_hint="'--set'",
            )
        parsed[key] = value.strip()
    return parsed


def build_config(config_file, values: dict, sets: list[str], resume: str | None):
    """The validated `TrainConfig` of a ``kerasdl train`` call, and the run directory to resume.

    Base: the ``--config`` file, the resumed run's ``config.toml``, or the preset; then the
    options (``values``: dotted key -> value; ``--data``: `data_option`), then ``--set``
    (strings, parsed by the config).
    """
    from kerasdl.config import TrainConfig

    overrides = data_option(values)
    overrides.update(parse_sets(sets))
    resume_dir = None
    if resume is not None:
        from kerasdl import runs

        runs_dir = values.get("runs_dir") or TrainConfig().runs_dir
        resume_dir = Path(runs.resolve_run_dir(resume, runs_dir))
        runs.check_resumable(resume_dir)  # a Track run, or no config.toml: say so
        from kerasdl.run.resume import resumed_config

        config = resumed_config(resume_dir)
        given = overrides.get("run_name")
        if given not in (None, "", config.run_name, resume_dir.name):
            from kerasdl.config import ConfigError

            raise ConfigError(
                "run_name",
                given,
                f"{resume_dir.name!r} or none with --resume (a run keeps its name)",
            )
    elif config_file is not None:
        config = TrainConfig.from_toml(config_file)
    else:
        config = TrainConfig()
    if overrides:
        config = config.override(overrides)
    return config.validate(), resume_dir


def preload_data(config) -> None:
    """Read your own file now (``data.name = "file"``, NumPy only), before TensorFlow is
    imported: a bad file fails at once (exit 2), and the run takes the arrays read here
    (`kerasdl.data_files.preload`). A Keras dataset that is not cached, offline, fails here too
    (`kerasdl.data_keras.check_available`)."""
    if config.data.name == "file":
        from kerasdl import data_files

        data_files.preload(config)
    elif config.data.name in ("fashion_mnist", "cifar10", "cifar100"):
        from kerasdl import data_keras

        data_keras.check_available(config.data.name)


def data_option(values: dict) -> dict:
    """``--data PATH_OR_NAME`` (``values["data.path"]``): a dataset name (``--data cifar10``)
    sets ``data.name`` (and clears ``data.path``); a path sets ``data.path`` and, unless
    ``--dataset`` is given, ``data.name = "file"``.

    Raises:
        kerasdl.config.ConfigError: ``--data`` names another dataset than ``--dataset``.
    """
    from kerasdl.config import DATASETS, FILE_DATASET, ConfigError

    values = dict(values)
    given = values.get("data.path")
    if given is None:
        return values
    if given in DATASETS and given != FILE_DATASET:
        named = values.get("data.name", given)
        if named != given:
            raise ConfigError(
                "--data", given, f"a file, or the dataset --dataset names ({named!r})"
            )
        values.update({"data.name": given, "data.path": ""})
    else:
        values.setdefault("data.name", FILE_DATASET)
    return values


def choose_view(ui: opt.UI) -> str:
    """The view that shows the run: "tui" (the dashboard), "plain" or "none".

    ``auto`` picks the dashboard when stdout (and stderr, where Textual draws) is a terminal
    of at least 80x24, else plain; ``tui`` insists on a terminal only. A fallback says why on
    stderr (`kerasdl_tui.choose_ui`).
    """
    from kerasdl_tui.choose import choose_ui

    view, reason = choose_ui(ui.value, sys.stdout, stderr=sys.stderr)
    if reason is not None:
        errors.print_error(reason, prefix="note")
    return view


def run_plain(config, resume_dir, *, live: bool) -> int:
    """Train in this process with `PlainView` as the sink; return the exit code."""
    from kerasdl.cli.plain import PlainView

    view = PlainView(live=live, run_dir=resume_dir)
    with sigterm_as_keyboard_interrupt():
        try:
            with errors.domain_errors(os_errors=False), quiet_native_logs():
                runner = import_runner()
                summary = runner.train(config, sinks=[view], resume=resume_dir)
        except KeyboardInterrupt:
            view.close()
            errors.print_error(interrupted_message(view), prefix="interrupted", sep="; ")
            return errors.EXIT_INTERRUPTED
        except typer.Exit:
            view.close()
            raise
        except Exception as exc:
            view.close()
            errors.print_error(f"{type(exc).__name__}: {exc}", prefix="run failed")
            if view.run_dir is not None:
                errors.print_error(f"events and checkpoints: {view.run_dir}", prefix="run failed")
            if os.environ.get("KERASDL_DEBUG"):
                traceback.print_exc()
            else:
                errors.print_error("set KERASDL_DEBUG=1 to see the traceback", prefix="hint")
            return errors.EXIT_FAILED
    status = getattr(summary, "status", None)
    if view.finished is None:  # a runner that emitted no run_finished: say what it returned
        errors.print_error(
            f"the run ended with status {status!r} and no final event", prefix="note"
        )
    if status == "nan":
        best_epoch = getattr(summary, "best_epoch", None)
        kept = (
            f"best.keras keeps epoch {best_epoch}"
            if best_epoch is not None
            else "no epoch improved, so there is no best.keras"
        )
        errors.print_error(f"the loss became NaN; the run stopped ({kept}). Try a smaller --lr.")
    elif status == "failed":
        errors.print_error(f"the run failed: {getattr(summary, 'error', None) or 'see events'}")
    return STATUS_EXIT.get(status, errors.EXIT_FAILED)


def interrupted_message(view) -> str:
    """``last checkpoint: runs/<id>/last.keras (epoch 3); resume with ...`` after an interrupt."""
    run_dir = view.run_dir
    if run_dir is None:
        return "before the run started; nothing was saved"
    last = run_dir / "last.keras"
    if last.exists():
        epoch = (view.finished or {}).get("last_checkpoint_epoch")
        if epoch is None:
            epoch = (view.last_epoch or {}).get("epoch")
        at = f" (epoch {epoch})" if epoch is not None else ""
        return f"last checkpoint: {last}{at}; resume with: kerasdl train --resume {run_dir}"
    return f"last checkpoint: none (no epoch finished); run directory: {run_dir}"


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt():
    """While training, Ctrl-C (SIGINT), SIGTERM and SIGHUP raise KeyboardInterrupt in the main
    thread (once: a second signal during the cleanup that writes ``run_finished`` is ignored),
    so a ``kill``, a batch scheduler's stop or a closed SSH session ends the run as cleanly as
    Ctrl-C does.

    Python runs a signal handler wherever the main thread is; when that is a ``__del__`` (of a
    TensorFlow function, say), the exception is dropped as "unraisable". So the handler also
    notes the stop (`kerasdl._interrupt`), the runner raises it again at its next hook, and an
    unraisable KeyboardInterrupt is not printed (it is not lost).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if fired:  # already stopping: let the runner finish its cleanup
            return
        fired.append(signum)
        # Ctrl-C reads as Python's own KeyboardInterrupt; a signal from elsewhere is named.
        reason = "" if signum == signal.SIGINT else f"signal {signal.Signals(signum).name}"
        _interrupt.request(reason)  # raised again by the runner if this raise is swallowed
        raise KeyboardInterrupt(*([reason] if reason else []))

    previous_hook = sys.unraisablehook

    def unraisable(info):
        if isinstance(info.exc_value, KeyboardInterrupt) and _interrupt.pending() is not None:
            return  # the runner raises it again at its next hook
        previous_hook(info)

    # SIGHUP (the SSH session closed, the terminal went away) stops a run as SIGTERM does.
    names = [name for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {name: signal.signal(getattr(signal, name), handler) for name in names}
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        _interrupt.clear()
        for name, old in previous.items():
            signal.signal(getattr(signal, name), old)


from kerasdl.cli.native_logs import import_runner, quiet_native_logs  # noqa: E402
