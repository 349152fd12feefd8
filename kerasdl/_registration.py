"""kerasdl's classes registered with Keras's serialization, and named so that a fresh process
that has not imported them fails to load them with a message that says so.

Keras resolves a saved object by its ``registered_name`` (``"kerasdl>L2"``), which it knows only
once the class's module has been imported (``import kerasdl`` alone imports no component family).
Where it does not know it, Keras falls back on the saved ``class_name``, which is the class's
``__name__``: in the regularizers, initializers, losses and optimizers it first looks the name up
among its own built-ins, so a kerasdl ``L2`` or ``Zeros`` loaded silently as Keras's ``L2`` or
``Zeros`` and a kerasdl ``HeNormal`` failed with Keras's ``HeNormal.__init__() got an unexpected
keyword argument 'mode'``.

`serializable` registers a class under ``"kerasdl>Name"`` as before (files saved by earlier
kerasdl load unchanged once the family is imported) and sets its ``__name__``, the saved
``class_name``, to ``"kerasdl.Name (import kerasdl.<family> before loading)"``: no Keras built-in
has that name, and Keras quotes it, or the whole saved config, in the error it raises. The class's
``__qualname__`` stays ``Name``, so ``repr``, pickling and the documentation are unchanged.
"""

import keras

__all__ = ["hint", "serializable"]


def hint(name, family):
    """The saved ``class_name`` of the kerasdl class ``name`` of ``kerasdl.<family>``."""
    return f"kerasdl.{name} (import kerasdl.{family} before loading)"


def serializable(family):
    """A class decorator: register under ``"kerasdl>Name"``, saved as `hint` ``(Name, family)``."""

    def decorate(cls):
        name = cls.__qualname__
        keras.saving.register_keras_serializable(package="kerasdl", name=name)(cls)
        cls.__name__ = hint(name, family)
        return cls

    return decorate
