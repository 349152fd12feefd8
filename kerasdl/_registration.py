"""kerasdl's classes registered with Keras's serialization, and named so that a fresh process
that has not imported them fails to load them with a message that says so.

Keras resolves a saved object by its ``registered_name`` (``"kerasdl>L2"``), which it knows only
once the class's module has been imported (``import kerasdl`` alone imports no component family).
Where it does not know it, Keras falls back on the saved ``class_name``, which is the class's
``__name__``: in the regularizers, initializers, losses and optimizers it first looks the name up
among its own built-ins, so a kerasdl ``L2`` or ``Zeros`` loaded silently as Keras's ``L2`` or
``Zeros``, a kerasdl ``HeNormal`` failed with Keras's ``HeNormal.__init__() got an unexpected
keyword argument 'mode'`` and ``keras.optimizers.get`` of a kerasdl ``SGD`` failed with Keras's
``SGD``'s ``Argument(s) not recognized``; elsewhere (a schedule, an optimizer in a saved model)
Keras said a bare ``Could not locate class 'StepLR'``.

`serializable` registers a class under ``"kerasdl>Name"`` as before (files saved by earlier
kerasdl load unchanged once the family is imported) and sets its ``__name__``, the saved
``class_name``, to ``"kerasdl.Name (import kerasdl.<family> before loading)"``: no Keras built-in
has that name, and Keras quotes it, or the whole saved config, in the error it raises. The class's
``__qualname__`` stays ``Name``, so ``repr``, pickling and the documentation are unchanged; where
kerasdl shows a class's name to a user or writes it to a file it uses `plain_name`.

Every registered kerasdl class is decorated: regularizers, initializers, losses, optimizers,
schedules, `kerasdl.callbacks.reduce_lr_on_plateau.PlateauScaledSchedule` (family ``callbacks``)
and `kerasdl.torch_port.Shifted` (family ``torch_port``). The callbacks kerasdl registers
(`EarlyStopping`, ...) are never in a ``.keras`` file and keep their ``__name__``.
"""

__all__ = ["hint", "plain_name", "serializable"]

_PLAIN = {}  # a decorated class -> its own name (its __name__ is the hint)


def hint(name, family):
    """The saved ``class_name`` of the kerasdl class ``name`` of ``kerasdl.<family>``."""
    return f"kerasdl.{name} (import kerasdl.{family} before loading)"


def serializable(family):
    """A class decorator: register under ``"kerasdl>Name"``, saved as `hint` ``(Name, family)``."""

    import keras  # here: `plain_name` is for modules that do not import Keras

    def decorate(cls):
        name = cls.__qualname__
        keras.saving.register_keras_serializable(package="kerasdl", name=name)(cls)
        cls.__name__ = hint(name, family)
        _PLAIN[cls] = name
        return cls

    return decorate


def plain_name(cls_or_object):
    """The name to show for a class (or an object's class): ``Name`` for a class `serializable`
    decorated, else its ``__name__`` (a user's subclass of a kerasdl class has its own).

    Args:
        cls_or_object: A class, or an instance (its type is named).

    Returns:
        str, the class's name as its ``class`` statement spells it.
    """
    cls = cls_or_object if isinstance(cls_or_object, type) else type(cls_or_object)
    return _PLAIN.get(cls, cls.__name__)
