"""What `kerasdl.callbacks.Track` adds to a fit: the same fit without it, with it, and with it
and a view attached, alternating, in one process; ratios, not absolute times.

    python benchmarks/track_overhead.py            # about a minute on 2 cores
    python benchmarks/track_overhead.py --quick    # a smoke run

Method (docs/benchmarks.md has the results):

- one compiled model (an MLP 784-128-10, ReLU, Adam, sparse categorical cross-entropy on
  logits; 101,770 parameters), fixed random data in memory, ``batch_size=64``, ``verbose=0``;
- three variants of the same ``model.fit(epochs=2)``: ``none`` (no callback), ``track``
  (``Track(checkpoints=None)``: a script another terminal watches; no sink, so no ``batch``
  event is built) and ``track+view`` (a sink that takes every event, as under
  ``kerasdl.dashboard.run``: ``batch`` events at most 4 a second);
- one untimed fit of each first (tracing); then ``--rounds`` rounds, each timing every variant
  once, in an order that rotates from round to round; a round's ratio is a variant's
  milliseconds per training step (the fit's wall time over its steps: Track's per-epoch work,
  its events, ``fit.json``, are in it) over ``none``'s in the same round, and the result is the
  median of the rounds' ratios (a busy machine moves a whole round, and the ratio less);
- and, in the same fits, the time spent inside the Track's own hooks (each timed with
  ``time.perf_counter``): per step in the batch hooks, per epoch in the epoch hooks (the
  event, its ``fsync``, and the epoch's first batch, which reads the learning rate and the
  step counter), per fit in ``on_train_begin`` and ``on_train_end`` (the run directory, the
  description, ``fit.json``, ``summary.json``). That is Track's cost without most of the noise
  of the machine (a thread preempted inside a hook still counts).
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from kerasdl.callbacks import Track


def build(units: int):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class TimedTrack(Track):
    """A Track that adds up the time spent in its own hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spent = {"batch": 0.0, "epoch": 0.0, "fit": 0.0}

    def _timed(self, kind, hook, *args):
        start = time.perf_counter()
        hook(*args)
        self.spent[kind] += time.perf_counter() - start

    def on_train_begin(self, logs=None):
        self._timed("fit", super().on_train_begin, logs)

    def on_train_end(self, logs=None):
        self._timed("fit", super().on_train_end, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._timed("epoch", super().on_epoch_begin, epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._timed("epoch", super().on_epoch_end, epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        # The epoch's first batch reads the learning rate and the step counter: epoch work.
        kind = "epoch" if self._epoch_begin is not None else "batch"
        self._timed(kind, super().on_train_batch_begin, batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._timed("batch", super().on_train_batch_end, batch, logs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny, few rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15)")
    parser.add_argument("--steps", type=int, default=None, help="steps an epoch (default 300)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 15)
    steps = args.steps or (20 if args.quick else 300)
    batch, epochs = 64, 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, 784)).astype("float32")
    y = rng.integers(0, 10, size=steps * batch).astype("int32")
    model = build(128)
    runs_dir = tempfile.mkdtemp(prefix="track-overhead-")
    events = []
    variants = {
        "none": lambda: [],
        "track": lambda: [TimedTrack(runs_dir, checkpoints=None)],
        "track+view": lambda: [TimedTrack(runs_dir, checkpoints=None, sinks=[events.append])],
    }
    names = list(variants)

    def timed(name):
        callbacks = variants[name]()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks)
        ms_per_step = (time.perf_counter() - start) * 1000 / (epochs * steps)
        return ms_per_step, (callbacks[0].spent if callbacks else None)

    for name in names:  # tracing and first allocations, untimed
        timed(name)
    per_step = {name: [] for name in names}
    spent = {name: [] for name in names[1:]}
    for round_ in range(rounds):
        order = names[round_ % 3 :] + names[: round_ % 3]
        if round_ % 2:
            order.reverse()
        for name in order:
            ms, hooks = timed(name)
            per_step[name].append(ms)
            if hooks is not None:
                spent[name].append(hooks)
        print(f"# round {round_ + 1}/{rounds}: " + ", ".join(
            f"{n} {per_step[n][-1]:.3f} ms/step" for n in names
        ), flush=True)  # fmt: skip

    print()
    load = os.getloadavg()[0]
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"Python {sys.version.split()[0]}, Keras {keras.__version__} "
          f"({keras.backend.backend()}); load average {load:.2f} at the end")  # fmt: skip
    print(f"- MLP 784-128-10 (101,770 parameters), batch {batch}, {steps} steps an epoch, "
          f"{epochs} epochs a fit, {rounds} rounds")  # fmt: skip
    print()
    print("| variant | ms per step, median | ratio to none, median of rounds (min-max) "
          "| in Track's batch hooks, µs per step | epoch hooks, ms per epoch "
          "| begin + end, ms per fit |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        median = statistics.median(per_step[name])
        if name == "none":
            print(f"| {name} | {median:.3f} | 1 | - | - | - |")
            continue
        ratios = [a / b for a, b in zip(per_step[name], per_step["none"], strict=True)]
        batch_us = statistics.median(h["batch"] for h in spent[name]) * 1e6 / (epochs * steps)
        epoch_ms = statistics.median(h["epoch"] for h in spent[name]) * 1e3 / epochs
        fit_ms = statistics.median(h["fit"] for h in spent[name]) * 1e3
        print(
            f"| {name} | {median:.3f} | {statistics.median(ratios):.3f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {batch_us:.2f} | {epoch_ms:.2f} "
            f"| {fit_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
