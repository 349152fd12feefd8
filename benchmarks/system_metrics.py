"""What the system metrics (the ``system`` events' sampler thread) cost an epoch of the preset.

Two measurements:

1. **Side by side** (the figure): the preset on full MNIST for ``--epochs`` epochs, each run in a
   fresh process, the sides alternating ``--rounds`` times: ``none`` (neither the sampler nor
   the step history: the baseline every ratio is over), ``off`` (``system_metrics = false``,
   the step history on), ``on`` (both on, the default: a sample every 2 s) and ``on@0.1s`` (a
   sample every 0.1 s, 20 times the default rate: a cost too small to see at 2 s shows there).
   An epoch's time is the wall time between two ``epoch_ended`` events; the first epoch
   (tracing) is left out; a run's steady epoch is the median of the others, a side's the median
   of its runs.
2. **Accounted** (``--account``, one run with both recorders on, in this process): the wall
   time spent inside the step history's hooks (`kerasdl.step_log.StepLog`'s batch and epoch
   hooks, its file writes included) on the training thread, and the CPU time of the sampler's
   thread, each per epoch and as a fraction of the steady epoch. Unlike the side-by-side
   ratio this does not depend on how quiet the machine is: it adds up the recorders' own time.
3. **Per call** (``--micro``, in this process, no training): one reading
   (`kerasdl.system_metrics.reader`: ``os.times``, ``/proc/stat``, ``/proc/self/statm``,
   ``getrusage``) and one reading emitted as a ``system`` event to a file (`EventWriter`).

    python benchmarks/system_metrics.py --data-dir ../shared/data/mnist --rounds 5 --epochs 5
    python benchmarks/system_metrics.py --data-dir ../shared/data/mnist --account --epochs 5
    python benchmarks/system_metrics.py --micro

Prints one line per run (stderr) and a Markdown table (stdout), as JSON with ``--json``. A busy
machine makes the side-by-side numbers noisy (the sides alternate, so slow drifts hit each).
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
    "none": ["system_metrics=false", "step_history=false"],  # neither recorder: the baseline
    "off": ["system_metrics=false"],
    "on": [],
    "on@0.1s": ["system_metrics_interval_s=0.1"],
}


def child(data_dir: str, epochs: int, sets: list[str]) -> dict:
    """One run of the preset (in this process): the times of its ``epoch_ended`` events."""
    from kerasdl.events import read_events

    with train_preset(data_dir, epochs, sets) as (summary, between):
        events = read_events(summary.run_dir / "events.jsonl")
    samples = sum(1 for e in events if e["type"] == "system")
    return {"between_s": between, "samples": samples}


def account(data_dir: str, epochs: int) -> dict:
    """The recorders' own time in one run with both on (see the module docstring, 2)."""
    from kerasdl import system_metrics
    from kerasdl.step_log import StepLog

    spent = {"hooks_s": 0.0, "calls": 0}

    def timed(method):
        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                spent["hooks_s"] += time.perf_counter() - start
                spent["calls"] += 1

        return wrapper

    for name in ("on_epoch_begin", "on_train_batch_end", "on_epoch_end"):
        setattr(StepLog, name, timed(getattr(StepLog, name)))
    sampler_cpu = {"s": 0.0}
    loop = system_metrics.SystemSampler._loop

    def counted_loop(self, read):
        try:
            loop(self, read)
        finally:
            sampler_cpu["s"] += time.thread_time()  # this thread's CPU since it started

    system_metrics.SystemSampler._loop = counted_loop
    with train_preset(data_dir, epochs, []) as (summary, between):
        pass
    steady = statistics.median(between)
    epochs_run = summary.epochs_run
    hooks = spent["hooks_s"] / epochs_run
    sampler = sampler_cpu["s"] / epochs_run
    return {
        "epochs": epochs_run,
        "steady_s": steady,
        "hook_calls_per_epoch": spent["calls"] / epochs_run,
        "hooks_s_per_epoch": hooks,
        "sampler_cpu_s_per_epoch": sampler,
        "hooks_fraction": hooks / steady,
        "sampler_fraction": sampler / steady,
    }


def run_side(name: str, data_dir: str, epochs: int) -> dict:
    return run_child(__file__, data_dir, epochs, SIDES[name])


def side_by_side(args) -> dict:
    data_dir = str(Path(args.data_dir).resolve())
    sides = args.sides or list(SIDES)
    if "none" not in sides:
        sides = ["none", *sides]
    runs = {name: [] for name in sides}
    load = []
    for round_ in range(args.rounds):
        for name in sides:
            load.append(os.getloadavg()[0])
            result = run_side(name, data_dir, args.epochs)
            runs[name].append(result)
            print(
                f"# round {round_ + 1} {name}: steady {result['steady_s']:.3f} s "
                f"({result['samples']} samples), load {load[-1]:.1f}",
                file=sys.stderr,
            )
    medians = {name: statistics.median(r["steady_s"] for r in runs[name]) for name in runs}
    # Round by round (each side's run of one round next to the others): drifts cancel.
    per_round = {
        name: statistics.median(
            on["steady_s"] / off["steady_s"]
            for on, off in zip(runs[name], runs["none"], strict=True)
        )
        for name in runs
    }
    return {
        "epochs": args.epochs,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_1min": {"min": min(load), "max": max(load)},
        "steady_s": medians,
        "ratio_over_none": {name: medians[name] / medians["none"] for name in medians},
        "round_ratio_over_none": per_round,
        "runs": runs,
    }


def micro(calls: int = 5000) -> dict:
    """The per-call costs (see the module docstring), in microseconds."""
    from kerasdl import system_metrics
    from kerasdl.events import EventWriter

    read = system_metrics.reader(gpu=None)
    start = time.perf_counter()
    for _ in range(calls):
        read()
    read_us = (time.perf_counter() - start) / calls * 1e6
    with tempfile.TemporaryDirectory() as tmp:
        with EventWriter(Path(tmp) / "events.jsonl") as writer:
            start = time.perf_counter()
            for _ in range(calls):
                writer.emit("system", **read().fields())
            emit_us = (time.perf_counter() - start) / calls * 1e6
        size = (Path(tmp) / "events.jsonl").stat().st_size / calls
    return {"reading_us": read_us, "reading_and_event_us": emit_us, "event_bytes": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (>= 3)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sides", nargs="+", choices=list(SIDES), help="the sides to run (none is always run)"
    )
    parser.add_argument("--micro", action="store_true", help="only the per-call costs")
    parser.add_argument(
        "--account", action="store_true", help="only the recorders' own time, in one run"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data_dir, args.epochs, args.set)))
        return 0
    if args.account:
        if not args.data_dir:
            parser.error("--data-dir is needed (full MNIST)")
        print(json.dumps(account(str(Path(args.data_dir).resolve()), args.epochs), indent=2))
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
        print("| side | steady epoch, median of runs (s) | runs | / none | / none, by round |")
        print("| --- | --- | --- | --- | --- |")
        for name in summary["runs"]:
            each = ", ".join(f"{r['steady_s']:.3f}" for r in summary["runs"][name])
            ratio = summary["ratio_over_none"][name]
            by_round = summary["round_ratio_over_none"][name]
            steady = summary["steady_s"][name]
            print(f"| {name} | {steady:.3f} | {each} | {ratio:.3f} | {by_round:.3f} |")
        print(f"\n1-minute load average during the runs: {summary['load_1min']}")
    m = summary["micro"]
    print(
        f"\none reading: {m['reading_us']:.1f} us; a reading emitted as a system event: "
        f"{m['reading_and_event_us']:.1f} us ({m['event_bytes']:.0f} bytes a line)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
