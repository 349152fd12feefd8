"""The preset's epoch time at two commits, side by side: did a change slow the engine down?

Checks out ``--base`` (a git revision) into a temporary worktree and runs
`kerasdl_preset.py` alternately on it and on the working tree, ``--rounds`` times each, every run
in a fresh process. Each run trains the preset on full MNIST for ``--epochs`` epochs; its first
epoch (tracing) is left out and the median of the others is its steady epoch. Prints one line per
run and a table of the medians and their ratio (working tree / base), as JSON with ``--json``.

    python benchmarks/preset_commits.py --base 1320f6a --data-dir ../shared/data/mnist

Run it on an otherwise idle machine: the two sides alternate, so slow drifts hit both, but a
busy machine makes every number noisy.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "benchmarks" / "kerasdl_preset.py"


def run_preset(tree: Path, data_dir: str, epochs: int) -> dict:
    """One `kerasdl_preset.py` run importing kerasdl from ``tree`` (its own folder first on the
    path: the installed, editable kerasdl would otherwise win)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, str(PRESET), "--data-dir", data_dir, "--epochs", str(epochs)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["steady_s"] = statistics.median(result["epoch_seconds"][1:])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (>= 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    worktree = Path(tempfile.mkdtemp(prefix="kerasdl-base-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), args.base],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    sides = {"base": worktree, "now": ROOT}
    runs = {name: [] for name in sides}
    try:
        for round_ in range(args.rounds):
            for name, tree in sides.items():
                result = run_preset(tree, data_dir, args.epochs)
                runs[name].append(result)
                print(
                    f"# round {round_ + 1} {name}: steady {result['steady_s']:.3f} s, "
                    f"first {result['epoch_seconds'][0]:.2f} s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
        )
        shutil.rmtree(worktree, ignore_errors=True)
    medians = {name: statistics.median(r["steady_s"] for r in runs[name]) for name in runs}
    summary = {
        "base": args.base,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "steady_s": medians,
        "ratio_now_over_base": medians["now"] / medians["base"],
        "runs": runs,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("| side | steady epoch, median of runs (s) | runs |")
        print("| --- | --- | --- |")
        for name in sides:
            each = ", ".join(f"{r['steady_s']:.3f}" for r in runs[name])
            print(f"| {name} | {medians[name]:.3f} | {each} |")
        print(f"\nratio now / base: {summary['ratio_now_over_base']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
