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

Training's numbers are the same on every run of one machine, but not across machines: oneDNN
picks its kernels by instruction set (AVX2, AVX-512) and a different reduction order changes the
last bits, which a few epochs amplify (one AVX2 machine's epoch-1 loss 0.6359 against 0.6364
here). Where the count of lines follows those numbers (the epoch a run stops early at, so the
epoch lines, the learning-rate changes, the rows of `runs show`), the block is marked with
`<!-- example-shape: why -->` on the line before it, and its lines are compared as a set: each
kind of line shown must be printed and no other kind, however many times each comes. A renamed
column, a missing kind of line or a wrong exit code still fails
(`test_a_wrong_example_is_caught`).

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
SHAPE = re.compile(r"<!--\s*example-shape:\s*(\S.*?)\s*-->\s*\Z")
HEADING = re.compile(r"^#+ .*$", re.M)
EXIT = re.compile(r"\(exit (\d+)\)")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
PATH = re.compile(r"(?<![\w.])/[^\s,:;)']*")
PLOT = re.compile(r"[┤└]")
RULE = re.compile(r"─+")
NOT_HERE = ("experiments.md",)
# Experiments train for minutes; their own tests run them.
NOT_RUN = ("kerasdl experiment ", "kerasdl lr-find")
# Files the bad-input examples read (the docs show only the errors they cause).
FIXTURES = {
    "bad.toml": "seed = 1\nepochs = 3\n\n# a table name that never closes\n[optimizer\n",
    "typo.toml": '[optimizer]\nname = "adam"\nlearning_rat = 0.01\n',
    "bad.csv": "size,city,price\n50,2,200\n70,Oslo,260\n",
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
    """`(page, command, expected output, expected exit code, shape only)`, in the docs' order."""
    examples = []
    for page in _pages():
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) != "console":
                continue
            before = text[: match.start()].rstrip("\n")
            marker = before.rsplit("\n", 1)[-1]
            if SKIP.search(marker):
                continue
            shape = bool(SHAPE.search(marker))
            headings = HEADING.findall(before)
            code = EXIT.search(headings[-1]) if headings else None
            command, output = None, []
            for line in [*match.group(2).splitlines(), "$ "]:
                if line.startswith("$ "):
                    if command is not None and not command.startswith(NOT_RUN):
                        examples.append(
                            (page.name, command, output, _exit_code(code, output), shape)
                        )
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
    """Lines with numbers, absolute paths and rule widths masked, blank and plot lines dropped,
    sorted."""
    kept = []
    for line in lines:
        if not line.strip() or PLOT.search(line) or line.startswith("note: "):
            continue
        line = PATH.sub("<path>", line)
        line = NUMBER.sub("#", line)
        line = RULE.sub("─", line)  # a table's rule is as wide as its widest numbers
        kept.append(" ".join(line.split()))
    return sorted(kept)


def matches(shown, got, shape=False):
    """Whether output `got` is the documented `shown`: the same masked lines, as a multiset,
    or with `shape` as a set (each kind of line, however many times)."""
    want, have = _normalise(shown), _normalise(got)
    return set(want) == set(have) if shape else want == have


def problems(where, shown, exit_code, shape, returncode, output):
    """What is wrong with a run of a documented command: `[]` when it runs as documented."""
    found = []
    text = "\n".join(output)
    if "Traceback (most recent call last)" in text:
        found.append(f"{where}: a traceback:\n{text[-2000:]}")
    if returncode != exit_code:
        found.append(f"{where}: exit {returncode}, documented {exit_code}")
    if not matches(shown, output, shape):
        want, got = set(_normalise(shown)), set(_normalise(output))
        found.append(
            f"{where}: output differs\n  shown only: {sorted(want - got)}\n"
            f"  got only: {sorted(got - want)}"
        )
    return found


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
    commands = [command for _page, command, _output, _code, _shape in EXAMPLES]
    assert len(commands) >= 10
    assert any(c.startswith("kerasdl runs compare") for c in commands)
    assert {code for _page, _command, _output, code, _shape in EXAMPLES} >= {0, 1, 2}
    # Only the blocks whose line counts follow the numbers are compared by shape.
    shaped = [command for _page, command, _output, _code, shape in EXAMPLES if shape]
    assert shaped and len(shaped) <= len(commands) // 4, shaped


