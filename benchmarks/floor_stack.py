"""What each framework's own loop reaches on the preset's matrix products alone: the floor of
each stack, next to the SGEMM floor.

An epoch of the preset (the chapter's 3.6 MLP, 784-256-128-10, batch 64, 54,000 training
examples: 843 full steps) multiplies, per step, 3 products forward and 5 backward (the weight
gradient of each layer, and the input gradient of layers 2 and 3; layer 1's input gradient is
not needed): 8 products, 2 * 64 * (3 * 784 * 256 + 3 * 256 * 128 + 3 * 128 * 10 - 784 * 256)
= 64.5 MFLOP a step, 54.3 GFLOP an epoch. This script runs exactly those products, chained as
training chains them (each step's products read the weights the step before updated, each
backward product reads the forward's output), with nothing else a training step does (no bias,
activation, batch norm, dropout, loss, optimizer arithmetic beyond one `w -= 1e-9 * dw`, no
metrics, no batch gathers), in the way each framework runs a loop fastest:

- ``numpy``: a Python loop of ``np.matmul`` (this NumPy's BLAS);
- ``tensorflow``: one ``tf.function`` whose ``tf.while_loop`` runs the epoch's steps (as
  kerasdl's loop does), with the thread pools kerasdl's ``intra_op_threads = "auto"`` picks for
  the preset (1 intra-op, 2 inter-op) and with TensorFlow's defaults;
- ``jax``: one ``jax.jit`` of a ``lax.scan`` over the steps;
- ``torch``: an eager loop of ``torch.mm`` under ``torch.no_grad``.

Each side runs in a fresh process (threads and allocators as a training run would get them),
``--repeats`` epochs, and reports the median. The ratio of a stack's time to the SGEMM floor is
how far that stack's own product kernels and loop are from the arithmetic: a training epoch on
that stack cannot be faster than its row here.

    python benchmarks/floor_stack.py --repeats 5
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = (784, 256, 128, 10)
BATCH = 64
STEPS = 54_000 // BATCH  # 843 full steps


def flops_per_step() -> int:
    forward = sum(a * b for a, b in itertools.pairwise(SIZES))
    # backward: a weight gradient per layer, an input gradient for every layer but the first
    backward = forward + forward - SIZES[0] * SIZES[1]
    return 2 * BATCH * (forward + backward)


def _arrays(np):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    ws = [
        rng.standard_normal((a, b), dtype=np.float32) * np.float32(a**-0.5)
        for a, b in itertools.pairwise(SIZES)
    ]
    return x, ws


def run_numpy(repeats):
    import numpy as np

    x, (w1, w2, w3) = _arrays(np)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(STEPS):
            h1 = x @ w1
            h2 = h1 @ w2
            g3 = h2 @ w3
            d3 = h2.T @ g3
            g2 = g3 @ w3.T
            d2 = h1.T @ g2
            g1 = g2 @ w2.T
            d1 = x.T @ g1
            w1 -= 1e-9 * d1
            w2 -= 1e-9 * d2
            w3 -= 1e-9 * d3
        times.append(time.perf_counter() - start)
    return times


def run_tensorflow(repeats, threads):
    import numpy as np
    import tensorflow as tf

    if threads == "kerasdl":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    x_np, ws_np = _arrays(np)
    x = tf.constant(x_np)
    ws = [tf.Variable(w) for w in ws_np]

    @tf.function
    def epoch():
        def body(i, w1, w2, w3):
            h1 = tf.matmul(x, w1)
            h2 = tf.matmul(h1, w2)
            g3 = tf.matmul(h2, w3)
            d3 = tf.matmul(h2, g3, transpose_a=True)
            g2 = tf.matmul(g3, w3, transpose_b=True)
            d2 = tf.matmul(h1, g2, transpose_a=True)
            g1 = tf.matmul(g2, w2, transpose_b=True)
            d1 = tf.matmul(x, g1, transpose_a=True)
            return i + 1, w1 - 1e-9 * d1, w2 - 1e-9 * d2, w3 - 1e-9 * d3

        _, w1, w2, w3 = tf.while_loop(
            lambda i, *_: i < STEPS, body, (tf.constant(0), *(w.read_value() for w in ws))
        )
        for w, new in zip(ws, (w1, w2, w3), strict=True):
            w.assign(new)
        return w3[0, 0]

    epoch().numpy()  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch().numpy()
        times.append(time.perf_counter() - start)
    return times


def run_jax(repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np

    x_np, ws_np = _arrays(np)
    x = jnp.asarray(x_np)

    def step(ws, _):
        w1, w2, w3 = ws
        h1 = x @ w1
        h2 = h1 @ w2
        g3 = h2 @ w3
        d3 = h2.T @ g3
        g2 = g3 @ w3.T
        d2 = h1.T @ g2
        g1 = g2 @ w2.T
        d1 = x.T @ g1
        return (w1 - 1e-9 * d1, w2 - 1e-9 * d2, w3 - 1e-9 * d3), None

    epoch = jax.jit(lambda ws: jax.lax.scan(step, ws, None, length=STEPS)[0])
    ws = tuple(jnp.asarray(w) for w in ws_np)
    ws = jax.block_until_ready(epoch(ws))  # trace and compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ws = jax.block_until_ready(epoch(ws))
        times.append(time.perf_counter() - start)
    return times


def run_torch(repeats):
    import numpy as np
    import torch

    x_np, ws_np = _arrays(np)
    x = torch.from_numpy(x_np)
    w1, w2, w3 = (torch.from_numpy(w.copy()) for w in ws_np)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(STEPS):
                h1 = x @ w1
                h2 = h1 @ w2
                g3 = h2 @ w3
                d3 = h2.T @ g3
                g2 = g3 @ w3.T
                d2 = h1.T @ g2
                g1 = g2 @ w2.T
                d1 = x.T @ g1
                w1.sub_(d1, alpha=1e-9)
                w2.sub_(d2, alpha=1e-9)
                w3.sub_(d3, alpha=1e-9)
            times.append(time.perf_counter() - start)
    return {"times": times, "threads": torch.get_num_threads()}


SIDES = {
    "numpy": lambda r: run_numpy(r),
    "tensorflow (kerasdl's pools)": lambda r: run_tensorflow(r, "kerasdl"),
    "tensorflow (default pools)": lambda r: run_tensorflow(r, "default"),
    "jax": lambda r: run_jax(r),
    "torch": lambda r: run_torch(r),
}


def child(side: str, repeats: int) -> dict:
    result = SIDES[side](repeats)
    extra = {}
    if isinstance(result, dict):
        extra = {k: v for k, v in result.items() if k != "times"}
        result = result["times"]
    return {"side": side, "times": result, **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per side")
    parser.add_argument("--rounds", type=int, default=1, help="fresh processes per side")
    parser.add_argument("--sides", nargs="+", choices=list(SIDES), default=list(SIDES))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeats)))
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    medians = {side: [] for side in args.sides}
    extras = {}
    for _ in range(args.rounds):
        for side in args.sides:
            cmd = [sys.executable, __file__, "--child", side, "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            medians[side].append(statistics.median(result["times"]))
            extras[side] = {k: v for k, v in result.items() if k not in ("side", "times")}
            print(f"# {side}: {medians[side][-1]:.3f} s", file=sys.stderr)
    gflop = flops_per_step() * STEPS / 1e9
    best = {side: min(values) for side, values in medians.items()}
    floor = min(best.values())
    print(f"Epoch: {STEPS} steps of batch {BATCH}, {gflop:.1f} GFLOP of products.\n")
    print("| products only, one epoch | seconds (best of rounds' medians) | GFLOP/s | / fastest |")
    print("| --- | --- | --- | --- |")
    for side, seconds in best.items():
        print(f"| {side} | {seconds:.3f} | {gflop / seconds:.0f} | {seconds / floor:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"gflop": gflop, "medians": medians, "extras": extras}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
