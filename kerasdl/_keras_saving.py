"""A cache Keras's ``.keras`` saving means to keep and does not (Keras 3.10 to 3.15 at least).

``keras.src.saving.saving_lib.get_attr_skipset(kind)`` works out which attributes of a layer,
optimizer, metric... are Keras's own by building a throwaway ``Layer()``, ``Optimizer(1.0)``
and so on, and stores the result under ``saving_attr_skipset_<kind>``; but it looks it up
under ``saving_attr_skiplist_<kind>``, so it never finds it and builds them again at every
save. For the chapter's preset that is about 14 ms of the 25-40 ms a checkpoint takes, paid at
each improving epoch. `prime_skipsets` stores each set, as Keras computes it, under the name
Keras looks for, once per process. It changes nothing Keras saves (a test checks the file's
weights and config are the same), and does nothing if Keras's internals are not as expected.
"""

_KINDS = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")
_primed = False


def prime_skipsets() -> None:
    """Store Keras's attribute skip-sets where ``get_attr_skipset`` looks for them (once)."""
    global _primed
    if _primed:
        return
    _primed = True
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:  # pragma: no cover - Keras reorganised its internals
        return
    for kind in _KINDS:
        looked_up = f"saving_attr_skiplist_{kind}"
        try:
            if global_state.get_global_attribute(looked_up, None) is None:
                global_state.set_global_attribute(looked_up, saving_lib.get_attr_skipset(kind))
        except Exception:  # pragma: no cover - an unknown kind in another Keras: leave it
            continue
