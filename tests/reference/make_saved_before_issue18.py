"""Write tests/components/fixtures/saved_before_issue18/: ``.keras`` files saved by kerasdl as it
was before issue 18 (optimizers and schedules saved under their bare class names), and what that
code knew of them (``facts.json``), for tests/components/test_fresh_process_loading.py.

Usage, with the code of commit 72d751d (the last before the change), never the code under test::

    git worktree add --detach /tmp/wt_old 72d751d
    PYTHONPATH=/tmp/wt_old python tests/reference/make_saved_before_issue18.py [NAME ...]

(names, of `MAKERS`: only those files, the others' facts kept; ``adam_groups`` was added so).

Each model is a ``Dense(2)`` on 3 inputs (in ``multi_optimizer.keras`` its kernel and bias are
under two optimizers in Keras's ``MultiOptimizer``), trained 2 steps on fixed data and saved.
``facts.json`` holds the default names and variable paths of each optimizer class
(`optimizer_names`) and, per file, the optimizer's name, its variables' paths (as saved, and as
that code loaded them) and values, the model's weights, the learning rate, and the model's weights
after one more step on the same batch (computed by that code: a resumed fit must reproduce them up
to cross-machine round-off).
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "components" / "fixtures" / "saved_before_issue18"
X = (np.arange(24, dtype="float32").reshape(8, 3) / 10).tolist()
Y = np.linspace(-1.0, 1.0, 16, dtype="float32").reshape(8, 2).tolist()


def _plain():
    from kerasdl import initializers, losses, optimizers, regularizers, schedules

    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                2,
                name="enc",
                kernel_regularizer=regularizers.L2(0.01),
                kernel_initializer=initializers.HeNormal(seed=1),
            ),
        ]
    )
    schedule = schedules.StepLR(0.01, step_size=1, gamma=0.5)
    optimizer = optimizers.Adam(schedule, amsgrad=True, weight_decay=0.01)
    return model, optimizer, losses.MeanSquaredError()


def _multi():
    from kerasdl import optimizers, schedules
    from kerasdl.callbacks.reduce_lr_on_plateau import PlateauScaledSchedule

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="enc")])
    decay = PlateauScaledSchedule(schedules.ExponentialLR(0.1, gamma=0.9), 0.5)
    mapping = keras.optimizers.OptimizerMap(default_optimizer=optimizers.SGD(decay, momentum=0.9))
    mapping[".*kernel.*"] = optimizers.Adam(0.01)
    return model, keras.optimizers.MultiOptimizer(mapping), "mse"


def _groups():
    """AdamW with two parameter groups (a pattern and a rank rule), as issue 18's groups were
    saved before their plateau reset variables existed (commit 72d751d)."""
    from kerasdl import optimizers

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="enc")])
    groups = [
        {"pattern": "kernel", "learning_rate": 0.02, "weight_decay": 0.0},
        {"max_rank": 1, "learning_rate": 0.005},
    ]
    return model, optimizers.AdamW(0.01, groups=groups), "mse"


MAKERS = {"adam_steplr": _plain, "multi_optimizer": _multi, "adam_groups": _groups}

OPTIMIZERS = (
    "SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop",
    "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
)  # fmt: skip


def optimizer_names():
    """Per kerasdl optimizer class, in a process that has made no optimizer yet: the default
    names of two instances and the variable paths of the first, built on a ``Dense(2)``.

    The test runs this with the code under test in a fresh process and compares."""
    from kerasdl import optimizers

    found = {}
    for name in OPTIMIZERS:
        cls = getattr(optimizers, name)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="enc")], name="net")
        first = cls(centered=True) if name == "RMSprop" else cls()
        first.build(model.trainable_variables)
        found[name] = {
            "names": [first.name, cls().name],
            "paths": [v.path for v in first.variables],
        }
    return found


def _values(variables):
    return [np.asarray(v, dtype="float64").tolist() for v in variables]


def main(only=None):
    """Write every file (or those named in ``only``, the others' facts kept)."""
    import kerasdl

    print("kerasdl from", kerasdl.__file__, file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    x, y = np.asarray(X, "float32"), np.asarray(Y, "float32")
    facts = {"optimizer_names": optimizer_names(), "x": X, "y": Y}
    if only:
        facts = json.loads((OUT / "facts.json").read_text())
    for name, make in MAKERS.items():
        if only and name not in only:
            continue
        keras.utils.set_random_seed(1)
        model, optimizer, loss = make()
        model.compile(optimizer=optimizer, loss=loss)
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        model.save(OUT / f"{name}.keras")
        inner = getattr(optimizer, "optimizers", [optimizer])
        facts[name] = {
            "optimizer": {
                "names": [o.name for o in inner],
                "paths": [v.path for v in optimizer.variables],
                "values": _values(optimizer.variables),
                "learning_rates": [float(np.asarray(o.learning_rate)) for o in inner],
            },
            "weights": _values(model.weights),
        }
        loaded = keras.saving.load_model(OUT / f"{name}.keras")  # Keras names them afresh
        facts[name]["optimizer"]["loaded_paths"] = [v.path for v in loaded.optimizer.variables]
        model.fit(x[:4], y[:4], batch_size=4, epochs=1, shuffle=False, verbose=0)
        facts[name]["weights_after_one_more_step"] = _values(model.weights)
    (OUT / "facts.json").write_text(json.dumps(facts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
