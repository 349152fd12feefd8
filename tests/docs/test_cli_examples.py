"""The command-line examples in the docs run, exit as documented, and print what the docs show.

Every ```console block of the docs pages (not `experiments.md`, nor `kerasdl experiment` and
`kerasdl lr-find` anywhere: their own tests run them) holds commands, each on a line starting
with `$ `, followed by the output the docs show. The test runs each command in order, in one
fresh working directory (so `runs/` is the documented runs folder, through
`KERASDL_RUNS_DIR=runs`), with `COLUMNS=100` as the outputs were captured, without
`KERASDL_DATA_DIR` and with an empty Keras cache (`HOME`, `KERAS_HOME`), and checks:

- the exit code: the one in the heading above the block, written `(exit N)`; else 2 where the
  output shown ends with an `error:` line (bad input, in the exit-code table); else 0;
- no traceback;
- the output is the documented one, up to numbers and absolute paths (timings, dates and
  run ids differ from run to run), as a multiset of lines (table rows may come in another order),
  without the plots' lines (their shape follows the numbers).

The commands shown in the docs are cheap by design (the bundled mnist-mini, a few epochs). A
block after `<!-- skip-example: why -->` is not run (it needs full MNIST or a Ctrl-C). Commands
in ```bash blocks are recipes (other data, other machines); each `kerasdl ...` line of those is
run with `--help` appended, which checks that its options exist.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)
SKIP = re.compile(r"<!--\s*skip-example:\s*(.*?)\s*-->\s*\Z")
HEADING = re.compile(r"^#+ .*$", re.M)
EXIT = re.compile(r"\(exit (\d+)\)")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
PATH = re.compile(r"(?<![\w.])/[^\s,:;)']*")
PLOT = re.compile(r"[┤└]")
NOT_HERE = ("experiments.md",)
# Experiments train for minutes; their own tests run them.
NOT_RUN = ("kerasdl experiment ", "kerasdl lr-find")
# Files the bad-input examples read (the docs show only the errors they cause).
FIXTURES = {
    "bad.toml": "seed = 1\nepochs = 3\n\n# a table name that never closes\n[optimizer\n",
    "typo.toml": '[optimizer]\nname = "adam"\nlearning_rat = 0.01\n',
}


def _pages():
    return [p for p in sorted((REPO / "docs").glob("*.md")) if p.name not in NOT_HERE]


def _exit_code(heading_code, output):
    """The heading's `(exit N)`; else 2 for an output that ends in an `error:` line; else 0."""
    if heading_code:
        return int(heading_code.group(1))
    shown = [line for line in output if line.strip()]
    return 2 if shown and shown[-1].startswith("error: ") else 0


def console_examples():
    """`(page, command, expected output, expected exit code)`, in the order of the docs."""
    examples = []
    for page in _pages():
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) != "console":
                continue
            before = text[: match.start()].rstrip("\n")
            if SKIP.search(before.rsplit("\n", 1)[-1]):
                continue
            headings = HEADING.findall(before)
            code = EXIT.search(headings[-1]) if headings else None
            command, output = None, []
            for line in [*match.group(2).splitlines(), "$ "]:
                if line.startswith("$ "):
                    if command is not None and not command.startswith(NOT_RUN):
                        examples.append((page.name, command, output, _exit_code(code, output)))
                    command, output = line[2:], []
                elif command is not None:
                    output.append(line)
    return examples


def bash_commands():
    """The `kerasdl ...` lines of the ```bash blocks of the docs and of README.md."""
    commands = []
    for page in [*_pages(), REPO / "README.md"]:
        for match in FENCE.finditer(page.read_text()):
            if match.group(1) == "bash":
                for line in match.group(2).splitlines():
                    line = line.split("  #")[0].strip()
                    if line.startswith("kerasdl "):
                        commands.append((page.name, line))
    return commands


def _normalise(lines):
    """Lines with numbers and absolute paths masked, blank and plot lines dropped, sorted."""
    kept = []
    for line in lines:
        if not line.strip() or PLOT.search(line) or line.startswith("note: "):
            continue
        line = PATH.sub("<path>", line)
        line = NUMBER.sub("#", line)
        kept.append(" ".join(line.split()))
    return sorted(kept)


def _kerasdl():
    script = Path(sys.executable).with_name("kerasdl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kerasdl"]


def _run(command, cwd, home):
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASDL_", "TF_CPP"))}
    env.update(
        COLUMNS="100",
        KERASDL_RUNS_DIR="runs",
        HOME=str(home),
        KERAS_HOME=str(home / ".keras"),
        NO_COLOR="1",
    )
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0] == "kerasdl", command
    return subprocess.run(
        [*_kerasdl(), *words[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


EXAMPLES = console_examples()


def test_the_examples_are_found():
    commands = [command for _page, command, _output, _code in EXAMPLES]
    assert len(commands) >= 10
    assert any(c.startswith("kerasdl runs compare") for c in commands)
    assert {code for *_rest, code in EXAMPLES} >= {0, 1, 2}


def test_the_output_comparison_can_fail():
    shown = ["epoch 1/3  loss 0.5 acc 0.9  1.2 s", "Run directory: runs/demo (3.0 s)"]
    assert _normalise(shown) == _normalise(["epoch 1/3  loss 0.7 acc 0.8  0.9 s", *shown[1:]])
    assert _normalise(shown) != _normalise(["epoch 1/3  loss 0.5 acc 0.9", *shown[1:]])
    assert _normalise(shown) != _normalise(shown[:1])


@pytest.mark.slow
def test_console_examples_run_as_documented(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    for name, content in FIXTURES.items():
        (work / name).write_text(content)
    problems = []
    for page, command, shown, exit_code in EXAMPLES:
        for word in shlex.split(command):
            if word.startswith("KERASDL_DATA_DIR="):
                data_dir = word.split("=", 1)[1]
                if not Path(data_dir).is_dir():
                    pytest.skip(f"{data_dir} is not here")
        result = _run(command, work, home)
        output = (result.stdout + result.stderr).splitlines()
        where = f"{page}: $ {command}"
        if "Traceback (most recent call last)" in result.stdout + result.stderr:
            problems.append(f"{where}: a traceback:\n{result.stderr[-2000:]}")
        if result.returncode != exit_code:
            problems.append(f"{where}: exit {result.returncode}, documented {exit_code}")
        want, got = _normalise(shown), _normalise(output)
        if want != got:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            problems.append(f"{where}: output differs\n  shown only: {missing}\n  got: {extra}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page,command", bash_commands())
def test_bash_commands_parse(page, command, tmp_path):
    result = _run(f"{command} --help", tmp_path, tmp_path)
    assert result.returncode == 0, f"{page}: {command}: {result.stdout}{result.stderr}"
    assert "Usage" in result.stdout
