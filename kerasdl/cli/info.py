"""``kerasdl info``: what this installation would train with."""

import platform

from rich.table import Table

import kerasdl
from kerasdl.cli.console import safe_console
from kerasdl.cli.native_logs import quiet_native_logs


def show_info():
    """The versions, the backend and its devices, as a table on stdout (TensorFlow's own logs
    kept off stderr: `quiet_native_logs`)."""
    with quiet_native_logs():
        table = _info_table()
    safe_console().print(table)


def _info_table() -> Table:
    import keras

    table = Table(title="kerasdl", show_header=False)
    table.add_row("kerasdl", kerasdl.__version__)
    table.add_row("python", platform.python_version())
    table.add_row("keras", keras.__version__)
    backend = keras.backend.backend()
    table.add_row("backend", backend)
    if backend == "tensorflow":
        import tensorflow as tf

        table.add_row("tensorflow", tf.__version__)
        devices = [d.name for d in tf.config.list_logical_devices()]
    elif backend == "jax":
        import jax

        table.add_row("jax", jax.__version__)
        devices = [str(d) for d in jax.devices()]
    else:
        devices = ["(see the backend's own tools)"]
    table.add_row("devices", ", ".join(devices))
    return table