def test_the_output_comparison_can_fail():
    shown = ["epoch 1/3  loss 0.5 acc 0.9  1.2 s", "Run directory: runs/demo (3.0 s)"]
    assert _normalise(shown) == _normalise(["epoch 1/3  loss 0.7 acc 0.8  0.9 s", *shown[1:]])
    assert _normalise(shown) != _normalise(["epoch 1/3  loss 0.5 acc 0.9", *shown[1:]])
    assert _normalise(shown) != _normalise(shown[:1])


def _example(command):
    (found,) = [example for example in EXAMPLES if example[1] == command]
    return found


def test_a_wrong_example_is_caught():
    """The checks fail on a genuinely wrong output, in both modes, and pass on a right one."""

    def epoch_lines(output):
        return [line for line in output if line.startswith("epoch ")]

    page, command, shown, code, shape = _example(
        next(
            c
            for _p, c, o, _e, s in EXAMPLES
            if s and c.startswith("kerasdl train") and len(epoch_lines(o)) >= 3
        )
    )
    assert shape and code == 0
    epochs = epoch_lines(shown)
    assert len(epochs) >= 3
    where = f"{page}: $ {command}"
    assert problems(where, shown, code, shape, 0, shown) == []
    # Another machine: other digits, and the run stops two epochs earlier (its lines drop out).
    other = [NUMBER.sub(lambda m: m.group().replace("1", "2"), line) for line in shown]
    for line in [epochs[-2], epochs[-3]]:
        other.remove(NUMBER.sub(lambda m: m.group().replace("1", "2"), line))
    assert problems(where, shown, code, shape, 0, other) == []
    # A renamed column, a missing kind of line, an extra kind of line, a wrong exit code.
    renamed = [line.replace("val_loss", "valid_loss") for line in shown]
    missing = [line for line in shown if not line.startswith("Test accuracy")]
    extra = [*shown, "warning: something new"]
    for wrong in (renamed, missing, extra):
        assert any("output differs" in p for p in problems(where, shown, code, shape, 0, wrong))
    assert any("exit 1, documented 0" in p for p in problems(where, shown, code, shape, 1, shown))
    traceback = [*shown, "Traceback (most recent call last):"]
    assert any("a traceback" in p for p in problems(where, shown, code, shape, 0, traceback))
    # Without the marker, one line fewer is already wrong.
    page, command, shown, code, shape = next(e for e in EXAMPLES if not e[4] and len(e[2]) > 2)
    assert problems(where, shown, code, False, code, shown) == []
    assert problems(where, shown, code, False, code, shown[1:]) != []


@pytest.mark.slow
def test_console_examples_run_as_documented(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    for name, content in FIXTURES.items():
        (work / name).write_text(content)
    found = []
    for page, command, shown, exit_code, shape in EXAMPLES:
        for word in shlex.split(command):
            if word.startswith("KERASDL_DATA_DIR="):
                data_dir = word.split("=", 1)[1]
                if not Path(data_dir).is_dir():
                    pytest.skip(f"{data_dir} is not here")
        result = _run(command, work, home)
        output = (result.stdout + result.stderr).splitlines()
        found += problems(
            f"{page}: $ {command}", shown, exit_code, shape, result.returncode, output
        )
    assert not found, "\n".join(found)


@pytest.mark.parametrize("page,command", bash_commands())
def test_bash_commands_parse(page, command, tmp_path):
    result = _run(f"{command} --help", tmp_path, tmp_path)
    assert result.returncode == 0, f"{page}: {command}: {result.stdout}{result.stderr}"
    assert "Usage" in result.stdout
