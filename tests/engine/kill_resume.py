"""Kill real `kerasdl train` processes at random instants; each must leave a resumable run.

    python tests/engine/kill_resume.py [--kills 200] [--seed 0] [--resume-every 10] [--keep DIR]

Each trial starts ``kerasdl train`` on mnist-mini (512 examples, 30 short epochs, no early
stopping: a checkpoint about every 60 ms, so many instants fall inside a save) and sends a signal
at a random instant: in 3 trials of 4 after its first epoch was saved (uniform over the rest of
the run's measured length), in the others anywhere after the run started; SIGKILL mostly,
SIGINT and SIGTERM in turn.
Then the run directory must either hold a state that `kerasdl.run.resume.load_state` accepts (the
last finished epoch, its checkpoint whole and matching), or be refused with the one precise reason
a kill can leave ("no epoch finished"). Every ``--resume-every``-th run (and every run whose
state is not the last saved epoch's) is resumed with ``kerasdl train --resume``, which must
complete (exit 0). A first run without a signal measures the run's length.

It prints one line per trial and a summary; exit 1 if any run was left neither resumable nor
precisely refused. ``.ci/run`` runs it bounded (``--kills 6 --resume-every 2``); the note of the
issue that added it gives a 200-kill run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["--dataset", "mnist-mini", "--limit", "512", "--epochs", "30", "--no-early-stopping",
        "--ui", "none"]  # fmt: skip
SIGNALS = [signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGKILL, signal.SIGTERM]
STARTED_TIMEOUT_S = 120


def kerasdl() -> list[str]:
    script = Path(sys.executable).with_name("kerasdl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kerasdl"]


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASDL_")}
    env.update(KERASDL_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    return env


def start(runs_dir: Path, name: str) -> tuple[subprocess.Popen, float | None]:
    """The process, and the monotonic time its run started (its events file appeared)."""
    process = subprocess.Popen(
        [*kerasdl(), "train", *ARGS, "--runs-dir", str(runs_dir), "--run-name", name],
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = runs_dir / name / "events.jsonl"
    deadline = time.monotonic() + STARTED_TIMEOUT_S
    while time.monotonic() < deadline:
        if events.exists():
            return process, time.monotonic()
        if process.poll() is not None:
            return process, None
        time.sleep(0.002)
    process.kill()
    raise SystemExit(f"{name}: the run did not start within {STARTED_TIMEOUT_S} s")


def check(run_dir: Path) -> tuple[str, int | None]:
    """``("complete", None)`` for a run that ended with its test before the signal took,
    ``("resumable", epochs_done)``, or ``("refused: <why>", None)``."""
    from kerasdl import runs
    from kerasdl.events.record import RunRecord
    from kerasdl.run import resume

    if RunRecord.read(run_dir / runs.EVENTS_FILE).test_metrics is not None:
        return "complete", None
    try:
        state = resume.load_state(run_dir)
    except runs.RunError as error:
        return f"refused: {error}", None
    return "resumable", int(state["epochs_done"])


def resume_run(runs_dir: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*kerasdl(), "train", "--resume", str(runs_dir / name), "--ui", "none"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume-every", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = Path(args.keep or tempfile.mkdtemp(prefix="kerasdl-kill-"))
    runs_dir = root / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)

    process, began = start(runs_dir, "measure")
    first_save = None
    while process.poll() is None:
        if first_save is None and (runs_dir / "measure" / "state.json").exists():
            first_save = time.monotonic() - began
        time.sleep(0.002)
    if began is None or process.returncode != 0 or first_save is None:
        print(process.stderr.read() if process.stderr else "", file=sys.stderr)
        raise SystemExit("the measuring run failed")
    length = time.monotonic() - began
    print(
        f"a whole run takes {length:.2f} s after its start, its first epoch is saved at "
        f"{first_save:.2f} s; {args.kills} kills follow (3 in 4 after that first save)"
    )

    counts = {"resumable": 0, "refused (no epoch finished)": 0, "ended first": 0, "resumed": 0}
    failures = []
    for trial in range(args.kills):
        name = f"kill-{trial:03d}"
        sig = SIGNALS[trial % len(SIGNALS)]
        process, began = start(runs_dir, name)
        if trial % 4 == 3:  # anywhere in the run, its start and first epoch included
            delay = rng.uniform(0.0, length)
        else:  # among the saves: after the first, where a stop must keep a whole pair
            while process.poll() is None and not (runs_dir / name / "state.json").exists():
                time.sleep(0.0005)
            began = time.monotonic()
            delay = rng.uniform(0.0, max(0.0, length - first_save))
        while began is not None and time.monotonic() < began + delay:
            time.sleep(0.0005)
        if process.poll() is not None:
            counts["ended first"] += 1
            print(f"{name}: ended before the {sig.name}")
            continue
        process.send_signal(sig)
        process.wait()
        stderr = process.stderr.read() if process.stderr else ""
        verdict, epochs = check(runs_dir / name)
        line = f"{name}: {sig.name} at {delay:.3f} s, exit {process.returncode}: {verdict}"
        if verdict == "complete":
            counts["ended first"] += 1
        elif verdict == "resumable":
            counts["resumable"] += 1
            line += f" (after epoch {epochs})"
        elif "no epoch finished" in verdict:
            counts["refused (no epoch finished)"] += 1
        else:
            failures.append(line)
        # A traceback after a catchable signal is a failure while the run trains; once its test
        # result is written, a signal may land in the interpreter's own exit, outside kerasdl.
        if "Traceback" in stderr and sig != signal.SIGKILL and verdict != "complete":
            failures.append(f"{name}: a traceback after {sig.name}:\n{stderr[-1500:]}")
        if verdict == "resumable" and (trial % args.resume_every == 0):
            result = resume_run(runs_dir, name)
            ok = result.returncode == 0
            counts["resumed"] += ok
            line += "; resumed: " + ("completed" if ok else f"exit {result.returncode}")
            if not ok:
                failures.append(f"{name}: resume failed:\n{result.stderr[-1500:]}")
        print(line, flush=True)
    print("; ".join(f"{key}: {value}" for key, value in counts.items()))
    for failure in failures:
        print("FAILED", failure)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
