"""``kerasdl info``: what this installation would train with."""

import platform

from rich.table import Table

import kerasdl
from kerasdl.cli.console import safe_console


def show_info():
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
    safe_console().print(table)
