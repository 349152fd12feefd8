"""The chapter's 3.6 network trained by a hand-written JAX + optax loop: a whole epoch under one
``jax.jit`` (a ``lax.scan`` over its batches), timed per epoch, as one JSON line.

What a speed-minded user would write instead of the chapter's PyTorch loop, with the chapter's
math: the MLP 784-256-BatchNorm-ReLU-Dropout(0.5)-128-ReLU-10 with PyTorch's default
initialisation (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))), ``BatchNorm1d``
(batch statistics in training, momentum 0.1, eps 1e-5, the running variance updated with the
unbiased batch variance), inverted dropout, mean cross-entropy on the logits, and
``optax.adamw(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)`` on every parameter
(PyTorch's ``AdamW``: decoupled decay ``lr * wd * p``, eps outside the square root), with the
learning rate of ``StepLR(step_size=10, gamma=0.5)`` set each epoch (``inject_hyperparams``).

Data: the preset's split (`_peers_common`): 54,000 training images shuffled every epoch, in 843
batches of 64 run by the scan and the last 48 as one more step in the same jit (so every
example is seen once an epoch, as in the preset and the chapter's ``DataLoader``); the 6,000
held-out images evaluated after every epoch (timed with it), the 10,000 test images once at
the end. Needs ``pip install optax`` (not a kerasdl dependency).

    python benchmarks/peer_jax_optax.py --data-dir ../shared/data/mnist --epochs 3
    python benchmarks/peer_jax_optax.py --check-against-torch   # seconds; needs torch

``--check-against-torch`` checks the math, not just the accuracy: the chapter's PyTorch `MLP`
(`chapter_torch.py`) and this loop from the same initial weights, dropout off, 5 AdamW steps on
the same batches (in the order this loop's permutation gives), both in float64 (JAX's x64 mode,
``model.double()``), and prints the largest relative difference of each parameter and running
statistic: rounding alone, about 1e-12 or less. (In float32 ``b1``, the bias in front of
BatchNorm, would differ by about 1%: its gradient is zero in exact arithmetic, BatchNorm
subtracts it out, so Adam normalises rounding noise into a step; in float64 that noise is far
below eps and the two agree.)
"""

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers_common import add_arguments, load_split, report, step_lr

BATCH = 64
SIZES = ((784, 256), (256, 128), (128, 10))
BN_MOMENTUM, BN_EPS, DROP = 0.1, 1e-5, 0.5


def init(key):
    """Parameters (PyTorch's default initialisation) and BatchNorm's running statistics."""
    params = {}
    for i, (fan_in, fan_out) in enumerate(SIZES, start=1):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(fan_in)
        params[f"w{i}"] = jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound)
        params[f"b{i}"] = jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound)
    params["gamma"] = jnp.ones(256, jnp.float32)
    params["beta"] = jnp.zeros(256, jnp.float32)
    stats = {"mean": jnp.zeros(256, jnp.float32), "var": jnp.ones(256, jnp.float32)}
    return params, stats


def forward(params, stats, x, key=None):
    """Logits, and the new running statistics (training, when ``key`` is given)."""
    h = x @ params["w1"] + params["b1"]
    if key is None:
        mean, var, new_stats = stats["mean"], stats["var"], stats
    else:
        mean, var = h.mean(axis=0), h.var(axis=0)
        n = h.shape[0]
        new_stats = {
            "mean": (1 - BN_MOMENTUM) * stats["mean"] + BN_MOMENTUM * mean,
            "var": (1 - BN_MOMENTUM) * stats["var"] + BN_MOMENTUM * var * (n / (n - 1)),
        }
    h = (h - mean) * jax.lax.rsqrt(var + BN_EPS) * params["gamma"] + params["beta"]
    h = jax.nn.relu(h)
    if key is not None:
        keep = jax.random.bernoulli(key, 1.0 - DROP, h.shape)
        h = jnp.where(keep, h / (1.0 - DROP), 0.0)
    h = jax.nn.relu(h @ params["w2"] + params["b2"])
    return h @ params["w3"] + params["b3"], new_stats


