"""Print the convergence table of docs/optimizers.md, in Markdown.

Usage (from the repository root; seconds)::

    python benchmarks/convergence_table.py                   # KERAS_BACKEND, else tensorflow
    python benchmarks/convergence_table.py --backend jax

Every kerasdl optimizer, with its tuned learning rate and otherwise default
hyperparameters, runs on the two problems of
``tests/components/test_optimizer_convergence.py`` (the problems, learning rates,
tolerances and the step counter live there, so the table and the test cannot
drift apart). A cell is the number of steps until ``max |w - w*| < tolerance``
with float32 variables; beside it, the count of the same rule written in NumPy
(float64), which the test requires to agree within 2 steps + 1 %.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None)
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT / "tests" / "components"))

    import keras
    import test_optimizer_convergence as convergence

    problems = convergence.PROBLEMS
    header = ["optimizer"]
    for p in problems:
        header += [f"{p.name}: lr", "steps", "NumPy steps"]
    lines = [
        f"Backend: {keras.backend.backend()} (Keras {keras.__version__}).",
        "",
    ]
    for p in problems:
        lines.append(
            f"- {p.name}: start {p.start}, minimum {p.minimum}, "
            f"tolerance max|w - w*| < {p.tolerance:g}, budget {p.budget} steps"
        )
    lines += ["", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in convergence.NAMES:
        row = [f"`{name}`"]
        for p in problems:
            steps = convergence.steps_to_tolerance(name, p)
            reference = convergence.numpy_steps_to_tolerance(name, p)
            row += [
                f"{convergence.TUNED[name, p.name]:g}",
                "not reached" if steps is None else str(steps),
                "not reached" if reference is None else str(reference),
            ]
        lines.append("| " + " | ".join(row) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
