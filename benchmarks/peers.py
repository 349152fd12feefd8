"""kerasdl's preset against every way a user could train the chapter's 3.6 network instead, side
by side on full MNIST, with the machine's arithmetic floor measured in the same run (issue 19).

The whole table, one command (a quiet machine; some 20-30 minutes on 2 cores)::

    python benchmarks/peers.py --data-dir ../shared/data/mnist --rounds 3 --epochs 20 \\
        --json peers.json

A smoke run (every side works; its times mean nothing)::

    python benchmarks/peers.py --data-dir ../shared/data/mnist --rounds 1 --epochs 2 --limit 6400

Sides (``--sides``, default all), each a fresh process, in an order that rotates every round:

- ``torch``: the chapter's PyTorch script, `chapter_torch.py --split kerasdl` (eager);
- ``torch-compile``: the same with the model under ``torch.compile`` (``--compile``);
- ``jax-optax``: `peer_jax_optax.py`, a JAX + optax loop, each epoch one ``jax.jit`` of a
  ``lax.scan`` over its batches;
- ``keras-jax``: `peer_keras_jax.py`, Keras 3 ``model.fit`` on the JAX backend with
  ``steps_per_execution`` (``--steps-per-execution``, 128);
- ``kerasdl``: `kerasdl_preset.py`, ``kerasdl.runner.train`` of the preset, early stopping off
  so that every epoch runs (``kerasdl.loop.fit`` on TensorFlow);
- ``kerasdl-jax``: the same with ``KERAS_BACKEND=jax`` (``kerasdl.loop.fit`` on JAX:
  ``kerasdl/loop_jax.py``; no compilation cache, so its first epoch compiles);
- ``kerasdl-cli``: the same preset through ``kerasdl train --data-dir ... --set
  early_stopping.enabled=false --ui plain`` (what issue 19's end-to-end target times: the start
  of ``kerasdl train`` to its "Test accuracy" line); its epochs as the plain view prints them
  (0.1 s), its peak RSS from ``wait4``;
- ``kerasdl-cli-jax``: the same on JAX; the CLI keeps JAX's compiled programs in
  ``KERASDL_CACHE_DIR``, one folder for all rounds: round 1 compiles, later rounds load them
  (what a user's second run of a model gets);
- ``quickstart``: the README's quick start, ``kerasdl train`` on the bundled mnist-mini (the
  preset, 20 epochs unless early stopping ends it), ``--dataset mnist-mini --ui plain`` so that
  neither a Keras cache nor the network changes the data, ``KERASDL_RUNS_DIR`` in a temporary
  folder; its wall time from process start to the "Test accuracy" line and to exit.

Every training side trains on the same 54,000 images an epoch (the preset's split, the very same
arrays: `_peers_common.py`), batch 64, the last batch of 48 included, and evaluates the same
6,000 held-out images every epoch (in the epoch's time); then the 10,000 test images once. The
peers report the final weights' test accuracy, kerasdl that of its best epoch on validation.
``--limit N`` is ``data.limit`` for every side (smoke runs only).

Per side: the steady epoch (median of every epoch but each run's first, over the rounds), the
first epoch (median), the end-to-end wall time (from the driver starting the process to the
JSON line with the final accuracy, so interpreter start and imports count; median), its ratio
to ``epochs x steady``, the test accuracy (range), peak RSS (max) and the steady epoch over the
floor. The floor: `floor_sgemm.py` at the start of every round (``--floor-threads``: 0 = the
libraries' default threads, and 1), ``floor_s`` the epoch's real matrix products looped at their
shapes, ``peak_floor_s`` the epoch's FLOP at a large SGEMM's rate; the ratios use the median of
the rounds' smallest. Prints Markdown for docs/benchmarks.md; ``--json PATH`` dumps every run.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIDES = (
    "torch",
    "torch-compile",
    "jax-optax",
    "keras-jax",
    "kerasdl",
    "kerasdl-jax",
    "kerasdl-cli",
    "kerasdl-cli-jax",
    "quickstart",
)
CLI_SIDES = ("kerasdl-cli", "kerasdl-cli-jax", "quickstart")
EPOCH_LINE = re.compile(r"^epoch\s+\d+/\d+\s.*\s([0-9.]+) s$")
WHAT = {
    "torch": "chapter's PyTorch script, eager",
    "torch-compile": "the same, model under torch.compile",
    "jax-optax": "JAX + optax, epoch = one jit(lax.scan)",
    "keras-jax": "Keras 3 fit on JAX, steps_per_execution",
    "kerasdl": "kerasdl preset (TensorFlow, kerasdl.loop.fit)",
    "kerasdl-jax": "kerasdl preset, KERAS_BACKEND=jax",
    "kerasdl-cli": "kerasdl train (the CLI), the same preset",
    "kerasdl-cli-jax": "the same, KERAS_BACKEND=jax (compile cache kept across rounds)",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASDL_DATA_DIR"))
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (2-20)")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--limit", type=int, default=None, help="data.limit, smoke runs only")
    parser.add_argument("--steps-per-execution", type=int, default=128, help="keras-jax's")
    parser.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--floor-threads", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--floor-repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a run may take")
    parser.add_argument("--json", metavar="PATH", help="write every run and the summary here")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("--data-dir (or KERASDL_DATA_DIR) is needed: the full MNIST IDX files")
    if not 2 <= args.epochs <= 20:
        parser.error("--epochs must be in [2, 20] (the preset's run is 20 epochs)")
    return args


def side_command(side, args):
    """``(argv, extra environment)`` of one run of ``side``."""
    data = ["--data-dir", args.data_dir, "--epochs", str(args.epochs)]
    limit = [] if args.limit is None else ["--limit", str(args.limit)]
    torch = [args.torch_python, str(HERE / "chapter_torch.py"), "--split", "kerasdl"]
    torch += ["--threads", str(args.torch_threads)]
    preset = [sys.executable, str(HERE / "kerasdl_preset.py"), *data]
    preset += ["--set", "early_stopping.enabled=false"]
    if args.limit is not None:
        preset += ["--set", f"data.limit={args.limit}"]
    kerasdl_exe = str(Path(sys.executable).with_name("kerasdl"))
    spe = ["--steps-per-execution", str(args.steps_per_execution)]
    no_early_stop = ["--set", "early_stopping.enabled=false"]
    return {
        "torch": ([*torch, *data, *limit], {}),
        "torch-compile": ([*torch, *data, *limit, "--compile"], {}),
        "jax-optax": ([sys.executable, str(HERE / "peer_jax_optax.py"), *data, *limit], {}),
        "keras-jax": (
            [sys.executable, str(HERE / "peer_keras_jax.py"), *data, *limit, *spe],
            {},
        ),
        "kerasdl": (preset, {"KERAS_BACKEND": "tensorflow"}),
        "kerasdl-jax": (preset, {"KERAS_BACKEND": "jax"}),
        "kerasdl-cli": (
            [kerasdl_exe, "train", *data, *limit, "--ui", "plain", *no_early_stop],
            {"KERAS_BACKEND": "tensorflow"},
        ),
        "kerasdl-cli-jax": (  # round 1 compiles; later rounds load JAX's cache of round 1
            [kerasdl_exe, "train", *data, *limit, "--ui", "plain", *no_early_stop],
            {"KERAS_BACKEND": "jax", "KERASDL_CACHE_DIR": args.jax_cache_dir},
        ),
        "quickstart": (  # KERASDL_DATA_DIR unset, as on a fresh machine
            [kerasdl_exe, "train", "--dataset", "mnist-mini", "--ui", "plain"],
            {"KERASDL_DATA_DIR": None},
        ),
    }[side]


def run_process(argv, extra_env, timeout, marker):
    """Run ``argv`` fresh (killed after ``timeout`` s); ``(stdout lines, seconds to the first
    line starting with ``marker``, seconds to exit, return code, stderr tail, peak RSS in MiB
    from ``wait4``)``, timed from just before the start."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update({k: v for k, v in extra_env.items() if v is not None})
    for k in [k for k, v in extra_env.items() if v is None]:
        env.pop(k, None)
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryDirectory() as runs:
        env["KERASDL_RUNS_DIR"] = runs
        env["PEERS_SPAWN_TIME"] = repr(time.time())
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        lines, to_marker = [], None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if to_marker is None and line.startswith(marker):
                to_marker = time.perf_counter() - start
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        to_exit = time.perf_counter() - start
        watchdog.cancel()
        err.seek(0)
        tail = err.read()[-3000:]
    return lines, to_marker, to_exit, code, tail, usage.ru_maxrss / 1024


