"""``kerasdl train``: build the run's config from a TOML file (or the preset), flags and ``--set``,
validate it, then hand it to ``kerasdl.runner.train`` with a view as the event sink.

The config is checked before TensorFlow is imported, so a typo costs no start-up time. Exit codes
are those of `kerasdl.cli.errors`: 0 done, 1 NaN or failed, 2 bad input, 130 interrupted.
"""

import contextlib
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path

import typer

from kerasdl import _interrupt
from kerasdl.cli import errors
from kerasdl.cli import options as opt

# Flag -> the dotted config key it sets (`TrainConfig.override`).
FLAG_KEYS = {
    "dataset": "data.name",
    "data_dir": "data.data_dir",
    "limit": "data.limit",
    "batch_size": "batch_size",
    "hidden": "model.hidden",
    "batch_norm": "model.batch_norm",
    "dropout": "model.dropout",
    "activation": "model.activation",
    "initializer": "model.initializer",
    "regularizer": "model.regularizer",
    "loss": "loss.name",
    "epochs": "epochs",
    "optimizer": "optimizer.name",
    "lr": "optimizer.learning_rate",
    "weight_decay": "optimizer.weight_decay",
    "momentum": "optimizer.momentum",
    "schedule": "schedule.name",
    "warmup_epochs": "schedule.warmup_epochs",
    "early_stopping": "early_stopping.enabled",
    "patience": "early_stopping.patience",
    "plateau": "plateau.enabled",
    "seed": "seed",
    "run_name": "run_name",
    "runs_dir": "runs_dir",
    "steps_per_execution": "steps_per_execution",
    "jit": "jit_compile",
    "strategy": "strategy",
}

# Statuses of `run_finished` and the exit code each gives.
STATUS_EXIT = {
    "completed": errors.EXIT_OK,
    "early_stopped": errors.EXIT_OK,
    "stopped": errors.EXIT_OK,
    "nan": errors.EXIT_FAILED,
    "failed": errors.EXIT_FAILED,
    "interrupted": errors.EXIT_INTERRUPTED,
}


def train(
    dataset: opt.Dataset = None,
    data_dir: opt.TrainDataDir = None,
    limit: opt.Limit = None,
    batch_size: opt.BatchSize = None,
    hidden: opt.Hidden = None,
    batch_norm: opt.BatchNorm = None,
    dropout: opt.Dropout = None,
    activation: opt.Activation = None,
    initializer: opt.Initializer = None,
    regularizer: opt.Regularizer = None,
    loss: opt.Loss = None,
    epochs: opt.Epochs = None,
    optimizer: opt.Optimizer = None,
    lr: opt.LearningRate = None,
    weight_decay: opt.WeightDecay = None,
    momentum: opt.Momentum = None,
    schedule: opt.Schedule = None,
    warmup_epochs: opt.WarmupEpochs = None,
    early_stopping: opt.EarlyStopping = None,
    patience: opt.Patience = None,
    plateau: opt.Plateau = None,
    seed: opt.Seed = None,
    run_name: opt.RunName = None,
    runs_dir: opt.TrainRunsDir = None,
    steps_per_execution: opt.StepsPerExecution = None,
    jit: opt.Jit = None,
    strategy: opt.Strategy = None,
    config_file: opt.ConfigFile = None,
    set_: opt.Set = None,
    resume: opt.Resume = None,
    ui: opt.UIOption = opt.UI.auto,
):
    """Train a network: the chapter's 3.6 example (MNIST MLP, AdamW, StepLR) unless told otherwise.

    Options override the --config file (or the preset); --set sets any config key.

    The run's config, events, best.keras and last.keras go to RUNS_DIR/<run id>.
    """
    given = dict(locals())  # the parameters, before any other local exists
    flags = {
        name: value for name, value in given.items() if name in FLAG_KEYS and value is not None
    }
    if config_file is not None and resume is not None:
        errors.fail(
            "--config and --resume cannot be combined: a resumed run continues with its own "
            "config.toml (change values with options or --set)"
        )
    with errors.domain_errors():
        config, resume_dir = build_config(config_file, flags, set_ or [], resume)
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


def build_config(config_file, flags: dict, sets: list[str], resume: str | None):
    """The validated `TrainConfig` of a ``kerasdl train`` call, and the run directory to resume.

    Base: the ``--config`` file, the resumed run's ``config.toml``, or the preset; then the
    options (``flags``: option name -> value), then ``--set`` (strings, parsed by the config).
    """
    from kerasdl.config import TrainConfig

    overrides = {FLAG_KEYS[name]: value for name, value in flags.items()}
    overrides.update(parse_sets(sets))
    resume_dir = None
    if resume is not None:
        from kerasdl import runs

        runs_dir = flags.get("runs_dir") or TrainConfig().runs_dir
        resume_dir = Path(runs.resolve_run_dir(resume, runs_dir))
        config = TrainConfig.from_toml(resume_dir / "config.toml")
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


# Lines TensorFlow's C++ side writes to stderr that say nothing to a person training a model:
# the lines it prints while it loads (before its log level applies), and a failed CUDA probe on
# a machine without a GPU.
_NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog|"
    rb"[IW]\d{4} [\d:.]+\s+\d+ \w+\.cc:\d+\]|"
    rb"E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit|"
    rb"To enable the following instructions:)"
)


def import_runner():
    """``kerasdl.runner``, with the Keras backend loaded (call it inside `quiet_native_logs`).

    The backend is imported here (not a model: the CLI never touches one) so that TensorFlow
    loads inside the filter, before the run's first line.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401  (the backend, see above)

    from kerasdl import runner

    return runner


@contextlib.contextmanager
def quiet_native_logs():
    """Filter what native code writes to stderr (file descriptor 2) while training.

    TensorFlow's info and warning logs are off (``TF_CPP_MIN_LOG_LEVEL=2`` unless set), and the
    lines in `_NATIVE_NOISE` are dropped; every other line goes on to stderr as it comes (a
    thread pumps a pipe). ``TF_CPP_MIN_LOG_LEVEL=0`` turns the filter off.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable file descriptor 2: nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(
        target=_pump, args=(read_end, saved), name="kerasdl-stderr-filter", daemon=True
    )
    pump.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump reads to its end
        pump.join(timeout=5)
        if not pump.is_alive():
            os.close(saved)


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy lines from ``read_fd`` to ``out_fd``, leaving out `_NATIVE_NOISE`.

    It reads to the end whatever happens (a closed stderr included), so a writer never blocks
    on a full pipe.
    """
    pending = b""
    broken = False

    def write(data: bytes) -> None:
        nonlocal broken
        while data and not broken:
            try:
                data = data[os.write(out_fd, data) :]
            except OSError:
                broken = True

    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            write(b"".join(line + b"\n" for line in lines if not _NATIVE_NOISE.match(line)))
    if pending and not _NATIVE_NOISE.match(pending):
        write(pending)
