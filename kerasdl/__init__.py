"""kerasdl: the chapter "Training deep neural networks" on Keras 3.

Importing ``kerasdl`` is cheap: the component families (``kerasdl.losses``,
``kerasdl.optimizers``, ...) import Keras, so they load on first attribute
access, not here. ``kerasdl --help`` therefore never pays for TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "optimizers",
    "regularizers",
    "schedules",
    "torch_port",
)

# Engine modules, also loaded on first attribute access (``kerasdl.runner.train``).
_ENGINE = ("config", "data", "events", "runs", "runner", "models", "dashboard")

__all__ = ["__version__", "from_torch", "load_model", "register_all", *_SUBMODULES, *_ENGINE]


def register_all():
    """Import every component family, which registers it with Keras's serialization.

    Keras finds a registered class only once its module has been imported, and
    ``import kerasdl`` imports none (to keep the CLI light). Call this, or import
    the families you use (``import kerasdl.optimizers``), before
    ``keras.saving.load_model`` in a fresh process.
    """
    for name in _SUBMODULES:
        importlib.import_module(f"{__name__}.{name}")


def load_model(filepath, **kwargs):
    """``keras.saving.load_model`` for a model that uses kerasdl components.

    The same as Keras's function (the same arguments, no ``custom_objects``
    needed) after `register_all`.
    """
    register_all()
    import keras

    return keras.saving.load_model(filepath, **kwargs)


def __getattr__(name):
    if name == "from_torch":  # kerasdl.torch_port never imports torch itself
        from kerasdl.torch_port import from_torch

        return from_torch
    if name in _SUBMODULES or name in _ENGINE:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_ENGINE) | {"from_torch"})