def run_side(side, args):
    """One run of ``side``: its JSON line (normalised) with the driver's wall times."""
    argv, extra = side_command(side, args)
    marker = "Test accuracy" if side in CLI_SIDES else "{"
    lines, to_acc, to_exit, code, tail, rss = run_process(argv, extra, args.timeout, marker)
    if side in CLI_SIDES:
        out = cli_result(lines, rss)
    else:
        json_lines = [line for line in lines if line.startswith("{")]
        out = json.loads(json_lines[-1]) if json_lines else {}
    normalise(out, args)
    out.update(side=side, wall_to_result_s=to_acc, wall_to_exit_s=to_exit, returncode=code)
    out["peak_rss_mb_wait4"] = rss
    if code != 0 or to_acc is None:
        out["error"] = tail.strip().splitlines()[-12:] if tail.strip() else ["(no stderr)"]
    return out


def normalise(out, args):
    """kerasdl_preset.py's JSON in the peers' terms (`_peers_common.report`)."""
    epochs = out.get("epoch_seconds") or []
    out.setdefault("first_epoch_s", epochs[0] if epochs else None)
    out.setdefault("steady_s", statistics.median(epochs[1:]) if len(epochs) > 1 else None)
    if "train_examples" not in out:
        n = 60_000 if args.limit is None else min(args.limit, 60_000)
        out["train_examples"] = n - max(1, round(0.1 * n))  # kerasdl.data.split_indices
        out["batch_size"] = 64


