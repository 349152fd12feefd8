"""One AdamW update of 100M parameters in 40 tensors, on a GPU: kerasdl, Keras, PyTorch.

- ``kerasdl``: `kerasdl.optimizers.AdamW` on the JAX backend, ``stateless_apply`` under
  ``jax.jit`` (parameters, gradients and optimizer state on the GPU);
- ``keras``: ``keras.optimizers.AdamW`` the same way;
- ``torch-fused`` / ``torch-foreach``: ``torch.optim.AdamW(fused=True)`` and its default
  multi-tensor (``foreach``) implementation, ``step()`` on CUDA tensors.

All take lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. Each implementation runs in
its own process (JAX and PyTorch do not share the GPU's memory well), ``--rounds`` times in turn;
a run times ``--steps`` updates after ``--warmup`` untimed ones, waiting for the device after
each (``block_until_ready`` / ``torch.cuda.synchronize``), and reports the median. An update
reads the parameters, gradients and both moments and writes the parameters and both moments:
28 bytes a parameter, so the table also gives the memory bandwidth reached. Before timing, each
process checks one update of a small tensor against the AdamW formula in NumPy.

    python benchmarks/adamw_gpu.py               # needs a CUDA GPU, JAX with CUDA, PyTorch
    python benchmarks/adamw_gpu.py --impl kerasdl --steps 20   # one implementation, this process
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = [(2048, 2048)] * 20 + [(1024, 800)] * 20  # 40 tensors, 100.3M parameters
LR, BETA_1, BETA_2, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 0.01
IMPLS = ("kerasdl", "keras", "torch-fused", "torch-foreach")


def reference_step(p, g, t=1):
    """One AdamW update from zero moments, as PyTorch writes it, in float64 NumPy."""
    p = p * (1 - LR * WD)
    m = (1 - BETA_1) * g
    v = (1 - BETA_2) * g * g
    m_hat, v_hat = m / (1 - BETA_1**t), v / (1 - BETA_2**t)
    return p - LR * m_hat / (np.sqrt(v_hat) + EPS)


def keras_timer(impl, steps, warmup):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax
    import keras

    import kerasdl.optimizers

    def make():
        if impl == "kerasdl":
            return kerasdl.optimizers.AdamW(
                learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS, weight_decay=WD
            )
        return keras.optimizers.AdamW(
            learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS, weight_decay=WD
        )

    # Check: one update of a small tensor against the formula.
    rng = np.random.default_rng(0)
    p0, g0 = rng.normal(size=(64, 32)), rng.normal(size=(64, 32))
    variable = keras.Variable(p0.astype("float32"))
    check = make()
    check.apply([keras.ops.convert_to_tensor(g0.astype("float32"))], [variable])
    error = float(np.max(np.abs(keras.ops.convert_to_numpy(variable) - reference_step(p0, g0))))

    keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(SHAPES))
    variables = [
        keras.Variable(jax.random.normal(keys[i], shape, "float32"))
        for i, shape in enumerate(SHAPES)
    ]
    grads = [
        jax.random.normal(keys[len(SHAPES) + i], shape, "float32") * 1e-3
        for i, shape in enumerate(SHAPES)
    ]
    optimizer = make()
    optimizer.build(variables)
    params = [v.value for v in variables]
    state = [v.value for v in optimizer.variables]
    update = jax.jit(optimizer.stateless_apply, donate_argnums=(0, 2))

    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        params, state = update(state, grads, params)
        jax.block_until_ready(params)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    device = jax.devices()[0].device_kind
    return statistics.median(times), error, device, f"jax {jax.__version__}"


def torch_timer(impl, steps, warmup):
    import torch

    # Check: one update of a small tensor against the formula.
    rng = np.random.default_rng(0)
    p0, g0 = rng.normal(size=(64, 32)), rng.normal(size=(64, 32))
    param = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float32, device="cuda"))
    param.grad = torch.tensor(g0, dtype=torch.float32, device="cuda")
    kwargs = {"fused": True} if impl == "torch-fused" else {"foreach": True}
    torch.optim.AdamW(
        [param], lr=LR, betas=(BETA_1, BETA_2), eps=EPS, weight_decay=WD, **kwargs
    ).step()
    error = float(np.max(np.abs(param.detach().cpu().numpy() - reference_step(p0, g0))))

    generator = torch.Generator(device="cuda").manual_seed(0)
    params = []
    for shape in SHAPES:
        p = torch.nn.Parameter(torch.randn(shape, device="cuda", generator=generator))
        p.grad = torch.randn(shape, device="cuda", generator=generator) * 1e-3
        params.append(p)
    optimizer = torch.optim.AdamW(
        params, lr=LR, betas=(BETA_1, BETA_2), eps=EPS, weight_decay=WD, **kwargs
    )
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return (
        statistics.median(times),
        error,
        torch.cuda.get_device_name(),
        f"torch {torch.__version__}",
    )


def run_one(impl, steps, warmup):
    timer = torch_timer if impl.startswith("torch") else keras_timer
    seconds, error, device, version = timer(impl, steps, warmup)
    print(
        json.dumps(
            {
                "impl": impl,
                "ms": seconds * 1e3,
                "check_max_abs_error": error,
                "device": device,
                "version": version,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=IMPLS, help="time one implementation in this process")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.impl:
        run_one(args.impl, args.steps, args.warmup)
        return

    results = {impl: [] for impl in IMPLS}
    info = {}
    for _ in range(args.rounds):
        for impl in IMPLS:
            cmd = [
                sys.executable,
                __file__,
                "--impl",
                impl,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"# {impl} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"# {json.dumps(row)}", flush=True)
            results[impl].append(row["ms"])
            info[impl] = row
    n = sum(int(np.prod(s)) for s in SHAPES)
    print(
        f"\n{len(SHAPES)} tensors, {n:,} float32 parameters; {args.rounds} rounds x "
        f"{args.steps} timed updates (median per round, then the median of rounds)\n"
    )
    print(
        "| implementation | device | version | ms / update | GB/s (28 B/param) | "
        "max abs error vs NumPy |"
    )
    print("|---|---|---|---|---|---|")
    for impl, times in results.items():
        if not times:
            continue
        ms = statistics.median(times)
        row = info[impl]
        print(
            f"| {impl} | {row['device']} | {row['version']} | {ms:.3f} | "
            f"{28 * n / (ms * 1e-3) / 1e9:.0f} | {row['check_max_abs_error']:.1e} |"
        )


if __name__ == "__main__":
    main()
