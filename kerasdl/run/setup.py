"""Everything a call of `kerasdl.runner.train` does before ``run_started``, one step a
function, in the order `kerasdl.runner` calls them::

    check_inputs    a resume's state (kerasdl.run.resume.read_resume); a new run's runs dir
    read_file_data  your own data (data.name "file"), read with NumPy before TensorFlow is
                    imported: a bad file fails at once, and its sizes decide the threads
    start_backend   Keras and TensorFlow imported, then the clock starts; thread pools,
                    the tf.distribute strategy, this worker's role, steps_per_execution
    load_data       the dataset, the global seed, the validation and test tf.data sets
    build           in the strategy's scope: the model (model.architecture: the mlp, the
                    cnn, or yours, checked against the data), optimizer (its learning rate
                    built outside), loss, metrics, compile; a resume's last.keras restored
    run_directory   runs/<id>/ with config.toml, its lock and its EventWriter

An error in any step before `run_directory` leaves no event and no run directory behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kerasdl import runs
from kerasdl.events import EventWriter
from kerasdl.run import resume
from kerasdl.run.builders import (
    build_group_learning_rates,
    build_learning_rate,
    build_loss,
    build_metrics,
    build_momentum,
    build_optimizer,
    make_strategy,
    strategy_scope,
)
from kerasdl.run.threads import apply_threads

__all__ = [
    "Backend",
    "RunData",
    "build",
    "check_inputs",
    "check_new_run_possible",
    "load_data",
    "read_file_data",
    "run_directory",
    "start_backend",
    "use_jax_compilation_cache",
    "worker_role",
]

_KERAS_SPE_BUG = "https://github.com/keras-team/keras/issues/19246"


@dataclasses.dataclass(frozen=True)
class Backend:
    """TensorFlow as set up for a run (`start_backend`).

    Attributes:
        started: ``time.monotonic()`` when the setup began, after the imports: the start of
            the run's ``duration_s`` and of ``run_started``'s ``setup_s``.
        strategy: The ``tf.distribute`` strategy, or None.
        chief: Whether this process writes the run directory (always, but in a multi-worker
            run's other workers).
        worker: This worker's task id (0 without a cluster).
        steps_per_execution: The config's, or 1 under a strategy.
        notices: ``(level, message)`` warnings for ``notice`` events.
    """

    started: float
    strategy: object
    chief: bool
    worker: int
    steps_per_execution: int
    notices: tuple = ()


@dataclasses.dataclass(frozen=True)
class RunData:
    """A run's data (`load_data`).

    Attributes:
        dataset: The loaded `kerasdl.data.Dataset` (its arrays).
        steps_per_epoch: Optimizer steps in an epoch.
        validation: The validation ``tf.data.Dataset`` (on the JAX backend the arrays
            ``(x_val, y_val)``: see `load_data`), or None without a validation split.
        test: The test ``tf.data.Dataset`` (on JAX ``(x_test, y_test)``).
        notices: ``(level, message)`` warnings for ``notice`` events (a data fallback).
    """

    dataset: object
    steps_per_epoch: int
    validation: object
    test: object
    notices: tuple = ()


def check_inputs(config, resume_path, lock) -> tuple[Path | None, dict | None]:
    """What can be checked before TensorFlow is imported.

    Args:
        config: The validated config.
        resume_path: The run directory to resume, or None.
        lock: The `kerasdl.run.resume.RunLock` held on it, or None (none asked for, or a
            multi-worker run).

    Returns:
        ``(run_dir, state)`` of `kerasdl.run.resume.read_resume`.

    Raises:
        kerasdl.runs.RunError: The run cannot be resumed, or a new one cannot be made.
    """
    if lock is not None:
        resume.clean_temporaries(resume_path)  # a killed process's; none is being written
    resume_dir, state = resume.read_resume(config, resume_path)
    # Only the chief of a multi-worker run makes the run directory (`start_backend`).
    if resume_dir is None and config.strategy != "multi-worker":
        check_new_run_possible(config)  # cheap: before TensorFlow is imported
    return resume_dir, state


def check_new_run_possible(config) -> None:
    """Fail now, before any data is loaded, if the new run directory cannot be made.

    Args:
        config: The validated config.

    Raises:
        kerasdl.runs.RunError: The runs directory is not writable, or ``run_name`` exists.
    """
    runs_dir = runs.check_writable(config.runs_dir)
    if config.run_name and (runs_dir / config.run_name).exists():
        raise runs.RunError(
            f"run directory {runs_dir / config.run_name} exists: resume it with "
            f"--resume {runs_dir / config.run_name}, or choose another run name"
        )


def read_file_data(config):
    """The dataset of a run on your own file (``data.name = "file"``), read now, or None.

    NumPy only (`kerasdl.data_files`): a bad file fails before TensorFlow is imported, and
    the thread pools are sized by its arrays (`start_backend`), which only loading knows.

    Args:
        config: The validated config.

    Returns:
        The `kerasdl.data.Dataset`, or None for the other datasets (`load_data` loads them).

    Raises:
        kerasdl.data.DataError: The file cannot be used.
        kerasdl.config.ConfigError: Its task does not fit the loss or the monitors, or its
            classes ``loss.weight`` or ``ignore_index``.
    """
    if config.data.name != "file":
        return None
    from kerasdl import data
    from kerasdl.config import check_classes

    dataset = data.load_dataset(config)
    if dataset.num_classes is not None:  # loss.weight and ignore_index: one per class
        check_classes(config, dataset.num_classes, f" in {config.data.path}")
    return dataset


def start_backend(config, *, new_run: bool, dataset=None) -> Backend:
    """Import Keras and TensorFlow, start the clock, and set TensorFlow up for the run.

    The thread pools first (before TensorFlow runs an op), then the strategy (a multi-worker
    strategy must exist before TensorFlow runs anything else).

    Args:
        config: The validated config.
        new_run: Whether this is a new run (its directory is checked here for a multi-worker
            run's chief, known only now).
        dataset: The dataset already read (`read_file_data`), whose sizes decide the thread
            pools, or None (the config's dataset: `kerasdl.data.model_io_sizes`).

    Returns:
        The `Backend`.
    """
    _import_frameworks()
    started = time.monotonic()  # the run's clock: setup starts, the imports are done
    threads_notice = apply_threads(config, dataset)
    strategy = make_strategy(config.strategy)
    chief, worker = worker_role(strategy)
    if new_run and config.strategy == "multi-worker" and chief:
        check_new_run_possible(config)
    notices = [("warning", threads_notice)] if threads_notice else []
    steps_per_execution = config.steps_per_execution
    if strategy is not None and steps_per_execution > 1:
        notices.append(("warning", _one_step_per_call(config)))
        steps_per_execution = 1
    if config.strategy == "multi-worker" and config.jit_compile is True:
        notices.append(
            ("warning", "jit_compile=true is ignored with the 'multi-worker' strategy (no XLA)")
        )
    return Backend(started, strategy, chief, worker, steps_per_execution, tuple(notices))


def _import_frameworks() -> None:
    """Keras (and its backend), the kerasdl modules that need it, and every component family
    registered for ``load_weights`` / ``load_model``."""
    import keras

    import kerasdl
    import kerasdl.data
    import kerasdl.models

    kerasdl.register_all()
    if keras.backend.backend() == "jax":
        tensorflow_only_if_loaded()


def tensorflow_only_if_loaded() -> None:
    """On JAX, let Keras count TensorFlow as present only once something has imported it.

    Keras asks "is TensorFlow installed?" (its lazy ``tensorflow`` module's ``available``) in
    ``keras.utils.set_random_seed`` (to seed ``tf.data``) and in ``model.save`` (to turn a
    ``tf.TensorShape`` or ``tf.DType`` into JSON), and answers by importing it: on a JAX run,
    whose data are arrays and whose order is NumPy's (`kerasdl.data.epoch_order`), that import
    cost 2.6 s and 460 MB of resident memory on the 2-core machine, for a framework the run
    never uses. A TensorFlow object can only exist once TensorFlow is imported, so the answer
    "imported already" gives every such check the same result; with TensorFlow loaded (a user's
    ``tf.data`` pipeline), Keras's own answer stands. Nothing changes on other backends.
    """
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if lazy.module is not None or getattr(type(lazy), "_kerasdl_loaded_only", False):
        return

    class LoadedOnly(type(lazy)):
        """Keras's lazy ``tensorflow`` module, ``available`` only once it is imported."""

        _kerasdl_loaded_only = True

        @property
        def available(self):
            return "tensorflow" in sys.modules and super().available

    lazy.__class__ = LoadedOnly


#: The folder of `use_jax_compilation_cache` inside `kerasdl.data.cache_dir`.
JAX_CACHE_FOLDER = "jax-compilation"
#: ``KERASDL_JAX_CACHE=0`` turns `use_jax_compilation_cache` off.
ENV_JAX_CACHE = "KERASDL_JAX_CACHE"
JAX_CACHE_MAX_BYTES = 256 * 2**20


def use_jax_compilation_cache() -> str | None:
    """Keep JAX's compiled programs on disk, so a later run of the same model loads them.

    The CLI calls it when it loads the JAX backend (`kerasdl.cli.native_logs.import_runner`),
    before anything compiles (JAX decides once a process whether it uses the cache); Python
    callers of `kerasdl.runner.train` may call it themselves.

    A run on JAX compiles its programs with XLA before the first steps: the train and
    evaluation loops, the initializers, the metrics, several seconds in all on 2 cores
    (``docs/benchmarks.md``). JAX's persistent compilation cache stores each program under a
    key of its whole computation, compile options, JAX version and device, so a run of the same
    model and sizes later loads the very same executable (the same results) instead. The cache
    is `kerasdl.data.cache_dir` / `JAX_CACHE_FOLDER`, unless the user set
    ``JAX_COMPILATION_CACHE_DIR`` (then JAX's own setting stands); ``KERASDL_JAX_CACHE=0``
    leaves JAX's default (no cache). Every program is stored, the smallest too: each eager
    operation (a metric's division, a schedule's rate, a variable's zeros) compiles a program of
    its own, 10-60 ms each on 2 cores, some 40 in a run of the preset, and loading them is
    faster (a warm start of the preset was 0.5 s shorter than when programs under 0.05 s were
    left out). JAX evicts the least recently used beyond `JAX_CACHE_MAX_BYTES` (the preset's
    programs take about 0.7 MB) when the ``filelock`` package is there (the ``jax`` extra
    installs it; without it JAX cannot bound the cache, and warns at every read if asked to, so
    it is not).

    Returns:
        The cache folder used, or None when off.
    """
    import importlib.util
    import os

    import jax

    from kerasdl.data import cache_dir

    if os.environ.get(ENV_JAX_CACHE, "1").strip() == "0":
        return None
    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(cache_dir() / JAX_CACHE_FOLDER)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if importlib.util.find_spec("filelock") is not None:  # JAX's LRU eviction needs it
        jax.config.update("jax_compilation_cache_max_size", JAX_CACHE_MAX_BYTES)
    return folder


def _one_step_per_call(config) -> str:
    why = (
        "kerasdl's multi-worker loop runs one step per call"
        if config.strategy == "multi-worker"
        else f"Keras cannot run several steps per call under tf.distribute ({_KERAS_SPE_BUG})"
    )
    return (
        f"steps_per_execution={config.steps_per_execution} is set to 1 with the "
        f"{config.strategy!r} strategy: {why}"
    )


def worker_role(strategy) -> tuple[bool, int]:
    """``(is_chief, task_id)``: only the chief of a multi-worker run writes the run directory.

    ``should_checkpoint`` is ``tf.distribute``'s own answer (true on the chief, or worker 0
    of a cluster without a chief, and in a single process).

    Args:
        strategy: The ``tf.distribute`` strategy, or None.

    Returns:
        Whether this process is the chief, and its task id.
    """
    if strategy is None:
        return True, 0
    resolver = getattr(strategy, "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None) or 0
    return bool(strategy.extended.should_checkpoint), int(task_id)


def load_data(config, dataset=None) -> RunData:
    """Load the run's data and seed Keras's global generators.

    Args:
        config: The validated config.
        dataset: The dataset already read (`read_file_data`), or None: load it now.

    Returns:
        The `RunData`.

    Raises:
        kerasdl.data.DataError: The data cannot be found or read.
    """
    import keras

    from kerasdl import data

    if dataset is None:
        dataset = data.load_dataset(config, decoded=False)  # MNIST's inputs as uint8 codes
    on_jax = keras.backend.backend() == "jax"
    keras.utils.set_random_seed(config.seed)

    def evaluation(x, y):
        if on_jax:  # arrays, batched by Keras: no tf.data pipeline to convert batch by batch
            return (x, y)
        return data.make_tf_dataset(x, y, config.eval_batch_size, shuffle=False)

    validation = evaluation(dataset.x_val, dataset.y_val) if len(dataset.y_val) else None
    test = evaluation(dataset.x_test, dataset.y_test)
    return RunData(
        dataset=dataset,
        steps_per_epoch=-(-len(dataset.y_train) // config.batch_size),
        validation=validation,
        test=test,
        notices=(
            *((("warning", dataset.notice),) if dataset.notice else ()),
            *getattr(dataset, "messages", ()),
        ),
    )


def build(config, backend: Backend, data: RunData, resume_dir, state) -> tuple[object, int, tuple]:
    """Build and compile the run's model; for a resume, restore ``last.keras`` into it.

    The learning rate is built outside the strategy's scope: no distributed variable for the
    plateau's factor (`kerasdl.run.builders.build_learning_rate`).

    Args:
        config: The validated config.
        backend: From `start_backend`.
        data: From `load_data`.
        resume_dir: The run directory resumed, or None.
        state: Its state, or None.

    Returns:
        ``(model, initial_epoch, notices)``: the model's ``(level, message)`` warnings
        (`kerasdl.models.build_model_with_notices`).

    Raises:
        kerasdl.runs.RunError: The resumed run does not fit this config.
        kerasdl.models.ModelError: ``model.architecture``'s network cannot be built, or does
            not fit the data.
    """
    import keras

    from kerasdl.models import build_model_with_notices

    learning_rate = build_learning_rate(
        config,
        data.steps_per_epoch,
        plateau_scale=(state or {}).get("plateau_scale") or 1.0,
        constant_as_schedule=backend.strategy is not None,
    )
    with strategy_scope(backend.strategy):
        model, notices = build_model_with_notices(config, data.dataset)
        model.compile(
            optimizer=build_optimizer(
                config,
                learning_rate,
                build_momentum(config, data.steps_per_epoch),
                build_group_learning_rates(config, data.steps_per_epoch),
            ),
            loss=build_loss(config, data.dataset.num_classes),
            metrics=build_metrics(data.dataset.task),
            steps_per_execution=backend.steps_per_execution,
            jit_compile=config.jit_compile,
        )
        if resume_dir is None:
            return model, 0, notices
        resume.check_fingerprint(resume_dir, state, resume.run_fingerprint(config, data.dataset))
        epoch = resume.restore_model(model, resume_dir, state, data.steps_per_epoch)
        changed = resume.backend_change_notice(state, keras.backend.backend())
        return model, epoch, (*notices, ("warning", changed)) if changed else notices


@contextlib.contextmanager
def run_directory(config, backend: Backend, resume_dir, sinks: Iterable[Callable[[dict], None]]):
    """The run directory and its `kerasdl.events.EventWriter`, while the run lasts.

    A new run gets ``runs/<id>/`` (`kerasdl.runs.new_run_dir`, with ``config.toml``) and its
    lock; a resumed run keeps its directory and rewrites ``config.toml``; a multi-worker run's
    other workers write to a temporary directory, removed at the end.

    Args:
        config: The validated config.
        backend: From `start_backend`.
        resume_dir: The run directory resumed, or None.
        sinks: The callables that get every event.

    Yields:
        ``(run_dir, writer)``; the writer is closed and the lock released on the way out.
    """
    new_lock = None
    if not backend.chief:  # a multi-worker run's other workers write apart, and drop it
        run_dir = Path(tempfile.mkdtemp(prefix=f"kerasdl-worker{backend.worker}-"))
    elif resume_dir is not None:
        run_dir = resume_dir
        runs.write_text_atomically(run_dir / runs.CONFIG_FILE, config.to_toml())
    else:
        run_dir = runs.new_run_dir(config)
        if config.strategy != "multi-worker":
            new_lock = resume.RunLock(run_dir).acquire()  # a new directory: always free
    writer = EventWriter(run_dir / runs.EVENTS_FILE, sinks, run_id=run_dir.name)
    try:
        yield run_dir, writer
    finally:
        writer.close()
        if new_lock is not None:
            new_lock.release()
        if not backend.chief:
            shutil.rmtree(run_dir, ignore_errors=True)
