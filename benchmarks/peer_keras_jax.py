"""The chapter's 3.6 network trained by Keras 3's own ``model.fit`` on the JAX backend, with
``steps_per_execution``, timed per epoch, as one JSON line.

What a Keras user would write for speed, without kerasdl's engine: a ``keras.Sequential`` of
Keras layers with the chapter's math (Dense 784-256, BatchNormalization with Keras momentum 0.9
= PyTorch's 0.1 and eps 1e-5, ReLU, Dropout(0.5), Dense 128 ReLU, Dense 10 logits; weights and
biases drawn like PyTorch's default, `kerasdl.initializers.TorchDefault`), mean sparse
cross-entropy on the logits, `kerasdl.optimizers.AdamW` (PyTorch's AdamW: lr 1e-3, eps 1e-8
outside the square root, weight decay 0.01 on every parameter; Keras's own ``AdamW`` puts eps
elsewhere) and ``StepLR(10, 0.5)`` as a `keras.callbacks.LearningRateScheduler`. The script sets
``KERAS_BACKEND=jax`` before importing Keras.

Data: the preset's split (`_peers_common`): ``fit`` on the 54,000 training images (shuffled
each epoch, 844 steps of which the last has 48 images), ``validation_data`` the 6,000 held-out
ones (batches of 1,000), timed with the epoch (``on_epoch_begin`` to ``on_epoch_end``); the
10,000 test images once at the end. Keras's BatchNormalization updates its moving variance with
the biased batch variance (PyTorch: unbiased), which touches only evaluation, by a factor of
64/63 at most.

    python benchmarks/peer_keras_jax.py --data-dir ../shared/data/mnist --epochs 3
"""

import os

os.environ["KERAS_BACKEND"] = "jax"

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers_common import add_arguments, load_split, report, step_lr


def build(seed):
    import keras

    from kerasdl.initializers import TorchDefault

    layers = [keras.Input(shape=(784,))]
    fan_in = 784
    for i, units in enumerate((256, 128, 10)):
        dense = keras.layers.Dense(
            units,
            kernel_initializer=TorchDefault(seed=seed + 2 * i),
            bias_initializer=TorchDefault(fan_in=fan_in, seed=seed + 2 * i + 1),
        )
        layers.append(dense)
        if i == 0:
            layers += [
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
                keras.layers.ReLU(),
                keras.layers.Dropout(0.5, seed=seed + 100),
            ]
        elif i == 1:
            layers.append(keras.layers.ReLU())
        fan_in = units
    return keras.Sequential(layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-per-execution", type=int, default=128)
    args = parser.parse_args()

    d = load_split(args.data_dir, args.limit)
    import keras

    from kerasdl.optimizers import AdamW

    keras.utils.set_random_seed(args.seed)
    model = build(args.seed)
    model.compile(
        optimizer=AdamW(learning_rate=1e-3, weight_decay=0.01, epsilon=1e-8),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
    )
    epoch_seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)

    history = model.fit(
        d.x_train,
        d.y_train,
        batch_size=64,
        epochs=args.epochs,
        validation_data=(d.x_val, d.y_val),
        validation_batch_size=1000,
        shuffle=True,
        verbose=0,
        # LearningRateScheduler first: the Timer's epoch then starts after it.
        callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: step_lr(e)), Timer()],
    )
    _, test_accuracy = model.evaluate(d.x_test, d.y_test, batch_size=1000, verbose=0)

    import jax

    out = report(
        "keras-fit-jax",
        epoch_seconds,
        test_accuracy=float(test_accuracy),
        val_accuracy=float(history.history["val_accuracy"][-1]),
        train_examples=len(d.y_train),
        steps_per_execution=args.steps_per_execution,
        keras=keras.__version__,
        jax=jax.__version__,
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
