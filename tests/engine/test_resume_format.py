"""`kerasdl.run.resume`: last.keras and state.json as one unit, whatever instant a process stops at;
damaged checkpoints named before training; one process per run directory.

The save is interrupted at every one of its file-system steps in turn (a KeyboardInterrupt from
the k-th write, fsync or rename, as Ctrl-C or a kill would stop it there); after each, the run
directory still holds one complete pair, the old epoch's or the new one's, and `load_state`
finds it. The real process-level kills are `tests/engine/kill_resume.py` (CI runs it bounded).
"""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from kerasdl import runs
from kerasdl.run import resume
from kerasdl.run.resume import NEXT_STATE_FILE, RunLock, load_state, save_last


def _model(epoch):
    def write(path):
        with open(path, "wb") as handle:
            handle.write(f"model of epoch {epoch}".encode() * 100)

    return write


def _saved(run_dir):
    """The epoch whose model last.keras holds."""
    return int((run_dir / runs.LAST_MODEL_FILE).read_bytes().split()[3][:1])


class Stop(BaseException):
    """Stands for Ctrl-C or a kill: raised from the k-th file-system step."""


def _interrupting(monkeypatch, at):
    calls = {"n": 0}

    def step(real):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == at:
                raise Stop
            return real(*args, **kwargs)

        return wrapped

    for name in ("replace", "fsync", "open"):
        monkeypatch.setattr(os, name, step(getattr(os, name)))
    return calls


def test_a_stop_at_any_step_of_the_save_leaves_one_complete_pair(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_last(run_dir, _model(1), {"epoch": 0, "epochs_done": 1})
    steps = 0
    while True:
        steps += 1
        with monkeypatch.context() as patch:
            calls = _interrupting(patch, steps)
            try:
                save_last(run_dir, _model(2), {"epoch": 1, "epochs_done": 2})
                finished = True
            except Stop:
                finished = False
        state = load_state(run_dir)  # never refuses: one of the two pairs is whole
        assert state["epochs_done"] == _saved(run_dir), steps
        assert state["last_sha256"] == resume.file_sha256(run_dir / runs.LAST_MODEL_FILE)
        if finished:
            assert calls["n"] < steps and state["epochs_done"] == 2
            break
        # back to epoch 1 for the next instant, through the same protocol
        save_last(run_dir, _model(1), {"epoch": 0, "epochs_done": 1})
    assert steps >= 6  # the save has that many steps, and each was a stopping point
    resume.clean_temporaries(run_dir)
    assert not [p for p in run_dir.iterdir() if ".tmp" in p.name]


def test_a_stop_between_the_two_renames_is_finished_by_the_next_load(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_last(run_dir, _model(1), {"epochs_done": 1})
    # As a process killed after last.keras was replaced and before state.json was: by hand.
    _model(2)(str(run_dir / runs.LAST_MODEL_FILE))
    newer = {"epochs_done": 2, "last_sha256": resume.file_sha256(run_dir / runs.LAST_MODEL_FILE)}
    (run_dir / NEXT_STATE_FILE).write_text(json.dumps(newer))
    assert load_state(run_dir)["epochs_done"] == 2
    assert not (run_dir / NEXT_STATE_FILE).exists()  # moved into place
    assert json.loads((run_dir / runs.STATE_FILE).read_text())["epochs_done"] == 2


def test_a_damaged_or_replaced_checkpoint_is_named_before_training(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / runs.BEST_MODEL_FILE).write_bytes(b"best")
    save_last(run_dir, _model(1), {"epochs_done": 1})
    assert load_state(run_dir)["best_sha256"]
    with open(run_dir / runs.LAST_MODEL_FILE, "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(runs.RunError, match=r"last.keras matches no saved state"):
        load_state(run_dir)
    save_last(run_dir, _model(1), {"epochs_done": 1})
    (run_dir / runs.BEST_MODEL_FILE).write_bytes(b"other")
    with pytest.raises(runs.RunError, match=r"best\.keras is damaged \(not a whole \.keras"):
        load_state(run_dir)
    # A whole archive that differs: the best of the epoch a stop cut short, accepted.
    with zipfile.ZipFile(run_dir / runs.BEST_MODEL_FILE, "w") as archive:
        archive.writestr("config.json", "{}")
    assert load_state(run_dir)["epochs_done"] == 1
    (run_dir / runs.BEST_MODEL_FILE).unlink()
    assert load_state(run_dir)["epochs_done"] == 1
    (run_dir / runs.STATE_FILE).write_text("{not json")
    with pytest.raises(runs.RunError, match=r"state.json is damaged"):
        load_state(run_dir)


def test_an_older_state_without_hashes_is_read_and_a_broken_archive_named(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with zipfile.ZipFile(run_dir / runs.LAST_MODEL_FILE, "w") as archive:
        archive.writestr("config.json", "{}")
    runs.save_resume_state(run_dir, {"epochs_done": 3})
    assert load_state(run_dir)["epochs_done"] == 3
    (run_dir / runs.LAST_MODEL_FILE).write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(runs.RunError, match=r"last.keras is damaged \(not a .keras archive\)"):
        load_state(run_dir)


def test_one_process_per_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunLock(run_dir):
        code = (
            "import sys\nfrom kerasdl.run.resume import RunLock\n"
            "from kerasdl.runs import RunError\n"
            f"try:\n    RunLock({str(run_dir)!r}).acquire()\n"
            "except RunError as e:\n    print(e)\n    sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 3, result.stderr
        assert f"(pid {os.getpid()} on " in result.stdout and "is in use" in result.stdout
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout  # released: free again


@pytest.mark.parametrize(
    ("schedule", "written", "expected"),
    [
        ("onecycle", None, False),  # written before cycle_momentum existed: it never cycled
        ("cyclic", None, False),
        ("onecycle", True, True),  # written since: its own value stands
        ("cyclic", False, False),
        ("cosine", None, True),  # no momentum cycle to keep: today's default
    ],
)
def test_a_resume_keeps_the_settings_a_run_was_made_with(tmp_path, schedule, written, expected):
    from kerasdl.config import TrainConfig

    config = TrainConfig().override({"schedule.name": schedule})
    text = config.to_toml()
    lines = [line for line in text.splitlines() if not line.startswith("cycle_momentum")]
    if written is not None:
        index = lines.index("[schedule]") + 1
        lines.insert(index, f"cycle_momentum = {str(written).lower()}")
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    resumed = resume.resumed_config(tmp_path)
    assert resumed.schedule.cycle_momentum is expected
    assert resumed.schedule.name == schedule
    assert resumed.override({"schedule.cycle_momentum": True}).schedule.cycle_momentum is True


def test_a_resume_on_another_backend_says_it_will_not_equal_the_uninterrupted_run():
    note = resume.backend_change_notice({"backend": "tensorflow", "epochs_done": 3}, "jax")
    assert note.startswith("this run trained on tensorflow until epoch 3 and continues on jax")
    assert "will not equal the uninterrupted run" in note
    assert resume.backend_change_notice({"backend": "jax"}, "jax") is None
    assert resume.backend_change_notice({}, "jax") is None  # written before states kept it
    hostile = {"backend": "\x1b[2J[red]x[/red]", "epochs_done": "\x1b[2J"}  # untrusted state
    note = resume.backend_change_notice(hostile, "jax")
    assert note.startswith("this run trained on another Keras backend and continues on jax")
    assert "\x1b" not in note and "[red]" not in note
