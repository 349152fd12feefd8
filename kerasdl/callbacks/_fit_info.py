"""What `Track` learns about a ``fit`` it records: the fit's arguments and its other callbacks,
the model, the optimizer, the loss and metrics, the backend's devices.

Private (``docs/own-training.md`` describes what is recorded). Keras gives a callback its
``model`` and ``params`` (``epochs``, ``steps``, ``verbose``) only: neither the other callbacks
of the fit nor its arguments (batch size, validation split, the data). Both are read, once, in
``on_train_begin``, from the frames that called it: Keras's ``CallbackList.on_train_begin``
(whose ``self`` is the list of the fit's callbacks) and the trainer's ``fit`` (whose locals are
its arguments and its epoch iterator). Every read is guarded: what cannot be found is None, and
a Track never fails a fit for it.
"""

from __future__ import annotations

import math
import sys

from kerasdl import _registration

__all__ = [
    "MAX_LAYERS",
    "callback_name",
    "compiled_loss",
    "data_kind",
    "describe_model",
    "describe_optimizer",
    "devices",
    "find_fit",
    "fit_arguments",
    "jsonable",
    "loss_name",
    "metric_names",
]

#: The most layers a description lists (a model's first ones; ``layers_total`` counts all).
MAX_LAYERS = 500
_MAX_TEXT = 1_000
_MAX_DEPTH = 8
_FRAMES = 16  # how far up from on_train_begin the fit's frames are looked for


