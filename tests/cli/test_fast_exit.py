"""The ``kerasdl`` command's end (`kerasdl.cli._exit`): once a framework is loaded it skips the
interpreter's teardown, yet keeps the exit code, what was written to the standard streams and
what the ``atexit`` handlers do; otherwise it exits as Python does."""

import json
import os
import subprocess
import sys
import textwrap

import pytest


def _python(code, **env):
    """Run ``code`` in a fresh interpreter; its CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


# A stand-in for a loaded framework (the check is by module name), an atexit handler that
# writes a file and prints, and output left in the streams' buffers: all must survive.
_FAST = """
    import atexit, sys, types, pathlib
    sys.modules["{framework}"] = types.ModuleType("{framework}")
    from kerasdl.cli import _exit
    atexit.register(lambda: (pathlib.Path(sys.argv[1]).write_text("done"), print("atexit ran")))
    sys.stdout.write("no newline yet")
    sys.stderr.write("to stderr")
    _exit({code})
"""


@pytest.mark.parametrize("framework", ["tensorflow", "jax", "torch"])
@pytest.mark.parametrize("code", [0, 3])
def test_with_a_framework_loaded_the_code_the_output_and_atexit_survive(tmp_path, framework, code):
    marker = tmp_path / "marker"
    program = _FAST.format(framework=framework, code=code)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program), str(marker)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code
    assert done.stdout == "no newline yetatexit ran\n"
    assert done.stderr == "to stderr"
    assert marker.read_text() == "done"


def _exit_kind(setup: str, code="0", **env) -> dict:
    """How `_exit` ended a fresh process: by ``SystemExit`` (as Python exits: its code and the
    finally block run) or by ``os._exit`` (the finally block never runs)."""
    program = f"""
        import json, sys, threading, types
        {setup}
        from kerasdl.cli import _exit
        try:
            _exit({code})
        except SystemExit as done:
            print(json.dumps({{"system_exit": repr(done.code)}}))
            raise
    """
    done = _python(program, **env)
    lines = done.stdout.splitlines()
    kind = json.loads(lines[0]) if lines else {"os_exit": True}
    return {**kind, "rc": done.returncode, "stderr": done.stderr, **_later(lines[1:])}


def _later(lines):
    return {"later": lines} if lines else {}


def test_without_a_framework_it_exits_as_python_does():
    assert _exit_kind("", "4") == {"system_exit": "4", "rc": 4, "stderr": ""}


def test_with_a_framework_it_skips_the_teardown():
    fast = _exit_kind('sys.modules["jax"] = types.ModuleType("jax")', "4")
    assert fast == {"os_exit": True, "rc": 4, "stderr": ""}


def test_full_exit_asked_for_or_a_thread_still_running_or_a_message_exits_as_python_does():
    loaded = 'sys.modules["tensorflow"] = types.ModuleType("tensorflow")'
    asked = _exit_kind(loaded, "0", KERASDL_FULL_EXIT="1")
    assert asked == {"system_exit": "0", "rc": 0, "stderr": ""}
    thread = loaded + "; t = threading.Timer(0.5, lambda: print('thread ran')); t.start()"
    waited = _exit_kind(thread, "0")  # Python joins the thread: its line comes after ours
    assert waited == {"system_exit": "0", "rc": 0, "stderr": "", "later": ["thread ran"]}
    message = _exit_kind(loaded, "'bad input'")
    assert message == {"system_exit": "'bad input'", "rc": 1, "stderr": "bad input\n"}


def test_none_is_exit_code_zero():
    assert _exit_kind("", "None") == {"system_exit": "0", "rc": 0, "stderr": ""}
    fast = _exit_kind('sys.modules["jax"] = types.ModuleType("jax")', "None")
    assert fast == {"os_exit": True, "rc": 0, "stderr": ""}


# An object whose __del__ prints at the interpreter's teardown: main() ends before it.
_MAIN = """
    import sys, types
    class Teardown:
        def __del__(self):
            print("teardown ran", flush=True)
    keep = Teardown()
    {load}
    sys.argv = ["kerasdl", "--help"]
    from kerasdl.cli import main
    main()
"""


@pytest.mark.parametrize("loaded", [False, True])
def test_the_console_script_s_main_ends_through_the_fast_exit(loaded):
    load = 'sys.modules["tensorflow"] = types.ModuleType("tensorflow")' if loaded else ""
    done = _python(_MAIN.format(load=load))
    assert done.returncode == 0 and "Usage" in done.stdout
    assert ("teardown ran" in done.stdout) is not loaded


def test_a_real_command_that_loads_tensorflow_exits_with_its_code_and_all_its_output(tmp_path):
    """``kerasdl train`` with a bad value exits 2 before loading anything; ``kerasdl info``
    loads TensorFlow and prints its table whole, exit 0."""
    env = {**os.environ, "KERASDL_RUNS_DIR": str(tmp_path)}
    bad = subprocess.run(
        [sys.executable, "-m", "kerasdl", "train", "--set", "epochs=0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    info = subprocess.run(
        [sys.executable, "-m", "kerasdl", "info"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "KERAS_BACKEND": "tensorflow", "COLUMNS": "200"},
    )
    assert info.returncode == 0, info.stderr
    assert "tensorflow" in info.stdout.lower() and info.stdout.endswith("\n")
