"""One docstring format for the public components (the API reference is generated from them).

Every public class and function of the component families (their `__all__`) has: a summary line;
an `Args:` section (Google style; `Attributes:` for a dataclass) that names every argument of its
signature (for a class, of its constructor) and, for each argument with a default, says the
default; and a `References:` section with at least one link. The format is the one `mkdocs.yml`
renders (mkdocstrings, Google style).
"""

import dataclasses
import doctest
import importlib
import inspect
import math
import re
import sys

import pytest

MODULES = [
    "kerasdl.losses",
    "kerasdl.optimizers",
    "kerasdl.initializers",
    "kerasdl.regularizers",
    "kerasdl.schedules",
    "kerasdl.callbacks",
    "kerasdl.torch_port",
]

_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _public_objects():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield pytest.param(obj, id=f"{module_name}.{name}")


def _sections(doc):
    """`{title: [lines]}` for the Google-style sections of a cleaned docstring."""
    sections, title = {}, None
    for line in doc.splitlines():
        match = _SECTION.match(line)
        if match and not match.group(1):
            title = match.group(2)
            sections[title] = []
        elif title is not None:
            sections[title].append(line)
    return sections


def _args(lines):
    """`{name: description}` from the lines of an `Args:` section."""
    entries, name = {}, None
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = re.match(r"^\s*(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)(?: \([^)]*\))?:\s*(.*)$", line)
        if match and indent == 4:
            name = match.group(1)
            entries[name] = match.group(2)
        elif name is not None and indent > 4:
            entries[name] += " " + line.strip()
        elif indent <= 4:
            name = None  # text after the entries ends the section
    return entries


def _mentions_default(text, default):
    if "default" not in text.lower():
        return False
    if default is None or isinstance(default, bool):
        return str(default) in text
    if isinstance(default, (int, float)):
        return any(math.isclose(float(n), default, rel_tol=1e-12) for n in _NUMBER.findall(text))
    if isinstance(default, str):
        return default in text
    return True  # an object default (a tuple, a callable): "default" is said


def _signature_parameters(obj):
    params = list(inspect.signature(obj).parameters.values())
    return [p for p in params if p.name not in ("self", "cls")]


@pytest.mark.parametrize("obj", list(_public_objects()))
def test_docstring_format(obj):
    doc = inspect.getdoc(obj)
    assert doc, "no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip() and not _SECTION.match(summary), f"no summary line: {summary!r}"

    sections = _sections(doc)
    params = _signature_parameters(obj)
    if params:
        # A dataclass documents its fields, which are its constructor's arguments, as Attributes.
        title = "Attributes" if dataclasses.is_dataclass(obj) else "Args"
        assert title in sections, f"no {title}: section; sections are {sorted(sections)}"
        entries = _args(sections[title])
        for param in params:
            key = {
                inspect.Parameter.VAR_KEYWORD: f"**{param.name}",
                inspect.Parameter.VAR_POSITIONAL: f"*{param.name}",
            }.get(param.kind, param.name)
            assert key in entries, f"{title}: does not name {key!r}; it names {sorted(entries)}"
            if param.default is not inspect.Parameter.empty:
                assert _mentions_default(entries[key], param.default), (
                    f"{title}: {key!r} does not say its default {param.default!r}: {entries[key]!r}"
                )

    assert "References" in sections, f"no References: section; sections are {sorted(sections)}"
    links = re.findall(r"\]\(\s*(https?://[^)\s]+)\s*\)", "\n".join(sections["References"]))
    assert links, "References: has no link"


def test_the_walk_finds_every_family():
    found = {param.id.rsplit(".", 1)[0] for param in _public_objects()}
    assert found == set(MODULES)


class _NumericChecker(doctest.OutputChecker):
    """Doctest output that matches as text, or equals it up to float rounding (rtol 1e-6)."""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        if " ".join(_NUMBER.sub("#", want).split()) != " ".join(_NUMBER.sub("#", got).split()):
            return False
        wanted, gotten = _NUMBER.findall(want), _NUMBER.findall(got)
        return len(wanted) == len(gotten) and all(
            math.isclose(float(w), float(g), rel_tol=1e-6, abs_tol=1e-9)
            for w, g in zip(wanted, gotten, strict=True)
        )


def _plain_displayhook(value):
    """Show a backend tensor as the number or NumPy array it holds, as a user reads it."""
    import builtins

    import keras
    import numpy as np

    if value is None:
        return
    if keras.ops.is_tensor(value) and not isinstance(value, np.ndarray):
        value = keras.ops.convert_to_numpy(value)
        if value.ndim == 0:
            value = value.item()
    builtins._ = value
    print(repr(value))


# The outputs are the default backend's: under tests/conftest.py's JAX x64 mode a variable made
# from Python floats is float64, so its repr differs.
@pytest.mark.tf_only
@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name, monkeypatch, tmp_path):
    """The `>>>` examples of the docstrings (code in the API reference) give their output."""
    import keras
    import numpy as np

    import kerasdl

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "__displayhook__", _plain_displayhook)
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(checker=_NumericChecker(), optionflags=doctest.ELLIPSIS)
    tests = []
    for name in module.__all__:
        obj = getattr(module, name)
        extra = {"keras": keras, "np": np, "kerasdl": kerasdl, **vars(module)}
        tests += [t for t in finder.find(obj, name, globs=extra) if t.examples]
    floatx = keras.config.floatx()
    try:
        for test in tests:
            runner.run(test)
    finally:
        keras.config.set_floatx(floatx)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed"
    if module_name != "kerasdl.callbacks":  # the callbacks show fenced code, not doctests
        assert result.attempted > 0, f"{module_name} has no docstring example"