def cli_result(lines, rss):
    """``kerasdl train``'s epochs, test accuracy and data line, read from its plain output."""
    epochs = [float(m.group(1)) for m in map(EPOCH_LINE.match, lines) if m]
    acc = [line for line in lines if line.startswith("Test accuracy")]
    data = [line for line in lines if line.startswith("run ")]
    train = re.search(r"([0-9,]+) train", data[0]) if data else None
    return {
        "impl": "kerasdl-train",
        "train_examples": int(train.group(1).replace(",", "")) if train else None,
        "epoch_seconds": epochs,
        "epochs": len(epochs),
        "peak_rss_mb": rss,
        "test_accuracy": float(acc[-1].split()[2]) if acc else None,
        "data_line": data[0] if data else None,
        "last_lines": lines[-4:],
    }


def run_floor(args, threads):
    argv = [sys.executable, str(HERE / "floor_sgemm.py"), "--threads", str(threads)]
    argv += ["--repeats", str(args.floor_repeats)]
    if args.limit is not None:
        n = min(args.limit, 60_000)
        val = max(1, round(0.1 * n))
        argv += ["--train-examples", str(n - val), "--val-examples", str(val)]
    lines, _, _, code, tail, _ = run_process(argv, {}, args.timeout, "{")
    if code != 0:
        return {"threads": threads, "error": tail.strip().splitlines()[-12:]}
    return {"threads": threads, **json.loads(lines[-1])}


def machine():
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def run_all(args):
    runs = {side: [] for side in args.sides}
    floors = []
    for r in range(args.rounds):
        floors.append([run_floor(args, threads) for threads in args.floor_threads])
        print(f"# round {r + 1} floor: {json.dumps(floors[-1])}", file=sys.stderr)
        order = args.sides[r % len(args.sides) :] + args.sides[: r % len(args.sides)]
        for side in order:
            out = run_side(side, args)
            runs[side].append(out)
            print(f"# round {r + 1} {side}: {json.dumps(out)}", file=sys.stderr)
    return runs, floors


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def floor_summary(floors):
    """Median over the rounds of each round's smallest floors, and the per-library rows."""
    ok = [[f for f in round_ if "error" not in f] for round_ in floors]
    loop = median_of([min(f["floor_s"] for f in round_) for round_ in ok if round_])
    peak = median_of([min(f["peak_floor_s"] for f in round_) for round_ in ok if round_])
    rows = {}
    for round_ in ok:
        for f in round_:
            for lib in f["libs"]:
                rows.setdefault((lib["lib"], f["threads"]), []).append({**f, **lib})
    return loop, peak, rows


