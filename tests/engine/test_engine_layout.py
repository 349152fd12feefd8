"""The engine's shape: `kerasdl.runner` a façade over `kerasdl.run`, short functions, one
module per decision (the loop in `kerasdl.run.loops`, the status in `kerasdl.run.status`).
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = [*sorted((REPO / "kerasdl" / "run").glob("*.py")), REPO / "kerasdl" / "runner.py"]
#: The engine and the modules it stands on: no function in them is longer than `MAX_LINES`.
SHORT = [
    *ENGINE,
    *(
        REPO / "kerasdl" / f"{name}.py"
        for name in ("loop", "distributed", "config", "data", "models", "data_files", "data_keras")
    ),
]
MAX_LINES = 80  # a function, its docstring and nested definitions included


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _with_parents(tree):
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    return tree


def _inside(node, kind):
    while hasattr(node, "parent"):
        node = node.parent
        if isinstance(node, kind):
            return True
    return False


def _rel(path):
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize("path", SHORT, ids=_rel)
def test_no_function_is_longer_than_80_lines(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert not long, f"{_rel(path)}: {long}"


@pytest.mark.parametrize("path", ENGINE, ids=_rel)
def test_every_module_says_what_it_owns(path):
    assert ast.get_docstring(_tree(path)), f"{_rel(path)} has no module docstring"


def test_only_the_loops_module_tells_the_loops_apart():
    """The loop names are compared in `kerasdl.run.loops` alone (the session records the
    chosen loop's ``name`` in ``run_started``, it does not test it)."""
    names = {"kerasdl", "fit"}
    found = []
    for path in ENGINE:
        if path.name == "loops.py":
            continue
        tree = _with_parents(_tree(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in names
                and _inside(node, ast.Compare)
            ):
                found.append(f"{_rel(path)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "loop"
                and _inside(node, ast.Compare)
            ):
                found.append(f"{_rel(path)}:{node.lineno}")
    assert not found, found


def test_only_the_status_module_decides_a_status():
    """Outside `kerasdl.run.status` a status (a `Status` member or its value) is only ever
    compared with, never produced."""
    from kerasdl.events.schema import Status

    values = {status.value for status in Status}
    found = []
    for path in ENGINE:
        if path.name == "status.py":
            continue
        tree = _with_parents(_tree(path))
        for node in ast.walk(tree):
            named = isinstance(node, ast.Attribute) and node.attr in Status.__members__
            valued = isinstance(node, ast.Constant) and node.value in values
            if (named or valued) and not _inside(node, ast.Compare):
                found.append(f"{_rel(path)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found
