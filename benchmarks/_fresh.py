"""The fresh-process harness `step_history.py` and `system_metrics.py` share: a child process
trains the preset on full MNIST for a few epochs and prints one JSON line; the parent runs it
once per side with that side's ``--set`` assignments."""

import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def train_preset(data_dir: str, epochs: int, sets: list[str], on_epoch=None):
    """The preset (with ``sets``) trained in this process and stopped after ``epochs`` epochs;
    yields ``(summary, between_s)``, the run's `RunSummary` and the wall times between
    consecutive ``epoch_ended`` events, while its run directory still exists.

    ``on_epoch(event)`` is called with each ``epoch_ended`` event.
    """
    from kerasdl.config import TrainConfig, parse_assignments
    from kerasdl.runner import train

    times = []
    stop = threading.Event()

    def on_event(event):
        if event["type"] == "epoch_ended":
            times.append(time.perf_counter())
            if on_epoch is not None:
                on_epoch(event)
            if len(times) >= epochs - 1:
                stop.set()  # seen during the next epoch: the run stops after it

    with tempfile.TemporaryDirectory() as runs_dir:
        config = TrainConfig().override(
            {
                "runs_dir": runs_dir,
                "data.name": "mnist",
                "data.data_dir": data_dir,
                **parse_assignments(sets),
            }
        )
        summary = train(config, sinks=[on_event], stop=stop)
        yield summary, [b - a for a, b in itertools.pairwise(times)]


def run_child(script: str, data_dir: str, epochs: int, sets: list[str]) -> dict:
    """``script --child`` in a fresh process with ``--set`` each of ``sets``; its JSON line, with
    ``steady_s``: the median of its ``between_s``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [sys.executable, script, "--child", "--data-dir", data_dir, "--epochs", str(epochs)]
    for assignment in sets:
        args += ["--set", assignment]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["steady_s"] = statistics.median(result["between_s"])
    return result