def side_summary(side, outs, epochs, floor_s, peak_s):
    good = [o for o in outs if "error" not in o]
    steady = median_of([s for o in good for s in (o.get("epoch_seconds") or [])[1:]])
    wall = median_of([o["wall_to_result_s"] for o in good])
    acc = [o["test_accuracy"] for o in good if o.get("test_accuracy") is not None]
    return {
        "side": side,
        "runs": len(outs),
        "failed": len(outs) - len(good),
        "train_examples": good[0].get("train_examples") if good else None,
        "steady_s": steady,
        "first_epoch_s": median_of([o.get("first_epoch_s") for o in good]),
        "wall_s": wall,
        "wall_over_steady": wall / (epochs * steady) if wall and steady else None,
        "test_accuracy": (min(acc), max(acc)) if acc else None,
        "peak_rss_mb": max((o.get("peak_rss_mb") or 0 for o in good), default=None),
        "over_floor": steady / floor_s if steady and floor_s else None,
        "over_peak_floor": steady / peak_s if steady and peak_s else None,
        "errors": [o["error"] for o in outs if "error" in o],
    }


def kerasdl_ratio(runs, side, ours="kerasdl"):
    """Median over the rounds of ``ours``'s steady epoch / ``side``'s in the same round: the two
    ran minutes apart, so this is less exposed to the machine's drift than the overall medians."""
    ratios = []
    for k, o in zip(runs.get(ours, []), runs.get(side, []), strict=False):
        if "error" not in k and "error" not in o and k.get("steady_s") and o.get("steady_s"):
            ratios.append(k["steady_s"] / o["steady_s"])
    return median_of(ratios)


def fmt(value, spec="{:.2f}", suffix=""):
    return "n/a" if value is None else spec.format(value) + suffix


