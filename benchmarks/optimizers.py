"""Time a training step with each kerasdl optimizer against Keras's closest built-in.

Usage (from the repository root; see benchmarks/README.md)::

    python benchmarks/optimizers.py            # the full run (minutes; use an idle machine)
    python benchmarks/optimizers.py --quick    # smoke run: tiny model, few steps
    python benchmarks/optimizers.py --count-ops  # no timing: tensor ops per variable

For each pair (kerasdl, Keras) and for ``jit_compile`` off and on, the script
builds two copies of one MLP (about 5.15M parameters, the same initial weights),
compiles each with its optimizer, warms both up (tracing, XLA compilation and
the first steps are not timed), then times blocks of ``train_on_batch`` calls on
one fixed in-memory batch. Blocks alternate between the two models in ABBA order
(kerasdl, Keras, Keras, kerasdl, ...) so that machine noise and drift hit both
alike; a model's time is the median over its blocks of the mean step time in a
block. It prints a Markdown table and the machine it ran on.

``--count-ops`` times nothing: it traces one ``optimizer.apply`` per pair and
counts the graph's operations that read or write a whole variable-sized tensor,
the work that grows with the model (what costs time without XLA's fusion).

The TensorFlow backend unless ``KERAS_BACKEND`` says otherwise: ``KERAS_BACKEND=jax`` times
the same pairs on JAX (on a GPU if JAX has one; ``--count-ops`` needs TensorFlow).
"""

import argparse
import gc
import os
import platform
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

TARGET_RATIO = 1.10

# kerasdl optimizer -> (kerasdl kwargs, Keras class name, Keras kwargs): the same
# hyperparameters where both have them, so both do the same amount of work.
PAIRS = {
    "SGD": (dict(learning_rate=0.01), "SGD", dict(learning_rate=0.01)),
    "Momentum": (
        dict(learning_rate=0.01, momentum=0.9),
        "SGD",
        dict(learning_rate=0.01, momentum=0.9),
    ),
    "Nesterov": (
        dict(learning_rate=0.01, momentum=0.9),
        "SGD",
        dict(learning_rate=0.01, momentum=0.9, nesterov=True),
    ),
    "Adagrad": (
        dict(learning_rate=0.01, epsilon=1e-7),
        "Adagrad",
        dict(learning_rate=0.01, epsilon=1e-7),
    ),
    "RMSprop": (
        dict(learning_rate=1e-3, rho=0.9, epsilon=1e-7),
        "RMSprop",
        dict(learning_rate=1e-3, rho=0.9, epsilon=1e-7),
    ),
    "Adam": (
        dict(learning_rate=1e-3, epsilon=1e-7),
        "Adam",
        dict(learning_rate=1e-3, epsilon=1e-7),
    ),
    "AdamW": (
        dict(learning_rate=1e-3, epsilon=1e-7, weight_decay=0.01),
        "AdamW",
        dict(learning_rate=1e-3, epsilon=1e-7, weight_decay=0.01),
    ),
}

# The Keras call that PAIRS stands for, for the table.
KERAS_LABEL = {
    "SGD": "SGD",
    "Momentum": "SGD(momentum=0.9)",
    "Nesterov": "SGD(momentum=0.9, nesterov=True)",
    "Adagrad": "Adagrad",
    "RMSprop": "RMSprop",
    "Adam": "Adam",
    "AdamW": "AdamW",
}

FULL = dict(inputs=784, hidden=(2048, 1536, 256), classes=10, batch_size=128)
QUICK = dict(inputs=64, hidden=(128, 64), classes=10, batch_size=32)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny model, few steps")
    parser.add_argument("--repeats", type=int, help="timed blocks per model (default 8; quick 2)")
    parser.add_argument("--steps", type=int, help="train steps per block (default 10; quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps per model (default 5; quick 1)")
    parser.add_argument("--batch-size", type=int, help="default 128 (quick 32)")
    parser.add_argument(
        "--jit", choices=["off", "on", "both"], default="both", help="jit_compile setting(s)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(PAIRS), metavar="NAME", help="a subset of optimizers"
    )
    parser.add_argument(
        "--count-ops",
        action="store_true",
        help="time nothing; count the full-size tensor ops of one update per variable",
    )
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    args.size = dict(size)
    if args.batch_size:
        args.size["batch_size"] = args.batch_size
    args.repeats = args.repeats or (2 if args.quick else 8)
    args.steps = args.steps or (2 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    args.only = args.only or list(PAIRS)
    return args


def build_mlp(keras, size):
    layers = [keras.Input((size["inputs"],))]
    layers += [keras.layers.Dense(units, activation="relu") for units in size["hidden"]]
    layers += [keras.layers.Dense(size["classes"])]
    return keras.Sequential(layers)


def make_batch(keras, size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(size["batch_size"], size["inputs"])).astype("float32")
    y = rng.integers(0, size["classes"], size=(size["batch_size"],)).astype("int32")
    return keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)


def compiled(keras, size, weights, optimizer, jit):
    model = build_mlp(keras, size)
    model.set_weights(weights)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    if model.jit_compile is not jit:
        raise RuntimeError(f"Keras did not honour jit_compile={jit}")
    return model


def time_block(model, x, y, steps):
    """Mean milliseconds per `train_on_batch` over `steps` calls (each returns the
    loss as a NumPy value, so a call has finished when it returns)."""
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) * 1000 / steps


