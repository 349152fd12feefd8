"""TensorFlow's own logs, kept off the terminal of every command that loads it.

TensorFlow talks on two sides. Its C++ code writes lines to file descriptor 2 while it loads
(``I0000 ... cpu_feature_guard.cc ...``, a failed CUDA probe on a machine without a GPU), and
its Python code logs through the ``tensorflow`` and ``absl`` loggers (``WARNING:tensorflow:...
tf.function retracing``) and raises Python warnings (Keras's ``UserWarning``s).
`quiet_native_logs` silences both for the duration of a command's work:

- ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set (C++ info and warning logs off), and the lines in
  `_NATIVE_NOISE` dropped from file descriptor 2 (every other line goes on as it comes);
- the ``tensorflow`` and ``absl`` loggers at ERROR (and absl's verbosity too);
- Python warnings raised from TensorFlow, Keras or absl modules ignored.

Everything is put back on the way out. ``kerasdl --verbose`` (`set_verbose`) or
``KERASDL_DEBUG`` (any non-empty value) turns all of it off: nothing is filtered and
``TF_CPP_MIN_LOG_LEVEL`` stays as the user set it. ``TF_CPP_MIN_LOG_LEVEL=0`` alone turns off the
file descriptor filter (the Python side stays quiet).

Light at import (the standard library only): ``kerasdl --help`` imports this module.
"""

import contextlib
import json
import logging
import os
import re
import sys
import threading
import warnings

ENV_DEBUG = "KERASDL_DEBUG"
ENV_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"

# Lines TensorFlow's C++ side writes to stderr that say nothing to a person training a model:
# the lines it prints while it loads (before its log level applies), a failed CUDA probe on a
# machine without a GPU, and CUDA plugins registered twice. Its other errors go through.
_NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog|"
    rb"[IW]\d{4} [\d:.]+\s+\d+ \w+\.cc:\d+\]|"
    rb"E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] "
    rb"(failed call to cuInit|Unable to register cu\w+ factory)|"
    rb"To enable the following instructions:)"
)

#: The modules whose Python warnings are ignored while quiet (a regex on the module name).
_QUIET_MODULES = r"(tensorflow|tf_keras|keras|absl|google\.protobuf)(\.|$)"
#: The Python loggers set to ERROR while quiet.
_QUIET_LOGGERS = ("tensorflow", "absl")

_verbose = False


def set_verbose(on: bool) -> None:
    """``kerasdl --verbose``: let TensorFlow's logs through (the root callback sets it per call)."""
    global _verbose
    _verbose = bool(on)


def verbose() -> bool:
    """Whether TensorFlow's logs go through: ``--verbose`` or a non-empty ``KERASDL_DEBUG``."""
    return _verbose or bool(os.environ.get(ENV_DEBUG))


def filters_stderr() -> bool:
    """Whether `_NATIVE_NOISE` lines are dropped from stderr (not verbose, and
    ``TF_CPP_MIN_LOG_LEVEL`` is not ``0``)."""
    return not verbose() and os.environ.get(ENV_TF_LOG_LEVEL, "2") != "0"


def is_noise(line: bytes) -> bool:
    """Whether ``line`` is one of TensorFlow's known loading lines (see `_NATIVE_NOISE`)."""
    return bool(_NATIVE_NOISE.match(line))


def import_runner():
    """``kerasdl.runner``, with the Keras backend loaded (call it inside `quiet_native_logs`).

    The backend is imported here (not a model: the CLI never touches one) so that TensorFlow
    loads inside the filter, before the run's first line.
    """
    if not verbose():
        os.environ.setdefault(ENV_TF_LOG_LEVEL, "2")
    backend = configured_backend()
    if backend == "tensorflow":
        import_tensorflow_without_jax()
    import keras  # noqa: F401  (the backend, see above)

    from kerasdl import runner

    if backend == "jax":
        from kerasdl.run.setup import use_jax_compilation_cache

        use_jax_compilation_cache()  # before anything compiles
    return runner


def configured_backend() -> str:
    """The Keras backend a ``import keras`` would load: ``KERAS_BACKEND``, else the ``backend``
    of Keras's ``keras.json`` (in ``KERAS_HOME``, default ``~/.keras``), else
    ``"tensorflow"``. Read without importing Keras."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            name = json.load(handle).get("backend")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else "tensorflow"


def import_tensorflow_without_jax() -> None:
    """Import TensorFlow without the JAX it would import on the side.

    TensorFlow's TFLite helpers (``tensorflow.lite.python.util``) import ``jax`` whenever it is
    installed, for converting JAX functions, which kerasdl never does. On the 2-core machine
    that import costs about 2 s and 130 MB of resident memory in every ``kerasdl train`` with
    the ``jax`` extra installed. While TensorFlow loads, ``jax`` is marked absent in
    ``sys.modules`` (its own ``try: import jax`` falls back); afterwards the mark is removed,
    so that a later ``import jax`` works as usual. Nothing is done if JAX or TensorFlow is
    already imported.
    """
    if "tensorflow" in sys.modules or "jax" in sys.modules:
        return
    sys.modules["jax"] = None  # `import jax` raises ImportError while it is there
    try:
        import tensorflow  # noqa: F401
    finally:
        if sys.modules.get("jax", 0) is None:
            del sys.modules["jax"]


@contextlib.contextmanager
def quiet_native_logs(*, filter_stderr: bool = True):
    """Keep TensorFlow's C++ and Python logs off the terminal while the block runs.

    See the module's docstring for what is quiet and how to turn it off. With
    ``filter_stderr=False`` file descriptor 2 is left alone (the dashboard sends it elsewhere
    and filters what it kept, `is_noise`); the log level and the Python side are still quiet.
    """
    if verbose():
        yield
        return
    os.environ.setdefault(ENV_TF_LOG_LEVEL, "2")
    with _quiet_python_logs():
        if not (filter_stderr and filters_stderr()):
            yield
            return
        with _filtered_fd2():
            yield


@contextlib.contextmanager
def _quiet_python_logs():
    """The ``tensorflow`` and ``absl`` loggers at ERROR, TensorFlow's and Keras's Python warnings
    ignored; all put back after."""
    absl_logging = None
    with contextlib.suppress(ImportError):  # absl comes with TensorFlow; light on its own
        import absl.logging as absl_logging
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    absl_verbosity = absl_logging.get_verbosity() if absl_logging is not None else None
    try:
        if absl_logging is not None:
            absl_logging.set_verbosity(absl_logging.ERROR)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=_QUIET_MODULES)
            yield
    finally:
        if absl_logging is not None:
            with contextlib.suppress(Exception):
                absl_logging.set_verbosity(absl_verbosity)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _filtered_fd2():
    """File descriptor 2 through a pipe that a thread pumps to the real stderr, less
    `_NATIVE_NOISE`."""
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