def print_tables(args, info, summaries, floors, runs):
    floor_s, peak_s, rows = floor_summary(floors)
    print(f"- machine: {info['cpu']}, {info['cores']} cores, {info['platform']}")
    print(f"- commit `{info['commit']}`, {info['date']}, Python {info['python']}")
    versions = {
        k: v for outs in runs.values() for o in outs for k, v in o.items() if k in VERSION_KEYS
    }
    print("- " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    print(f"- {args.rounds} rounds x {args.epochs} epochs, fresh processes, order rotating")
    print()
    print(
        "| side | what | train/epoch | steady epoch | first epoch | end-to-end | "
        f"e2e / ({args.epochs} x steady) | test acc | peak RSS | / floor | / peak floor | "
        "kerasdl / side, rounds | kerasdl-jax / side, rounds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        if s["side"] == "quickstart":
            continue
        acc = s["test_accuracy"]
        acc_text = "n/a" if acc is None else f"{acc[0]:.4f}-{acc[1]:.4f}"
        failed = f" ({s['failed']} of {s['runs']} failed)" if s["failed"] else ""
        print(
            f"| {s['side']}{failed} | {WHAT[s['side']]} | {fmt(s['train_examples'], '{:,}')} | "
            f"{fmt(s['steady_s'], suffix=' s')} | {fmt(s['first_epoch_s'], suffix=' s')} | "
            f"{fmt(s['wall_s'], '{:.1f}', ' s')} | {fmt(s['wall_over_steady'])} | {acc_text} | "
            f"{fmt(s['peak_rss_mb'], '{:.0f}', ' MiB')} | {fmt(s['over_floor'])} | "
            f"{fmt(s['over_peak_floor'])} | {fmt(s['kerasdl_over_side'])} | "
            f"{fmt(s['kerasdl_jax_over_side'])} |"
        )
    print()
    print_floor(floor_s, peak_s, rows)
    print_quickstart(summaries, runs)
    print_targets(args, summaries)
    print_errors(summaries)


VERSION_KEYS = ("torch", "jax", "optax", "keras", "threads")


def print_floor(floor_s, peak_s, rows):
    print("| floor: library | threads | epoch GFLOP | products looped | GFLOP/s | peak GFLOP/s |")
    print("|---|---|---|---|---|---|")
    for (lib, threads), items in sorted(rows.items()):
        print(
            f"| {lib} | {threads or 'default'} ({items[0]['threads']}) | "
            f"{items[0]['epoch_gflop']:.2f} | "
            f"{median_of([i['loop_s'] for i in items]):.3f} s | "
            f"{median_of([i['loop_gflops'] for i in items]):.1f} | "
            f"{median_of([i['peak_gflops'] for i in items]):.1f} |"
        )
    print(f"\nFloor (products looped, best library): {fmt(floor_s, '{:.3f}', ' s')}; ", end="")
    print(f"at the peak SGEMM rate: {fmt(peak_s, '{:.3f}', ' s')}.\n")


def print_quickstart(summaries, runs):
    if "quickstart" not in runs:
        return
    outs = [o for o in runs["quickstart"] if "error" not in o]
    if not outs:
        print("quickstart: every run failed (see below)\n")
        return
    to_acc = median_of([o["wall_to_result_s"] for o in outs])
    to_exit = median_of([o["wall_to_exit_s"] for o in outs])
    print("| quick start (`kerasdl train --dataset mnist-mini --ui plain`) | value |")
    print("|---|---|")
    print(f"| wall, start to 'Test accuracy' (median of {len(outs)}) | {to_acc:.1f} s |")
    print(f"| wall, start to exit | {to_exit:.1f} s |")
    print(f"| epochs run | {', '.join(str(o['epochs']) for o in outs)} |")
    accuracies = ", ".join(fmt(o["test_accuracy"], "{:.4f}") for o in outs)
    print(f"| test accuracy | {accuracies} |")
    print()


def target_rows(args, summaries):
    """``(target, measured, met)`` of issue 19's targets that this run measured, for kerasdl on
    TensorFlow (the default) and on JAX."""
    by = {s["side"]: s for s in summaries}
    rows = []
    peers = [s for s in summaries if not s["side"].startswith("kerasdl") and s["steady_s"]]
    peers = [s for s in peers if s["side"] != "quickstart"]
    for ours, cli_side in (("kerasdl", "kerasdl-cli"), ("kerasdl-jax", "kerasdl-cli-jax")):
        k = by.get(ours)
        if not k or k["steady_s"] is None:
            continue
        if peers:
            fastest = min(peers, key=lambda s: s["steady_s"])
            measured = f"{k['steady_s']:.2f} s vs {fastest['side']} {fastest['steady_s']:.2f} s"
            target = f"{ours}'s steady epoch below every peer's"
            rows.append((target, measured, k["steady_s"] < fastest["steady_s"]))
        if k["over_floor"]:
            target = f"{ours} <= 1.3x the floor"
            rows.append((target, f"{k['over_floor']:.2f}x", k["over_floor"] <= 1.3))
        cli = by.get(cli_side)
        if cli and cli["wall_s"] and args.epochs == 20:
            ratio = cli["wall_s"] / (20 * k["steady_s"])
            target = f"20-epoch end-to-end {cli_side} <= 1.2x 20 steady epochs of {ours}"
            rows.append((target, f"{cli['wall_s']:.1f} s = {ratio:.2f}x", ratio <= 1.2))
        if k["peak_rss_mb"]:
            rss = k["peak_rss_mb"]
            rows.append((f"{ours} peak RSS <= 1.0 GiB", f"{rss:.0f} MiB", rss <= 1024))
    q = by.get("quickstart")
    if q and q["wall_s"]:
        rows.append(("quick start < 8 s wall", f"{q['wall_s']:.1f} s", q["wall_s"] < 8))
    return rows


def print_targets(args, summaries):
    rows = target_rows(args, summaries)
    if rows:
        print("| target (issue 19) | measured | met |")
        print("|---|---|---|")
        for target, measured, met in rows:
            print(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
        print()


def print_errors(summaries):
    for s in summaries:
        for error in s["errors"]:
            print(f"- {s['side']} failed: `{' / '.join(error)[-600:]}`")


def main():
    args = parse_args()
    info = machine()
    with tempfile.TemporaryDirectory() as jax_cache:
        args.jax_cache_dir = jax_cache  # kerasdl-cli-jax's JAX compilation cache, all rounds
        runs, floors = run_all(args)
    floor_s, peak_s, _ = floor_summary(floors)
    summaries = [side_summary(s, runs[s], args.epochs, floor_s, peak_s) for s in args.sides]
    for s in summaries:
        s["kerasdl_over_side"] = kerasdl_ratio(runs, s["side"])
        s["kerasdl_jax_over_side"] = kerasdl_ratio(runs, s["side"], "kerasdl-jax")
    print_tables(args, info, summaries, floors, runs)
    if args.json:
        dump = {"machine": info, "args": vars(args), "floors": floors, "runs": runs}
        dump["summary"] = summaries
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