def time_pair(keras, name, jit, args, x, y, weights):
    models = {
        who: compiled(keras, args.size, weights, optimizer, jit)
        for who, optimizer in make_pair(keras, name).items()
    }
    for model in models.values():  # tracing, XLA compilation, first steps: not timed
        for _ in range(max(args.warmup, 1)):
            model.train_on_batch(x, y)
    times = {"kerasdl": [], "keras": []}
    for r in range(args.repeats):
        order = ("kerasdl", "keras") if r % 2 == 0 else ("keras", "kerasdl")  # ABBA
        for who in order:
            times[who].append(time_block(models[who], x, y, args.steps))
    del models
    keras.backend.clear_session()
    gc.collect()
    return {who: statistics.median(t) for who, t in times.items()}


def make_pair(keras, name):
    import kerasdl.optimizers

    ours_kwargs, theirs_class, theirs_kwargs = PAIRS[name]
    return {
        "kerasdl": getattr(kerasdl.optimizers, name)(**ours_kwargs),
        "keras": getattr(keras.optimizers, theirs_class)(**theirs_kwargs),
    }


def count_ops(keras, tf, optimizer):
    """(computations, variable writes) on full-size tensors in one traced update of
    a single (64, 32) variable; reads, constants and scalar work are not counted. A fused
    ``ResourceApply*`` kernel counts as one computation and one write per variable it updates."""
    shape = (64, 32)
    size = shape[0] * shape[1]
    variable = keras.Variable(np.ones(shape, "float32"))
    optimizer.build([variable])
    update = tf.function(lambda g: optimizer.apply([g], [variable]))
    graph = update.get_concrete_function(tf.ones(shape)).graph
    skip = {"ReadVariableOp", "Const", "Identity", "IdentityN", "Placeholder", "NoOp"}
    compute = writes = 0
    for op in graph.get_operations():
        if op.type in skip:
            continue
        if op.type.startswith("ResourceApply"):  # a fused update: one pass, writes each slot
            compute += 1
            writes += sum(t.dtype == tf.resource for t in op.inputs)
        elif op.type.startswith("Assign"):
            writes += any(t.shape.rank and t.shape.num_elements() == size for t in op.inputs)
        else:
            compute += any(t.shape.rank and t.shape.num_elements() == size for t in op.outputs)
    return compute, writes


def op_table(keras, tf, names):
    lines = [
        "| optimizer | Keras counterpart | kerasdl ops + writes | keras ops + writes |",
        "|---|---|---|---|",
    ]
    for name in names:
        counts = {who: count_ops(keras, tf, opt) for who, opt in make_pair(keras, name).items()}
        cells = [f"{c} + {w}" for c, w in (counts["kerasdl"], counts["keras"])]
        lines.append(f"| `{name}` | `{KERAS_LABEL[name]}` | {cells[0]} | {cells[1]} |")
    return lines


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def backend_lines(keras):
    """The backend's name and version, and the accelerators it trains on."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        return f"JAX {jax.__version__}", gpus
    import tensorflow as tf

    gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    return f"TensorFlow {tf.__version__}", gpus


def machine_lines(keras, n_params, args, jits):
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    framework, gpus = backend_lines(keras)
    return [
        f"- CPU: {cpu_model()}, {cores} logical cores ({usable} usable by this process)",
        f"- GPU: {', '.join(gpus) if gpus else 'none (CPU only)'}",
        f"- Python {platform.python_version()}, {framework}, "
        f"Keras {keras.__version__}, NumPy {np.__version__}, {platform.system()} "
        f"{platform.release()}",
        f"- model: MLP {args.size['inputs']}-{'-'.join(map(str, args.size['hidden']))}-"
        f"{args.size['classes']} (ReLU), {n_params:,} parameters, float32, batch "
        f"{args.size['batch_size']}, sparse categorical cross-entropy",
        f"- method: `train_on_batch` on one fixed batch; {args.warmup} warm-up step(s) per model; "
        f"{args.repeats} timed blocks of {args.steps} steps per model, ABBA-interleaved; "
        f"median of the block means; jit_compile {' and '.join(jits)}"
        + (" (--quick: a smoke run, not a measurement)" if args.quick else ""),
    ]


def table(results, jits):
    head = ["optimizer", "Keras counterpart"]
    for jit in jits:
        head += [f"jit {jit}: kerasdl ms", "keras ms", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, by_jit in results.items():
        row = [f"`{name}`", f"`{KERAS_LABEL[name]}`"]
        for jit in jits:
            t = by_jit[jit]
            ratio = t["kerasdl"] / t["keras"]
            flag = "" if ratio <= TARGET_RATIO else " (!)"
            row += [f"{t['kerasdl']:.2f}", f"{t['keras']:.2f}", f"{ratio:.3f}{flag}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main(argv=None):
    args = parse_args(argv)
    import keras

    if args.count_ops:
        import tensorflow as tf

        print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}\n")
        print("\n".join(op_table(keras, tf, args.only)))
        return

    jits = ["off", "on"] if args.jit == "both" else [args.jit]
    x, y = make_batch(keras, args.size)
    reference = build_mlp(keras, args.size)
    weights = reference.get_weights()
    n_params = reference.count_params()
    del reference

    results = {}
    for name in args.only:
        results[name] = {}
        for jit in jits:
            results[name][jit] = time_pair(keras, name, jit == "on", args, x, y, weights)
            t = results[name][jit]
            print(
                f"# {name:<9} jit {jit:<3}: kerasdl {t['kerasdl']:8.2f} ms, "
                f"keras {t['keras']:8.2f} ms",
                flush=True,
            )

    print()
    print("\n".join(machine_lines(keras, n_params, args, jits)))
    print()
    print("\n".join(table(results, jits)))
    ratios = [t["kerasdl"] / t["keras"] for by_jit in results.values() for t in by_jit.values()]
    print()
    print(
        f"Target: every kerasdl/keras ratio <= {TARGET_RATIO:.2f}; "
        f"worst here {max(ratios):.3f}" + ("" if max(ratios) <= TARGET_RATIO else " (!)")
    )


if __name__ == "__main__":
    main()