def jsonable(value, depth: int = 0):
    """``value`` as plain JSON values: numbers, short strings, lists and dicts; numpy scalars as
    numbers; anything else as its short ``repr``."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if depth >= _MAX_DEPTH:
        return _short_repr(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, depth + 1) for item in value[:1000]]
    item = getattr(value, "item", None)
    shape = getattr(value, "shape", None)
    if callable(item) and shape is not None and len(shape) == 0:  # a numpy or tensor scalar
        try:
            return jsonable(item(), depth + 1)
        except Exception:  # a description never fails the fit
            pass
    return _short_repr(value)


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{_registration.plain_name(type(value))}>"
    return text if len(text) <= 200 else text[:199] + "…"


def callback_name(callback) -> str:
    """``keras.callbacks.EarlyStopping``, ``kerasdl.callbacks.Track``, ``mymodule.MyCallback``."""
    cls = type(callback)
    module = cls.__module__ or ""
    for public in ("keras", "kerasdl"):
        if module == public or module.startswith((f"{public}.src.", f"{public}.callbacks")):
            return f"{public}.callbacks.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}" if module else cls.__qualname__


# ----------------------------------------------------------------------------- the fit


def find_fit(track, model) -> dict:
    """The fit that called ``track.on_train_begin``: ``{"list": ..., "callbacks": [...],
    "locals": {...}}``.

    ``list`` is the fit's ``CallbackList`` and ``callbacks`` its callbacks (``track`` included,
    Keras's ``History`` and progress bar too), both None if no ``CallbackList`` holding
    ``track`` is found; ``locals`` are the trainer ``fit``'s arguments and epoch iterator, or
    ``{}``.
    """
    from keras.callbacks import CallbackList

    found = {"list": None, "callbacks": None, "locals": {}}
    frame = sys._getframe(1)
    try:
        for _ in range(_FRAMES):
            if frame is None:
                break
            owner = frame.f_locals.get("self")
            if found["callbacks"] is None and isinstance(owner, CallbackList):
                members = list(getattr(owner, "callbacks", None) or [])
                if any(member is track for member in members):
                    found["list"], found["callbacks"] = owner, members
            if frame.f_code.co_name == "fit" and owner is model:
                found["locals"] = dict(frame.f_locals)
                break
            frame = frame.f_back
    except Exception:  # an unusual caller: nothing found
        pass
    finally:
        del frame
    return found


def _num_samples(data) -> int | None:
    """The number of samples of arrays (or a tuple or dict of them), else None."""
    try:
        import keras

        for leaf in keras.tree.flatten(data):
            shape = getattr(leaf, "shape", None)
            if shape is not None and len(shape) >= 1 and shape[0] is not None:
                return int(shape[0])
            if isinstance(leaf, (list, tuple)):
                return len(leaf)
            return None
    except Exception:
        return None
    return None


def data_kind(data) -> str:
    """What ``fit``'s ``x`` is, in words: ``numpy arrays``, ``tf.data.Dataset``, ``PyDataset``,
    ``generator``, ``torch DataLoader``, ``tensors``."""
    if data is None:
        return "no data"
    cls = type(data)
    module, name = cls.__module__ or "", cls.__name__
    if module.startswith("numpy") or name == "ndarray":
        return "numpy arrays"
    if "Dataset" in name and module.startswith("tensorflow"):
        return "tf.data.Dataset"
    if name == "DataLoader":
        return "torch DataLoader"
    try:
        import keras

        if isinstance(data, keras.utils.PyDataset):
            return "PyDataset"
    except Exception:
        pass
    if isinstance(data, (dict, list, tuple)):
        kinds = {data_kind(item) for item in (data.values() if isinstance(data, dict) else data)}
        return kinds.pop() if len(kinds) == 1 else "arrays"
    if hasattr(data, "__next__"):
        return "generator"
    if hasattr(data, "shape"):
        return "tensors"
    return name


def fit_arguments(fit_locals: dict, params: dict | None) -> dict:
    """The fit's arguments and data sizes, as far as they are known: ``epochs``,
    ``initial_epoch``, ``batch_size``, ``steps_per_epoch``, ``validation``, ``n_train``,
    ``n_val``, ``data``."""
    params = params or {}
    args = fit_locals
    batch_size = _positive_int(args.get("batch_size"))
    steps = _positive_int(params.get("steps"))
    n_train = None
    adapter = getattr(args.get("epoch_iterator"), "data_adapter", None)
    if adapter is not None:
        try:
            size = _positive_int(adapter.batch_size)
            batches = _positive_int(adapter.num_batches)
            batch_size = batch_size or size
            if size and batches and args.get("steps_per_epoch") is None:
                partial = adapter.partial_batch_size if adapter.has_partial_batch else None
                n_train = (batches - 1) * size + (int(partial) if partial else size)
        except Exception:  # an adapter without sizes
            pass
    if n_train is None and args.get("steps_per_epoch") is None:
        n_train = _num_samples(args.get("x"))
    validation = None
    n_val = None
    if args.get("validation_data") is not None:
        validation = "validation_data"
        n_val = _num_samples(args.get("val_x"))
        if n_val is None:
            n_val = _num_samples(args["validation_data"])
    split = args.get("validation_split")
    if isinstance(split, (int, float)) and split and not isinstance(split, bool):
        validation = f"validation_split {split:g}"
    epochs = _positive_int(params.get("epochs")) or _positive_int(args.get("epochs"))
    initial = args.get("initial_epoch")
    return {
        "epochs": epochs,
        "initial_epoch": int(initial) if isinstance(initial, int) and initial >= 0 else 0,
        "batch_size": batch_size,
        "steps_per_epoch": steps,
        "validation": validation,
        "n_train": n_train,
        "n_val": n_val,
        "data": data_kind(args.get("x")) if args else None,
    }


def _positive_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number > 0 else None


# ----------------------------------------------------------------------------- the model


def _output_shape(layer):
    try:
        shape = layer.output.shape
    except Exception:  # a subclassed model's layers have no symbolic output
        return None
    return [None if dim is None else int(dim) for dim in shape]


def _params(layer) -> int | None:
    try:
        return int(layer.count_params())
    except Exception:  # not built
        return None


def describe_model(model) -> dict:
    """Name, class, parameter counts and the layers (name, class, output shape, params)."""
    layers = list(getattr(model, "layers", None) or [])
    try:
        trainable = sum(int(math.prod(v.shape)) for v in model.trainable_weights)
    except Exception:
        trainable = None
    total = _params(model)
    return {
        "name": str(getattr(model, "name", "") or ""),
        "class": _registration.plain_name(model),
        "params": total,
        "trainable_params": trainable,
        "non_trainable_params": (
            total - trainable if total is not None and trainable is not None else None
        ),
        "layers": [
            {
                "name": str(layer.name),
                "class": _registration.plain_name(layer),
                "output_shape": _output_shape(layer),
                "params": _params(layer),
            }
            for layer in layers[:MAX_LAYERS]
        ],
        "layers_total": len(layers),
    }


def describe_optimizer(optimizer) -> dict:
    """``{"class": ..., "name": ..., "config": get_config()}`` (JSON-able)."""
    if optimizer is None:
        return {"class": None, "name": None, "config": {}}
    try:
        config = jsonable(optimizer.get_config())
    except Exception:
        config = {}
    return {
        "class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
        "name": str(getattr(optimizer, "name", "") or _registration.plain_name(optimizer)),
        "config": config,
    }


def _name_of(item) -> str:
    if isinstance(item, str):
        return item
    name = getattr(item, "name", None) or getattr(item, "__name__", None)
    return str(name or _registration.plain_name(type(item)))


def loss_name(loss) -> str | None:
    """The compiled loss in words: ``mse``, ``sparse_categorical_crossentropy``, or the
    outputs' losses (``out_a: mse, out_b: mae``)."""
    if loss is None:
        return None
    if isinstance(loss, dict):
        return ", ".join(f"{key}: {loss_name(value)}" for key, value in loss.items())
    if isinstance(loss, (list, tuple)):
        return ", ".join(str(loss_name(value)) for value in loss)
    return _name_of(loss)


def metric_names(model) -> list[str]:
    """The metrics given to ``compile`` (names), else ``[]``."""
    config = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    names: list[str] = []
    for key in ("metrics", "weighted_metrics"):
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            value = [item for items in value.values() for item in _as_list(items)]
        names.extend(_name_of(item) for item in _as_list(value))
    return names


def compiled_loss(model):
    """The loss given to ``compile`` (a name, a function, a ``Loss``, a list or dict of them)."""
    config = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    return config.get("loss", getattr(model, "loss", None))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def devices() -> list[str]:
    """The device the backend trains on (``CPU:0``, ``GPU:0``, ``cuda:0``)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            names = [gpus[0].name] if gpus else [tf.config.list_logical_devices("CPU")[0].name]
        elif backend == "jax":
            import jax

            names = [str(jax.devices()[0])]
        elif backend == "torch":
            import torch

            names = ["cuda:0" if torch.cuda.is_available() else "cpu"]
        else:
            names = [backend]
    except Exception:
        names = [backend]
    return [name.split("device:")[-1] for name in names]