def make_epoch(optimizer):
    def loss_fn(params, stats, x, y, key):
        logits, new_stats = forward(params, stats, x, key)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (new_stats, logits)

    def step(carry, batch):
        params, stats, opt_state = carry
        x, y, key = batch
        (loss, (stats, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, stats, x, y, key
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        correct = (logits.argmax(axis=1) == y).sum()
        return (params, stats, opt_state), (loss, correct)

    @partial(jax.jit, donate_argnums=(0, 1, 2))
    def epoch(params, stats, opt_state, x_train, y_train, key):
        n = x_train.shape[0]
        full = n // BATCH
        key, perm_key = jax.random.split(key)
        order = jax.random.permutation(perm_key, n)
        keys = jax.random.split(key, full + 1)
        idx = order[: full * BATCH].reshape(full, BATCH)
        carry, (losses, correct) = jax.lax.scan(
            lambda c, b: step(c, (x_train[b[0]], y_train[b[0]], b[1])),
            (params, stats, opt_state),
            (idx, keys[:full]),
        )
        total_loss, total_correct = losses.sum(), correct.sum()
        if n % BATCH:  # the short last batch, one more step
            rest = order[full * BATCH :]
            carry, (loss, c) = step(carry, (x_train[rest], y_train[rest], keys[full]))
            total_loss, total_correct = total_loss + loss, total_correct + c
        return (*carry, total_loss, total_correct)

    return epoch


@jax.jit
def count_correct(params, stats, x, y):
    logits, _ = forward(params, stats, x)
    return (logits.argmax(axis=1) == y).sum()


def check_against_torch(steps=5):
    """The largest relative difference of each parameter after ``steps`` AdamW steps, this
    loop against the chapter's PyTorch `MLP`, dropout off (see the module docstring)."""
    global DROP
    import torch
    from chapter_torch import MLP

    jax.config.update("jax_enable_x64", True)
    torch.manual_seed(0)
    model = MLP().double()
    model.dropout.p, DROP = 0.0, 0.0
    pairs = {"w1": model.fc1, "w2": model.fc2, "w3": model.fc3}
    params = {k: jnp.asarray(layer.weight.detach().numpy().T) for k, layer in pairs.items()}
    params |= {f"b{k[1]}": jnp.asarray(layer.bias.detach().numpy()) for k, layer in pairs.items()}
    params |= {"gamma": jnp.ones(256, jnp.float64), "beta": jnp.zeros(256, jnp.float64)}
    stats = {"mean": jnp.zeros(256, jnp.float64), "var": jnp.ones(256, jnp.float64)}
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * steps, 784))
    y = rng.integers(0, 10, BATCH * steps).astype(np.int32)
    key = jax.random.key(1)
    order = np.asarray(jax.random.permutation(jax.random.split(key)[1], BATCH * steps))
    new, new_stats, *_ = make_epoch(optimizer)(
        params, stats, optimizer.init(params), jnp.asarray(x), jnp.asarray(y), key
    )
    torch_opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    for i in range(steps):
        idx = order[i * BATCH : (i + 1) * BATCH]
        torch_opt.zero_grad()
        target = torch.from_numpy(y[idx].astype(np.int64))
        nn_loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[idx])), target)
        nn_loss.backward()
        torch_opt.step()
    theirs = {k: layer.weight.detach().numpy().T for k, layer in pairs.items()}
    theirs |= {f"b{k[1]}": layer.bias.detach().numpy() for k, layer in pairs.items()}
    theirs |= {"gamma": model.bn1.weight.detach().numpy(), "beta": model.bn1.bias.detach().numpy()}
    theirs |= {"mean": model.bn1.running_mean.numpy(), "var": model.bn1.running_var.numpy()}
    ours = {**new, **new_stats}
    return {
        k: float(np.abs(np.asarray(ours[k]) - v).max() / np.abs(v).max()) for k, v in theirs.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if "--check-against-torch" in sys.argv:
        print(json.dumps(check_against_torch()), flush=True)
        return
    add_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-against-torch", action="store_true", help="see the docstring")
    args = parser.parse_args()

    d = load_split(args.data_dir, args.limit)
    x_train, y_train = jnp.asarray(d.x_train), jnp.asarray(d.y_train)
    x_val, y_val = jnp.asarray(d.x_val), jnp.asarray(d.y_val)
    key = jax.random.key(args.seed)
    key, init_key = jax.random.split(key)
    params, stats = init(init_key)
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01
    )
    opt_state = optimizer.init(params)
    epoch_fn = make_epoch(optimizer)

    epoch_seconds, val_accuracy, losses = [], None, []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        opt_state.hyperparams["learning_rate"] = jnp.asarray(step_lr(epoch), jnp.float32)
        params, stats, opt_state, loss, _ = epoch_fn(
            params, stats, opt_state, x_train, y_train, jax.random.fold_in(key, epoch)
        )
        losses.append(float(loss) / -(-len(d.y_train) // BATCH))
        val_accuracy = int(count_correct(params, stats, x_val, y_val)) / len(d.y_val)
        epoch_seconds.append(time.perf_counter() - start)

    test = int(count_correct(params, stats, jnp.asarray(d.x_test), jnp.asarray(d.y_test)))
    out = report(
        "jax-optax-scan",
        epoch_seconds,
        test_accuracy=test / len(d.y_test),
        val_accuracy=val_accuracy,
        train_examples=len(d.y_train),
        train_loss=losses,
        jax=jax.__version__,
        optax=optax.__version__,
        devices=[str(device) for device in jax.devices()],
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
