"""kerasdl's preset (the chapter's 3.6 example) on full MNIST, timed per epoch, as JSON.

The same work as `chapter_torch.py` measures, done the kerasdl way: ``kerasdl.runner.train``
with the default `TrainConfig` (validation on a held-out 10% instead of the test set every
epoch, the test set once at the end). Prints each epoch's seconds (from the run's
``epoch_ended`` events), the test accuracy and the process's peak resident memory.

The run is the preset's (20 epochs), asked to stop after ``--epochs`` epochs, so that the
engine makes the choices it makes for the preset's length (it unrolls its compiled loop only
for runs of >= 10,000 steps); the test accuracy is then that of the best of those epochs.

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
    parser.add_argument("--epochs", type=int, default=20, help="epochs to run (<= the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    import threading

    from kerasdl.config import TrainConfig, parse_assignments
    from kerasdl.runner import train

    epochs = []
    with tempfile.TemporaryDirectory() as runs_dir:
        config = TrainConfig().override(
            {
                "runs_dir": runs_dir,
                "data.name": "mnist",
                "data.data_dir": args.data_dir,
                **parse_assignments(args.set),
            }
        )

        stop = threading.Event()

        def on_event(event):
            if event["type"] == "epoch_ended":
                epochs.append(event["epoch_seconds"])
                if len(epochs) >= args.epochs - 1:
                    stop.set()  # seen during the next epoch: the run stops after it

        start = time.perf_counter()
        summary = train(config, sinks=[on_event], stop=stop)
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
