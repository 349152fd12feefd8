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
    "losses",
    "optimizers",
    "regularizers",
    "schedules",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
