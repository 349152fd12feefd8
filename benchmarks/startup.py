"""What a process pays before and after its work: the imports of each stack and the
interpreter's teardown, each in fresh processes, alternating, as one JSON line.

Each case is a fresh ``python -c`` run ``--repeats`` times, the cases in turn (so drift is
shared); the medians of the wall time from spawn to exit are reported:

- ``python``: the interpreter alone;
- ``ml_dtypes``: ``import ml_dtypes`` (NumPy first), which TensorFlow and JAX both import;
- ``tensorflow`` / ``jax`` / ``keras-jax`` / ``torch``: the import and one small operation,
  then Python's normal exit;
- ``... os._exit``: the same ending with ``atexit`` handlers run, then ``os._exit(0)``, as
  the ``kerasdl`` command ends (`kerasdl.cli._exit`): the difference is the teardown;
- ``kerasdl --help``: the CLI's start without frameworks.

    python benchmarks/startup.py --repeats 5
    PYTHONPATH=/tmp/ml_dtypes-0.7.0 python benchmarks/startup.py   # another ml_dtypes first

(``pip install --no-deps --target /tmp/ml_dtypes-0.7.0 ml_dtypes==0.7.0`` makes that folder.)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST_EXIT = "; import atexit, os; atexit._run_exitfuncs(); os._exit(0)"
HELP = "import sys; sys.argv = ['kerasdl', '--help']; import kerasdl.cli; kerasdl.cli.main()"
STACKS = {
    "tensorflow": ("import tensorflow as tf; tf.ones(2) + 1", {}),
    "jax": ("import jax.numpy as jnp; (jnp.ones(2) + 1).block_until_ready()", {}),
    "keras-jax": ("import keras; keras.ops.ones(2) + 1", {"KERAS_BACKEND": "jax"}),
    "torch": ("import torch; torch.ones(2) + 1", {}),
}


def cases(available):
    out = {
        "python": ("pass", {}),
        "ml_dtypes": ("import numpy, ml_dtypes", {}),
        "kerasdl --help": (HELP, {}),
    }
    for name, (code, env) in STACKS.items():
        if name.removeprefix("keras-") in available:
            out[name] = (code, env)
            out[f"{name} os._exit"] = (code + FAST_EXIT, env)
    return out


def available_stacks():
    import importlib.util

    return {name for name in ("tensorflow", "jax", "torch") if importlib.util.find_spec(name)}


def time_once(code, env):
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    full_env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], env=full_env, check=True, capture_output=True, timeout=300
    )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import ml_dtypes

    todo = cases(available_stacks())
    seconds = {name: [] for name in todo}
    for _ in range(args.repeats):
        for name, (code, env) in todo.items():
            seconds[name].append(time_once(code, env))
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    teardown = {
        name: medians[name] - medians[f"{name} os._exit"]
        for name in STACKS
        if f"{name} os._exit" in medians
    }
    print(
        json.dumps(
            {
                "median_s": medians,
                "teardown_s": teardown,
                "seconds": seconds,
                "ml_dtypes": ml_dtypes.__version__,
                "repeats": args.repeats,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
