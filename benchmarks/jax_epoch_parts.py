"""Where kerasdl's epoch on JAX goes: the preset taken apart, one part at a time, side by side in
one process against the hand-written JAX + optax epoch of `peer_jax_optax.py`.

Each variant below trains the chapter's 3.6 network on the preset's split of full MNIST (54,000
training images, batch 64, the short last batch of 48); the variants run in turn, ``--rounds``
times, each round ``--epochs`` epochs of each after one untimed warm-up epoch (compilation), so
that the machine's drift is shared. From the whole preset down to the bare step:

- ``preset``: `kerasdl.runner.train` (its callbacks, event log, checkpoints, validation),
  run first, not alternated (its median is of its own epochs 2 on);
- ``loop.fit``: `kerasdl.loop.fit` on the preset's compiled model, with validation, no callbacks;
- ``steps, codes``: `kerasdl.loop_jax.compiled_steps` alone (the uint8 codes decoded per
  batch), the epoch in calls of ``steps_per_execution`` (128) steps;
- ``steps, float32``: the same over the decoded float32 images;
- ``steps, float32, 1 call``: the whole epoch in one call;
- ``steps, no metrics``: compiled without metrics (the loss tracker only);
- ``steps, keras AdamW``: Keras's own ``AdamW`` instead of kerasdl's;
- ``optax``: the JAX + optax epoch (one ``jit`` of a ``lax.scan``, no validation).

    python benchmarks/jax_epoch_parts.py --data-dir ../shared/data/mnist --rounds 2 --epochs 4
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _preset_config(data_dir, runs_dir, epochs):
    from kerasdl.config import TrainConfig

    return TrainConfig().override(
        {
            "runs_dir": runs_dir,
            "data.name": "mnist",
            "data.data_dir": data_dir,
            "epochs": epochs,
            "system_metrics": False,
        }
    )


def preset_epochs(data_dir, epochs):
    """The preset's own epoch seconds (from its ``epoch_ended`` events), and its model."""
    import keras

    from kerasdl.runner import train

    seconds, captured = [], {}

    class Capture(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            captured["model"] = self.model

    def on_event(event):
        if event["type"] == "epoch_ended":
            seconds.append(event["epoch_seconds"])

    with tempfile.TemporaryDirectory() as runs_dir:
        train(_preset_config(data_dir, runs_dir, epochs), sinks=[on_event], callbacks=[Capture()])
    return seconds, captured["model"]


class Steps:
    """`kerasdl.loop_jax.compiled_steps` over the preset's training arrays, timed per epoch."""

    def __init__(self, model, x, y, levels, per_call):
        from kerasdl import data, loop_jax

        self.run_steps = loop_jax.compiled_steps(model, x, y, 64, unroll=1, x_levels=levels)
        self.steps = -(-len(x) // 64)
        self.per_call = per_call
        self.order = lambda epoch: data.epoch_order(len(x), 0, epoch)
        self.model = model

    def epoch(self, epoch):
        indices = self.run_steps.indices(self.order(epoch))
        self.model.reset_metrics()
        for first in range(0, self.steps, self.per_call):
            logs = self.run_steps(indices, first, min(self.per_call, self.steps - first))
        return {name: float(value) for name, value in logs.items()}


def recompiled(model, optimizer=None, metrics=True):
    """A copy of ``model`` (same weights) compiled as the preset is, with changes."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.compile(
        optimizer=optimizer or model.optimizer.__class__.from_config(model.optimizer.get_config()),
        loss=model.loss,
        metrics=["accuracy"] if metrics else None,
    )
    return copy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per variant a round")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    import keras
    import peer_jax_optax as peer
    from _peers_common import load_split

    from kerasdl import data, loop

    preset_seconds, model = preset_epochs(args.data_dir, args.epochs + 1)
    d = load_split(args.data_dir)
    codes, levels = d.compact_train_inputs()
    x32 = d.train_inputs()
    y = d.y_train

    def fit_epochs(count, first_epoch):
        """``count`` epochs of one `kerasdl.loop.fit` call (the first compiles: left out)."""
        order = lambda epoch: data.epoch_order(len(codes), 0, epoch)  # noqa: E731
        marks = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                marks.append(time.perf_counter())

            def on_epoch_end(self, epoch, logs=None):
                marks[-1] = time.perf_counter() - marks[-1]

        loop.fit(
            model, codes, y, batch_size=64, order=order, epochs=first_epoch + count + 1,
            initial_epoch=first_epoch, validation_data=(d.x_val, d.y_val),
            steps_per_execution=128, unroll=1, x_levels=levels, callbacks=[Clock()],
        )  # fmt: skip
        return marks[1:]

    def steps_variant(m, x, lv, per_call):
        s = Steps(m, x, y, lv, per_call)

        def one(epoch):
            start = time.perf_counter()
            s.epoch(epoch)
            return time.perf_counter() - start

        return one

    def optax_variant():
        optimizer = peer.optax.inject_hyperparams(peer.optax.adamw)(
            learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01
        )
        key = jax.random.key(0)
        params, stats = peer.init(key)
        carry = {"p": params, "s": stats, "o": optimizer.init(params)}
        epoch_fn = peer.make_epoch(optimizer)
        xj, yj = jnp.asarray(x32), jnp.asarray(y)

        def one(epoch):
            start = time.perf_counter()
            p, s, o, loss, _ = epoch_fn(carry["p"], carry["s"], carry["o"], xj, yj, key)
            float(loss)
            carry.update(p=p, s=s, o=o)
            return time.perf_counter() - start

        return one

    variants = {
        "steps, codes": steps_variant(model, codes, levels, 128),
        "steps, float32": steps_variant(recompiled(model), x32, None, 128),
        "steps, float32, 1 call": steps_variant(recompiled(model), x32, None, 10**6),
        "steps, no metrics": steps_variant(recompiled(model, metrics=False), x32, None, 128),
        "steps, keras AdamW": steps_variant(
            recompiled(
                model,
                optimizer=keras.optimizers.AdamW(
                    learning_rate=1e-3, weight_decay=0.01, epsilon=1e-8
                ),
            ),
            x32,
            None,
            128,
        ),
        "optax": optax_variant(),
    }
    for one in variants.values():
        one(0)  # compile
    seconds = {name: [] for name in ["loop.fit", *variants]}
    epoch = 1
    for _ in range(args.rounds):
        seconds["loop.fit"] += fit_epochs(args.epochs, epoch)
        epoch += args.epochs + 1
        for name, one in variants.items():
            for _ in range(args.epochs):
                seconds[name].append(one(epoch))
                epoch += 1
    result = {
        "preset_steady_s": statistics.median(preset_seconds[1:]),
        "preset_epoch_seconds": preset_seconds,
        "variants": {name: statistics.median(v) for name, v in seconds.items()},
        "seconds": seconds,
        "jax": jax.__version__,
        "keras": keras.__version__,
    }
    print(json.dumps(result["variants"] | {"preset": result["preset_steady_s"]}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
