"""pytorch/examples' `mnist/main.py` recipe in torch and in Keras with kerasdl: the loss curves.

The Keras side is the recipe ported as docs/porting.md shows it: the same network (with a
`Permute` before `Flatten`, so that `fc1` sees torch's feature order), `kerasdl.from_torch` for
the optimizer (`Adadelta(lr=1.0)`), the schedule (`StepLR(step_size=1, gamma=0.7)` stepped once
an epoch: `steps_per_epoch`) and the initial weights (torch's init, copied). Both sides train
on the same batches in the same order (one permutation per epoch); dropout is off on both by
default (`--dropout` turns it on on both: the curves then agree only statistically, the masks
differ). Prints a Markdown table of the per-epoch train loss of each side, and one JSON line.

Needs torch (`pip install torch==2.13.0`)::

    python benchmarks/port_mnist_example.py --train-examples 10000 --epochs 2
"""

import argparse
import gzip
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import port_mnist_example_torch as torch_side


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def keras_model(dropout):
    """main.py's `Net` in Keras (channels last), log-probabilities out."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25 if dropout else 0.0),
            layers.Permute((3, 1, 2)),  # torch.flatten's order: channels, then rows, columns
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5 if dropout else 0.0),
            layers.Dense(10),
            layers.Activation("log_softmax"),
        ]
    )


def nll_loss():
    """`F.nll_loss` on log-probabilities: kerasdl's `NLLLoss` where this kerasdl has it, else
    Keras's sparse cross-entropy from logits (log_softmax of log-probabilities changes nothing)."""
    import keras

    import kerasdl.losses

    if hasattr(kerasdl.losses, "NLLLoss"):
        return kerasdl.losses.NLLLoss(), "kerasdl.losses.NLLLoss"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return loss, "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"


def run(args):
    import keras

    import kerasdl

    if args.float64:  # both sides in float64: what is left is the port, not float32 rounding
        keras.config.set_floatx("float64")

    images = read_idx(Path(args.data_dir) / "train-images-idx3-ubyte.gz")[: args.train_examples]
    labels = read_idx(Path(args.data_dir) / "train-labels-idx1-ubyte.gz")[: args.train_examples]
    x_torch, y_torch = torch_side.as_tensors(images, labels)
    model, optimizer, scheduler = torch_side.recipe(dropout=args.dropout)
    if args.float64:
        x_torch, model = x_torch.double(), model.double()
    x_keras = np.transpose(x_torch.numpy(), (0, 2, 3, 1))
    y_keras = labels.astype("int64")
    steps_per_epoch = math.ceil(len(labels) / args.batch_size)
    port = keras_model(args.dropout)
    converted = kerasdl.from_torch(
        optimizer, scheduler, model=port, weights=True, steps_per_epoch=steps_per_epoch
    )
    loss, loss_name = nll_loss()
    port.compile(optimizer=converted.optimizer, loss=loss)

    rng = np.random.default_rng(args.seed)
    rows = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(labels))
        torch_lr = optimizer.param_groups[0]["lr"]
        keras_lr = float(converted.schedule(converted.optimizer.iterations))
        start = time.perf_counter()
        torch_loss = torch_side.train_epoch(
            model, optimizer, x_torch, y_torch, order, args.batch_size
        )
        scheduler.step()
        torch_s = time.perf_counter() - start
        start = time.perf_counter()
        history = port.fit(
            x_keras[order], y_keras[order], batch_size=args.batch_size, shuffle=False, verbose=0
        )
        keras_s = time.perf_counter() - start
        keras_loss = history.history["loss"][0]
        rows.append(
            {
                "epoch": epoch + 1,
                "lr_torch": torch_lr,
                "lr_kerasdl": keras_lr,
                "loss_torch": torch_loss,
                "loss_kerasdl": keras_loss,
                "relative_difference": abs(keras_loss - torch_loss) / abs(torch_loss),
                "seconds_torch": round(torch_s, 1),
                "seconds_kerasdl": round(keras_s, 1),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows, loss_name, keras.backend.backend()


def table(rows):
    lines = [
        "| epoch | lr (torch) | lr (kerasdl) | train loss, torch | train loss, kerasdl "
        "| relative difference |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['epoch']} | {r['lr_torch']:.6g} | {r['lr_kerasdl']:.6g} | "
            f"{r['loss_torch']:.6f} | {r['loss_kerasdl']:.6f} | {r['relative_difference']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/work/shared/data/mnist")
    parser.add_argument("--train-examples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="main.py's is 64")
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch order")
    parser.add_argument("--dropout", action="store_true", help="dropout on, on both sides")
    parser.add_argument("--float64", action="store_true", help="both sides in float64")
    args = parser.parse_args(argv)
    rows, loss_name, backend = run(args)
    print(table(rows))
    summary = {
        "train_examples": args.train_examples,
        "epochs": args.epochs,
        "dropout": args.dropout,
        "float64": args.float64,
        "keras_backend": backend,
        "keras_loss": loss_name,
        "max_relative_difference": max(r["relative_difference"] for r in rows),
        "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
