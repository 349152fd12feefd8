"""The arithmetic floor of one epoch of the chapter's 3.6 network: its real matrix products,
timed with numpy and with ``torch.matmul``, as one JSON line.

The network's Dense layers are 784x256, 256x128 and 128x10. One training step at batch ``B``
does, for each layer with ``i`` inputs and ``o`` outputs, three products of ``B * i * o``
multiply-adds (2 FLOP each):

- forward ``Y = X @ W`` (B x i times i x o);
- the weight gradient ``dW = X.T @ dY`` (i x B times B x o);
- the input gradient ``dX = dY @ W.T`` (B x o times o x i), for layers 2 and 3 only: no
  framework computes the gradient of the images (``--input-grad`` adds it, as the figure
  of 84.5 GFLOP in issue 19 does: that is 60,000 examples with it).

So a training example costs ``2 * (2 * 234,752 + 34,048) = 1,007,104`` FLOP (234,752
multiply-adds a forward pass; 34,048 those of layers 2 and 3), and the preset's epoch (54,000
training images: 843 steps of 64 and one of 48) 54.38 GFLOP; its validation (6,000 images,
forward only, batches of 1,000) adds 2.82 GFLOP. Biases, BatchNorm, ReLU, dropout, the loss
and AdamW are elementwise (a few MFLOP a step) and left out: the floor is the products alone.

Two figures per library:

- ``loop_s``: the epoch's products themselves, at their real shapes, one after another in a
  Python loop into preallocated outputs (median of ``--repeats`` epochs): what a framework
  with no overhead at all would spend. ``loop_gflops`` = the epoch's GFLOP / ``loop_s``.
- ``peak_gflops``: the best rate of a large square SGEMM (``--peak-size``, 1024), and
  ``peak_floor_s`` = the epoch's GFLOP at that rate: the floor if batch-64 products ran at
  the CPU's peak.

``--threads N`` pins both libraries to N threads (set before numpy is imported); 0 keeps each
library's default. ``floor_s`` is the smallest ``loop_s`` and ``peak_floor_s`` the smallest
of those.

    python benchmarks/floor_sgemm.py                 # about 10-20 s on 2 cores
    python benchmarks/floor_sgemm.py --threads 1
"""

import argparse
import json
import os
import statistics
import sys
import time

LAYERS = ((784, 256), (256, 128), (128, 10))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-examples", type=int, default=54_000)
    parser.add_argument("--val-examples", type=int, default=6_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per library")
    parser.add_argument("--threads", type=int, default=0, help="0: each library's default")
    parser.add_argument("--input-grad", action="store_true", help="count layer 1's dX too")
    parser.add_argument("--peak-size", type=int, default=1024)
    parser.add_argument("--libs", nargs="+", default=["numpy", "torch"])
    return parser.parse_args()


def batches(n, size):
    """The batch sizes of an epoch of ``n`` examples: full batches, then the short one."""
    return [size] * (n // size) + ([n % size] if n % size else [])


def epoch_flop(args):
    """(training FLOP, validation FLOP) of one epoch."""
    macs = sum(i * o for i, o in LAYERS)
    back = sum(i * o for i, o in (LAYERS if args.input_grad else LAYERS[1:]))
    train = 2 * args.train_examples * (2 * macs + back)
    return train, 2 * args.val_examples * macs


def products(lib, args):
    """A function running one epoch's products with ``lib`` (numpy or torch)."""
    if lib == "torch":
        import torch

        def zeros(*shape):
            return torch.zeros(shape, dtype=torch.float32)

        def randn(*shape):
            return torch.randn(shape, dtype=torch.float32)

        def mm(a, b, out):
            torch.matmul(a, b, out=out)
    else:
        import numpy as np

        rng = np.random.default_rng(0)

        def zeros(*shape):
            return np.zeros(shape, np.float32)

        def randn(*shape):
            return rng.standard_normal(shape, dtype=np.float32)

        def mm(a, b, out):
            np.matmul(a, b, out=out)

    big = max(args.batch_size, args.eval_batch_size)
    ws = [randn(i, o) for i, o in LAYERS]
    dws = [zeros(i, o) for i, o in LAYERS]
    acts = [randn(big, LAYERS[0][0])] + [randn(big, o) for _, o in LAYERS]  # X, H1, H2, Y
    grads = [randn(big, LAYERS[0][0])] + [randn(big, o) for _, o in LAYERS]  # dX, dH1, ...
    first_dx = 0 if args.input_grad else 1

    def step(b):
        for k, w in enumerate(ws):  # forward
            mm(acts[k][:b], w, acts[k + 1][:b])
        for k in reversed(range(len(ws))):  # backward: dW, then dX
            mm(acts[k][:b].T, grads[k + 1][:b], dws[k])
            if k >= first_dx:
                mm(grads[k + 1][:b], ws[k].T, grads[k][:b])

    def evaluate(b):
        for k, w in enumerate(ws):
            mm(acts[k][:b], w, acts[k + 1][:b])

    train = batches(args.train_examples, args.batch_size)
    val = batches(args.val_examples, args.eval_batch_size)

    def epoch():
        start = time.perf_counter()
        for b in train:
            step(b)
        middle = time.perf_counter()
        for b in val:
            evaluate(b)
        return middle - start, time.perf_counter() - middle

    def peak():
        n = args.peak_size
        a, b, c = randn(n, n), randn(n, n), zeros(n, n)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            mm(a, b, c)
            best = min(best, time.perf_counter() - start)
        return 2 * n**3 / best / 1e9

    return epoch, peak


def threads_of(lib, args):
    if lib == "torch":
        import torch

        return torch.get_num_threads()
    return args.threads or os.cpu_count()


def main():
    args = parse_args()
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    if "torch" in args.libs and args.threads:
        import torch

        torch.set_num_threads(args.threads)
    train_flop, val_flop = epoch_flop(args)
    results = []
    for lib in args.libs:
        epoch, peak = products(lib, args)
        epoch()  # warm-up
        times = [epoch() for _ in range(args.repeats)]
        train_s = statistics.median(t for t, _ in times)
        val_s = statistics.median(v for _, v in times)
        peak_gflops = peak()
        loop_s = train_s + val_s
        results.append(
            {
                "lib": lib,
                "threads": threads_of(lib, args),
                "train_loop_s": train_s,
                "val_loop_s": val_s,
                "loop_s": loop_s,
                "loop_gflops": (train_flop + val_flop) / loop_s / 1e9,
                "peak_gflops": peak_gflops,
                "peak_floor_s": (train_flop + val_flop) / peak_gflops / 1e9,
            }
        )
        print(f"# {json.dumps(results[-1])}", file=sys.stderr)
    out = {
        "impl": "floor-sgemm",
        "train_gflop": train_flop / 1e9,
        "val_gflop": val_flop / 1e9,
        "epoch_gflop": (train_flop + val_flop) / 1e9,
        "input_grad": args.input_grad,
        "train_examples": args.train_examples,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "floor_s": min(r["loop_s"] for r in results),
        "peak_floor_s": min(r["peak_floor_s"] for r in results),
        "libs": results,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
