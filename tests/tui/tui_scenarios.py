"""Scripted runs for the dashboard's tests, snapshots, demo and benchmark.

Each scenario is a list of events as `kerasdl.event_log.EventLog` and the runner emit them
(schema 1, 1-based epochs). The early-stopping and plateau statuses are computed here with the
chapter's rules from the scripted ``val_loss`` values, so the numbers on the screen can be
checked against an independent computation:

- early stopping: improved if ``v < best - min_delta``; else ``wait += 1``; stop when
  ``wait >= patience``; ``epochs_left = patience - wait``;
- plateau (PyTorch's rule): better if ``v < best * (1 - threshold)``; else ``wait += 1``; a
  reduction when ``wait > patience``, then ``wait = 0`` and the cooldown starts.

Run it as a script to write a run directory slowly, as a live run would (for ``tmux`` demos
and ``kerasdl dashboard``)::

    python tests/tui/tui_scenarios.py runs/demo --scenario stops --delay 0.5
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

T0 = 1_735_732_800.0  # 2025-01-01 12:00:00 UTC: every scripted run starts here
RUN_ID = "20250101-120000-ab12cd"


def config(**overrides) -> dict:
    """The preset's config dict (as ``TrainConfig().to_dict()`` writes it), with overrides
    given as ``section__field=value``."""
    base = {
        "seed": 42,
        "epochs": 20,
        "batch_size": 64,
        "validation_split": 0.1,
        "runs_dir": "runs",
        "run_name": "",
        "data": {"name": "mnist-mini", "limit": None},
        "model": {"hidden": [256, 128], "batch_norm": [True, False], "dropout": [0.5, 0.0]},
        "loss": {"name": "cross_entropy"},
        "optimizer": {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.01},
        "schedule": {"name": "step", "step_size": 10, "gamma": 0.5, "warmup_epochs": 0},
        "early_stopping": {
            "enabled": True,
            "monitor": "val_loss",
            "patience": 5,
            "min_delta": 0.0,
            "restore_best_weights": True,
        },
        "plateau": {
            "enabled": False,
            "monitor": "val_loss",
            "factor": 0.1,
            "patience": 10,
            "threshold": 1e-4,
            "cooldown": 0,
            "min_lr": 0.0,
        },
    }
    for key, value in overrides.items():
        if "__" in key:
            section, name = key.split("__")
            base[section][name] = value
        else:
            base[key] = value
    return base


class RunScript:
    """Builds the events of one run, epoch by epoch, keeping the callbacks' state."""

    def __init__(self, cfg: dict, *, run_id: str = RUN_ID, t0: float = T0, steps: int = 85):
        self.cfg = cfg
        self.run_id = run_id
        self.time = t0
        self.steps = steps
        self.events: list[dict] = []
        es = cfg["early_stopping"]
        self.es = {"best": math.inf, "best_epoch": None, "wait": 0, "patience": es["patience"]}
        self.plateau = {"best": math.inf, "wait": 0, "cooldown": 0, "cuts": 0}
        self.checkpoint_best = math.inf
        self.checkpoint_epoch = None
        self.lr = cfg["optimizer"]["learning_rate"]
        self.epoch = 0
        self.stopped = False

    def emit(self, kind: str, **fields) -> dict:
        event = {"schema": 1, "type": kind, "time": round(self.time, 3), "run_id": self.run_id}
        event.update(fields)
        self.events.append(event)
        return event

    def start(self, *, notice: str | None = None, resumed_from=None) -> RunScript:
        self.emit(
            "run_started",
            config=self.cfg,
            dataset={
                "name": self.cfg["data"]["name"],
                "source": "bundled mnist-mini",
                "notice": notice,
                "n_train": 5400,
                "n_val": 600,
                "n_test": 1000,
            },
            params=235_146,
            backend="tensorflow",
            devices=["CPU:0"],
            epochs=self.cfg["epochs"],
            steps_per_epoch=self.steps,
            batch_size=self.cfg["batch_size"],
            optimizer={
                "name": self.cfg["optimizer"]["name"],
                "learning_rate": self.cfg["optimizer"]["learning_rate"],
            },
            resumed_from=resumed_from,
            pid=None,
            host=None,
        )
        if notice:
            self.emit("notice", level="warning", message=notice)
        return self

    def batches(self, loss: float, *, upto: int | None = None, count: int = 3) -> None:
        """A few throttled ``batch`` events of the next epoch (the last at step ``upto``)."""
        upto = self.steps if upto is None else upto
        for i in range(1, count + 1):
            step = max(1, round(upto * i / count))
            self.time += 0.4
            self.emit(
                "batch",
                epoch=self.epoch + 1,
                epochs=self.cfg["epochs"],
                step=step,
                steps=self.steps,
                samples_per_s=12_800.0,
                eta_s=round((self.steps - step) * 0.005, 3),
                metrics={"loss": loss, "accuracy": 0.9},
            )

    def epoch_end(self, loss, val_loss, acc, val_acc, *, lr_next=None, seconds=1.3) -> dict:
        """One finished epoch; ``lr_next`` is the next epoch's rate from the schedule."""
        self.epoch += 1
        self.time += seconds
        es_cfg = self.cfg["early_stopping"]
        es = self.es
        status = None
        if es_cfg["enabled"]:
            improved = val_loss < es["best"] - es_cfg["min_delta"]
            if improved:
                es.update(best=val_loss, best_epoch=self.epoch, wait=0)
            else:
                es["wait"] += 1
            self.stopped = es["wait"] >= es["patience"]
            status = {
                "monitor": es_cfg["monitor"],
                "mode": "min",
                "best": None if math.isinf(es["best"]) else es["best"],
                "best_epoch": es["best_epoch"],
                "wait": es["wait"],
                "patience": es["patience"],
                "epochs_left": 0 if self.stopped else es["patience"] - es["wait"],
                "stopped": self.stopped,
                "stopped_epoch": self.epoch if self.stopped else None,
                "improved": improved,
                "min_delta": es_cfg["min_delta"],
            }
        saved = val_loss < self.checkpoint_best
        if saved:
            self.checkpoint_best, self.checkpoint_epoch = val_loss, self.epoch
        lr_start = self.lr
        changes = []
        plateau_status = None
        if lr_next is not None and not math.isclose(lr_next, self.lr):
            reason = "schedule"
            warmup = self.cfg["schedule"].get("warmup_epochs") or 0
            if warmup and self.epoch == warmup:
                reason = "warmup_end"
            if not (warmup and self.epoch < warmup):
                changes.append({"old": self.lr, "new": lr_next, "reason": reason})
            self.lr = lr_next
        pl_cfg = self.cfg["plateau"]
        if pl_cfg["enabled"]:
            pl = self.plateau
            if val_loss < pl["best"] * (1 - pl_cfg["threshold"]):
                pl.update(best=val_loss, wait=0)
            else:
                pl["wait"] += 1
            if pl["cooldown"] > 0:
                pl["cooldown"] -= 1
                pl["wait"] = 0
            reduced = False
            if pl["wait"] > pl_cfg["patience"]:
                new = max(self.lr * pl_cfg["factor"], pl_cfg["min_lr"])
                changes.append({"old": self.lr, "new": new, "reason": "plateau"})
                self.lr = new
                pl["cuts"] += 1
                pl["cooldown"], pl["wait"] = pl_cfg["cooldown"], 0
                reduced = True
            plateau_status = {
                "monitor": pl_cfg["monitor"],
                "mode": "min",
                "best": pl["best"],
                "wait": pl["wait"],
                "patience": pl_cfg["patience"],
                "cooldown": pl_cfg["cooldown"],
                "cooldown_left": pl["cooldown"],
                "factor": pl_cfg["factor"],
                "min_lr": pl_cfg["min_lr"],
                "learning_rate": self.lr,
                "scale": None,
                "reduced": reduced,
                "num_reductions": pl["cuts"],
            }
        event = self.emit(
            "epoch_ended",
            epoch=self.epoch,
            epochs=self.cfg["epochs"],
            metrics={"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc},
            learning_rate=lr_start,
            early_stopping=status,
            plateau=plateau_status,
            checkpoint_saved=saved,
            checkpoint={
                "monitor": "val_loss",
                "best": self.checkpoint_best,
                "best_epoch": self.checkpoint_epoch,
                "saves": 0,
                "filepath": f"runs/{self.run_id}/best.keras",
            },
            epoch_seconds=seconds,
            samples_per_s=5400 / seconds,
        )
        for change in changes:
            self.emit("lr_changed", epoch=self.epoch, **change)
        return event

    def finish(self, status: str, *, test=None, error=None) -> dict:
        self.time += 0.5
        best_epoch = self.es["best_epoch"] if self.cfg["early_stopping"]["enabled"] else None
        best_value = self.es["best"] if best_epoch is not None else None
        return self.emit(
            "run_finished",
            status=status,
            best_epoch=best_epoch,
            best={"monitor": "val_loss", "value": best_value},
            test=test,
            duration_s=round(self.time - T0, 3),
            epochs_run=self.epoch,
            error=error,
        )


def _curve(epoch: int, floor: float, start: float, rate: float = 0.45) -> float:
    return round(floor + (start - floor) * math.exp(-rate * (epoch - 1)), 4)


def stops_early() -> list[dict]:
    """Improves until epoch 7, plateaus, and early stopping (patience 5) ends it after
    epoch 12 of 20; StepLR halves the rate after epoch 10."""
    run = RunScript(config()).start()
    val = [0.40, 0.25, 0.18, 0.14, 0.12, 0.105, 0.098, 0.101, 0.099, 0.104, 0.100, 0.102]
    for epoch, val_loss in enumerate(val, start=1):
        loss = _curve(epoch, 0.03, 0.55)
        run.batches(loss)
        lr_next = 0.0005 if epoch >= 10 else 0.001
        run.epoch_end(
            loss,
            val_loss,
            round(0.85 + 0.14 * (1 - math.exp(-0.4 * epoch)), 4),
            round(0.88 + 0.095 * (1 - math.exp(-0.5 * epoch)), 4),
            lr_next=lr_next,
        )
        if run.stopped:
            break
    run.finish("early_stopped", test={"loss": 0.0934, "accuracy": 0.9712})
    return run.events


def running_at_epoch_9() -> list[dict]:
    """`stops_early` cut in the middle of epoch 10: wait 2/5, live."""
    events = stops_early()
    cut = next(i for i, e in enumerate(events) if e["type"] == "epoch_ended" and e["epoch"] == 9)
    tail = events[cut + 1 : cut + 3]  # two batch events of epoch 10
    return events[: cut + 1] + [e for e in tail if e["type"] == "batch"]


def nan_run() -> list[dict]:
    """Three good epochs, then the loss becomes NaN in epoch 4 (lr too high)."""
    run = RunScript(config(optimizer__learning_rate=5.0, epochs=10)).start()
    for loss, val_loss in [(2.1, 1.9), (1.7, 1.6), (1.8, 2.4)]:
        run.batches(loss)
        run.epoch_end(loss, val_loss, 0.3, 0.35, lr_next=5.0)
    run.batches(math.nan, upto=17, count=2)
    run.epoch_end(math.nan, math.nan, 0.098, 0.1, lr_next=5.0)
    run.finish("nan", error="the loss became NaN at epoch 4, step 17")
    return run.events


def interrupted_run() -> list[dict]:
    """Three epochs, part of the fourth, then Ctrl-C (``run_finished`` "interrupted")."""
    run = RunScript(config(epochs=10)).start(
        notice="offline: no MNIST source found; using the bundled mnist-mini"
    )
    for epoch in range(1, 4):
        run.batches(_curve(epoch, 0.05, 0.6))
        run.epoch_end(_curve(epoch, 0.05, 0.6), _curve(epoch, 0.09, 0.45), 0.9, 0.92, lr_next=0.001)
    run.batches(0.2, upto=40, count=2)
    run.finish("interrupted", error="KeyboardInterrupt")
    return run.events


def warmup_plateau() -> list[dict]:
    """Three warmup epochs (lr 2.5e-4 .. 1e-3; "warmup_end" after epoch 3), then two
    plateau cuts (patience 2, x0.1) after epochs 9 and 13; it completes 16 epochs."""
    cfg = config(
        epochs=16,
        schedule__name="none",
        schedule__warmup_epochs=3,
        plateau__enabled=True,
        plateau__patience=2,
        early_stopping__patience=8,
    )
    run = RunScript(cfg).start()
    run.lr = 0.00025
    val = [0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.111, 0.112, 0.113, 0.09, 0.091, 0.092, 0.0925, 0.085,
           0.0851, 0.0852]  # fmt: skip
    for epoch, val_loss in enumerate(val, start=1):
        lr_next = (
            min(0.001, 0.00025 * (epoch + 1)) if epoch < 3 else (0.001 if epoch == 3 else run.lr)
        )
        loss = _curve(epoch, 0.02, 0.6)
        run.batches(loss)
        run.epoch_end(loss, val_loss, 0.95, 0.96, lr_next=lr_next)
    run.finish("completed", test={"loss": 0.081, "accuracy": 0.975})
    return run.events


def showcase() -> list[dict]:
    """For the docs' screenshot: warmup (2 epochs), a StepLR step after epoch 6, a plateau
    cut after epoch 10, and the run in epoch 13 with early stopping at wait 2/5."""
    cfg = config(
        schedule__step_size=6,
        schedule__warmup_epochs=2,
        plateau__enabled=True,
        plateau__patience=2,
        plateau__factor=0.5,
    )
    run = RunScript(cfg).start()
    run.lr = 0.0005
    val = [0.42, 0.26, 0.19, 0.15, 0.128, 0.112, 0.104, 0.1045, 0.105, 0.1052, 0.098, 0.0985,
           0.099]  # fmt: skip
    for epoch, val_loss in enumerate(val, start=1):
        # The warmup ramp (5e-4, 7.5e-4, then 1e-3 from epoch 3), then a step after epoch 6.
        lr_next = 0.0005 + 0.00025 * epoch if epoch <= 2 else (0.0005 if epoch == 6 else run.lr)
        loss = _curve(epoch, 0.025, 0.58)
        run.batches(loss)
        acc = round(0.84 + 0.15 * (1 - math.exp(-0.45 * epoch)), 4)
        val_acc = round(0.87 + 0.105 * (1 - math.exp(-0.5 * epoch)), 4)
        run.epoch_end(loss, val_loss, acc, val_acc, lr_next=lr_next)
    run.batches(0.031, upto=52, count=2)
    return run.events


SCENARIOS = {
    "showcase": showcase,
    "stops": stops_early,
    "running": running_at_epoch_9,
    "nan": nan_run,
    "interrupted": interrupted_run,
    "warmup": warmup_plateau,
}


def write_run(
    run_dir: Path, events: list[dict], *, delay_s: float = 0.0, keep_time: bool = True
) -> Path:
    """Write ``events`` (all but ``batch``) to ``run_dir/events.jsonl`` through an
    `EventWriter`, sleeping ``delay_s`` after each epoch: a run another process watches.
    ``keep_time=False`` stamps the events with the real time (and this process's pid), as a
    live run would."""
    from kerasdl.events import EventWriter

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "events.jsonl"
    dropped = {"schema", "type", "run_id"} | (set() if keep_time else {"time", "pid", "host"})
    with EventWriter(path, run_id=run_dir.name) as writer:
        for event in events:
            if event["type"] == "batch":
                continue
            fields = {k: v for k, v in event.items() if k not in dropped}
            writer.emit(event["type"], **fields)
            if delay_s and event["type"] == "epoch_ended":
                time.sleep(delay_s)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="stops")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between epochs")
    args = parser.parse_args(argv)
    write_run(args.run_dir, SCENARIOS[args.scenario](), delay_s=args.delay, keep_time=False)
    print(args.run_dir / "events.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
