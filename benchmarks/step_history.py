"""What the step history (``steps.jsonl``) and ``--tensorboard`` cost an epoch of the preset.

Two measurements:

1. **Side by side** (the figure): the preset on full MNIST for ``--epochs`` epochs, each run in a
   fresh process, the sides alternating ``--rounds`` times: ``off`` (``step_history = false``),
   ``steps`` (the default: the step history on) and ``steps+tb`` (``tensorboard = true`` too).
   An epoch's time is the wall time between two ``epoch_ended`` events, so it holds everything
   between them: the steps, validation, the checkpoints, the step rows and the TensorBoard
   writes of the epoch's end (which happen after its event). The first epoch (tracing) is left
   out; a run's steady epoch is the median of the others, a side's the median of its runs.
2. **Per call** (``--micro``, in this process, no training): the batch hook of
   `kerasdl.step_log.StepLog` when no row is due and when one is written, and the TensorBoard
   sink's work at an ``epoch_ended`` (the epoch's rows and scalars, flushed). Times the calls an
   epoch makes, it bounds the overhead without the noise of training.

    python benchmarks/step_history.py --data-dir ../shared/data/mnist --rounds 3 --epochs 4
    python benchmarks/step_history.py --micro

Prints one line per run (stderr) and a Markdown table (stdout), as JSON with ``--json``. A busy
machine makes the side-by-side numbers noisy (the sides alternate, so slow drifts hit each);
the per-call figures are steadier.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _fresh import run_child, train_preset

SIDES = {
    "off": ["step_history=false"],
    "steps": [],
    "steps+tb": ["tensorboard=true"],
}


def child(data_dir: str, epochs: int, sets: list[str]) -> dict:
    """One run of the preset (in this process): the times of its ``epoch_ended`` events."""
    inside = []
    with train_preset(
        data_dir, epochs, sets, on_epoch=lambda e: inside.append(e["epoch_seconds"])
    ) as (summary, between):
        rows = 0
        steps_file = summary.run_dir / "steps.jsonl"
        if steps_file.exists():
            rows = len(steps_file.read_text().splitlines()) - 1
    return {"between_s": between, "epoch_seconds": inside, "step_rows": rows}


def run_side(name: str, data_dir: str, epochs: int) -> dict:
    return run_child(__file__, data_dir, epochs, SIDES[name])


def side_by_side(args) -> dict:
    data_dir = str(Path(args.data_dir).resolve())
    runs = {name: [] for name in SIDES}
    load = []
    for round_ in range(args.rounds):
        for name in SIDES:
            load.append(os.getloadavg()[0])
            result = run_side(name, data_dir, args.epochs)
            runs[name].append(result)
            print(
                f"# round {round_ + 1} {name}: steady {result['steady_s']:.3f} s "
                f"({result['step_rows']} step rows), load {load[-1]:.1f}",
                file=sys.stderr,
            )
    medians = {name: statistics.median(r["steady_s"] for r in runs[name]) for name in runs}
    return {
        "epochs": args.epochs,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_1min": {"min": min(load), "max": max(load)},
        "steady_s": medians,
        "ratio_over_off": {name: medians[name] / medians["off"] for name in medians},
        "runs": runs,
    }


def alternate(data_dir: str, epochs: int, control: bool = False) -> dict:
    """One run of the preset (early stopping off) whose epochs alternate, two and two, between
    the step history and TensorBoard on and both off; an epoch's time runs from its first hook
    to the end of its ``epoch_ended`` delivery (so it holds its own TensorBoard writes). With
    ``control`` the "on" epochs turn nothing on (an A/A run: the ratio the alternation itself
    gives)."""
    import keras

    from kerasdl.config import TrainConfig
    from kerasdl.runner import train
    from kerasdl.step_log import StepLog
    from kerasdl.steps import StepWriter
    from kerasdl.tensorboard_files import TensorBoardSink

    state = {"on": False, "work": False, "start": None, "cpu": None}
    times = {"on": [], "off": []}
    cpu = {"on": [], "off": []}  # the process's CPU seconds: less hit by other processes

    inside = {"steps": 0.0, "tensorboard": 0.0}  # seconds spent in them, on-epochs only

    class Toggled(StepLog):
        def on_train_batch_end(self, batch, logs=None):
            if state["work"]:
                start = time.perf_counter()
                super().on_train_batch_end(batch, logs)
                inside["steps"] += time.perf_counter() - start

        def on_epoch_end(self, epoch, logs=None):
            if not state["work"]:
                self._written = True  # keep the global step right, write nothing
            start = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            if state["work"]:
                inside["steps"] += time.perf_counter() - start

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["on"] = epoch % 4 in (1, 2)  # epoch 0 (tracing) off and left out; AABB after
            state["work"] = state["on"] and not control
            state["start"] = time.perf_counter()
            state["cpu"] = time.process_time()

    with tempfile.TemporaryDirectory() as tmp:
        writer = StepWriter(Path(tmp) / "steps.jsonl", collect_new=True)
        sink = TensorBoardSink(Path(tmp) / "tensorboard", steps=writer)

        def tensorboard(event):
            if state["work"] or event["type"] == "run_finished":
                start = time.perf_counter()
                sink(event)
                if event["type"] == "epoch_ended" and event["epoch"] > 1:
                    inside["tensorboard"] += time.perf_counter() - start

        def stopwatch(event):  # the last sink: after TensorBoard's writes
            if event["type"] == "epoch_ended" and event["epoch"] > 1:
                side = "on" if state["on"] else "off"
                times[side].append(time.perf_counter() - state["start"])
                cpu[side].append(time.process_time() - state["cpu"])

        config = TrainConfig().override(
            {
                "runs_dir": tmp,
                "data.name": "mnist",
                "data.data_dir": data_dir,
                "epochs": epochs,
                "early_stopping.enabled": False,
                "step_history": False,
            }
        )
        train(
            config,
            sinks=[tensorboard, stopwatch],
            callbacks=[Clock(), Toggled(writer, steps_per_epoch=None)],
        )
        rows = len(writer.rows)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    return {"epochs": times, "median_on_s": on, "median_off_s": off, "ratio": on / off,
            "cpu_epochs": cpu, "cpu_ratio": cpu_on / cpu_off, "step_rows": rows,
            "inside_ms_per_epoch": {k: v / len(times["on"]) * 1e3 for k, v in inside.items()},
            }  # fmt: skip


def micro(calls: int = 200_000) -> dict:
    """The per-call costs (see the module docstring), in microseconds."""
    from kerasdl.step_log import StepLog
    from kerasdl.steps import StepWriter
    from kerasdl.tensorboard_files import TensorBoardSink

    logs = {"loss": 0.25, "accuracy": 0.9}
    with tempfile.TemporaryDirectory() as tmp:
        writer = StepWriter(Path(tmp) / "steps.jsonl", interval_s=1e9, collect_new=True)
        log = StepLog(writer, steps_per_epoch=10**12)
        log.set_params({"epochs": 1, "steps": 10**12})
        log.on_epoch_begin(0)
        start = time.perf_counter()
        for batch in range(calls):
            log.on_train_batch_end(batch, logs)
        idle_us = (time.perf_counter() - start) / calls * 1e6
        writer.base_interval_s = 0.0  # every call writes a row
        rows = 2000
        start = time.perf_counter()
        for batch in range(calls, calls + rows):
            log.on_train_batch_end(batch, logs)
        row_us = (time.perf_counter() - start) / rows * 1e6
        writer.take_new()
        sink = TensorBoardSink(Path(tmp) / "tensorboard", steps=writer)
        event = {
            "type": "epoch_ended",
            "epoch": 1,
            "metrics": {"loss": 0.2, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.88},
            "learning_rate": 1e-3,
            "early_stopping": {"wait": 0},
        }
        sink(event)  # the first: TensorFlow's writers are made
        epochs = 50
        start = time.perf_counter()
        for epoch in range(2, epochs + 2):
            for step in range(7):  # the rows of an epoch of the preset on full MNIST, at most
                log.on_train_batch_end(calls + rows + epoch * 7 + step, logs)
            sink({**event, "epoch": epoch})
        tb_epoch_ms = (time.perf_counter() - start) / epochs * 1e3
        sink({"type": "run_finished"})
    return {
        "hook_no_row_us": idle_us,
        "hook_with_row_us": row_us,
        "tensorboard_epoch_end_ms": tb_epoch_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (>= 3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--micro", action="store_true", help="only the per-call costs")
    parser.add_argument(
        "--alternate",
        type=int,
        metavar="EPOCHS",
        help="one run of EPOCHS epochs, alternating on/off by epoch (AABB), in this process",
    )
    parser.add_argument(
        "--control", action="store_true", help="with --alternate: the on epochs turn nothing on"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data_dir, args.epochs, args.set)))
        return 0
    if args.alternate:
        result = alternate(str(Path(args.data_dir).resolve()), args.alternate, args.control)
        result["load_1min"] = os.getloadavg()[0]
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        n_on, n_off = len(result["epochs"]["on"]), len(result["epochs"]["off"])
        print(
            f"steady epoch, median: on {result['median_on_s']:.3f} s ({n_on} epochs), "
            f"off {result['median_off_s']:.3f} s ({n_off}); ratio {result['ratio']:.3f}; "
            f"CPU time ratio {result['cpu_ratio']:.3f}; {result['step_rows']} step rows; "
            f"load {result['load_1min']:.1f}; in the step log and TensorBoard, ms an epoch: "
            f"{result['inside_ms_per_epoch']}"
        )
        return 0
    if args.micro:
        summary = {"micro": micro()}
    else:
        if not args.data_dir:
            parser.error("--data-dir is needed (full MNIST), or --micro")
        summary = side_by_side(args)
        summary["micro"] = micro()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if "steady_s" in summary:
        print("| side | steady epoch, median of runs (s) | runs | / off |")
        print("| --- | --- | --- | --- |")
        for name in SIDES:
            each = ", ".join(f"{r['steady_s']:.3f}" for r in summary["runs"][name])
            ratio = summary["ratio_over_off"][name]
            print(f"| {name} | {summary['steady_s'][name]:.3f} | {each} | {ratio:.3f} |")
        print(f"\n1-minute load average during the runs: {summary['load_1min']}")
    m = summary["micro"]
    print(
        f"\nbatch hook: {m['hook_no_row_us']:.2f} us without a row, "
        f"{m['hook_with_row_us']:.1f} us with one; TensorBoard at an epoch's end "
        f"(7 rows, 6 scalars, flushed): {m['tensorboard_epoch_end_ms']:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
