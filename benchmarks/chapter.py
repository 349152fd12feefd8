"""kerasdl's preset against the chapter's own PyTorch script, side by side on full MNIST.

Runs `chapter_torch.py` (with a Python that has torch) and `kerasdl_preset.py` (with this
Python) alternately, ``--rounds`` times each, and reports the median steady-state epoch time
(the first epoch, which traces and compiles, is left out), the ratio kerasdl / PyTorch, the
test accuracies, kerasdl's peak memory, and how much slower ``kerasdl --help`` starts than
``python -c pass``. Prints Markdown for docs/benchmarks.md.

    python benchmarks/chapter.py --data-dir ../shared/data/mnist \\
        --torch-python /path/to/venv-with-torch/bin/python --epochs 4 --rounds 2

Targets (issue 5): epoch ratio <= 0.5, peak memory <= 1.5 GB, ``--help`` <= 0.4 s over
``python -c pass``. ``--torch-python`` defaults to this Python (the project's environment has
torch).

`peers.py` is issue 19's wider comparison: the same 54,000 training images on every side,
``torch.compile``, a JAX + optax loop, Keras ``fit`` on JAX, kerasdl on JAX, the quick start
and the arithmetic floor.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_json(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def startup_seconds(cmd, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run (>= 2)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    torch_cmd = [args.torch_python, str(HERE / "chapter_torch.py"), "--data-dir", args.data_dir]
    kerasdl_cmd = [sys.executable, str(HERE / "kerasdl_preset.py"), "--data-dir", args.data_dir]
    kerasdl_cmd += ["--set", "early_stopping.enabled=false"]
    for item in args.set:
        kerasdl_cmd += ["--set", item]
    epochs = ["--epochs", str(args.epochs)]

    steady = {"torch": [], "kerasdl": []}
    results = {"torch": [], "kerasdl": []}
    for _ in range(args.rounds):
        for name, cmd in (("torch", torch_cmd), ("kerasdl", kerasdl_cmd)):
            out = run_json(cmd + epochs)
            results[name].append(out)
            steady[name].extend(out["epoch_seconds"][1:])
            print(f"# {name}: {json.dumps(out)}", file=sys.stderr)

    torch_s = statistics.median(steady["torch"])
    kerasdl_s = statistics.median(steady["kerasdl"])
    kerasdl_exe = str(Path(sys.executable).with_name("kerasdl"))
    help_s = startup_seconds([kerasdl_exe, "--help"], 10)
    pass_s = startup_seconds([sys.executable, "-c", "pass"], 10)

    print(f"- machine: {platform.processor() or platform.machine()}, {platform.platform()}")
    print(f"- torch: {results['torch'][0]['torch']} ({results['torch'][0]['threads']} threads)")
    print(f"- {args.rounds} rounds x {args.epochs} epochs each, alternating; epoch 1 left out")
    print()
    print("| measure | chapter PyTorch | kerasdl preset | ratio / target |")
    print("|---|---|---|---|")
    print(
        f"| steady-state epoch (median) | {torch_s:.2f} s | {kerasdl_s:.2f} s | "
        f"{kerasdl_s / torch_s:.2f} (target <= 0.5) |"
    )
    acc_t = [r["test_accuracy"] for r in results["torch"]]
    acc_k = [r["test_accuracy"] for r in results["kerasdl"]]
    print(
        f"| test accuracy after {args.epochs} epochs | {min(acc_t):.4f}-{max(acc_t):.4f} | "
        f"{min(acc_k):.4f}-{max(acc_k):.4f} | |"
    )
    # Each round's two runs ran back to back; their ratio is less exposed to the machine's
    # drift over the whole benchmark than the ratio of the two overall medians.
    rounds = [
        statistics.median(k["epoch_seconds"][1:]) / statistics.median(t["epoch_seconds"][1:])
        for t, k in zip(results["torch"], results["kerasdl"], strict=True)
    ]
    print(
        f"| ratio within each round (median, range) | | | {statistics.median(rounds):.2f} "
        f"({min(rounds):.2f}-{max(rounds):.2f}) |"
    )
    peak = max(r["peak_rss_mb"] for r in results["kerasdl"])
    print(f"| kerasdl peak RSS | | {peak:.0f} MB | target <= 1536 MB |")
    print(
        f"| `kerasdl --help` vs `python -c pass` | | {help_s:.2f} s vs {pass_s:.2f} s | "
        f"+{help_s - pass_s:.2f} s (target <= 0.4 s) |"
    )


if __name__ == "__main__":
    main()
