"""kerasdl's preset (the chapter's 3.6 example) on full MNIST, timed per epoch, as JSON.

The same work as `chapter_torch.py` measures, done the kerasdl way: ``kerasdl.runner.train``
with the default `TrainConfig` (validation on a held-out 10% instead of the test set every
epoch, the test set once at the end). Prints each epoch's seconds (from the run's
``epoch_ended`` events), the test accuracy and the process's peak resident memory.

    python benchmarks/kerasdl_preset.py --data-dir ../shared/data/mnist --epochs 3
"""

import argparse
import json
import resource
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    from kerasdl.config import TrainConfig, parse_assignments
    from kerasdl.runner import train

    epochs = []
    with tempfile.TemporaryDirectory() as runs_dir:
        config = TrainConfig().override(
            {
                "epochs": args.epochs,
                "runs_dir": runs_dir,
                "data.name": "mnist",
                "data.data_dir": args.data_dir,
                **parse_assignments(args.set),
            }
        )

        def on_event(event):
            if event["type"] == "epoch_ended":
                epochs.append(event["epoch_seconds"])

        start = time.perf_counter()
        summary = train(config, sinks=[on_event])
        total = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "impl": "kerasdl-preset",
                "status": summary.status,
                "epoch_seconds": epochs,
                "test_accuracy": summary.test["accuracy"] if summary.test else None,
                "total_seconds": total,
                "peak_rss_mb": peak_kib / 1024,
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
