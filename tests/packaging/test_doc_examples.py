"""The Python examples in README.md and in every docs page run as written.

Each page's ```python blocks run in order, in one namespace, in a fresh working directory, with
`KERASDL_OFFLINE=1` (mnist-mini, no download) and without `KERASDL_DATA_DIR`. The namespace starts
with what the pages take for granted (`PRELUDE`): `keras`, `np`, `kerasdl`, and a small compiled
regression model `model` with data `x`, `y` (= `x_train`, `y_train`). Markers in the page, on the
line right before a fenced block (docs/testing.md describes them):

- `<!-- skip-example: why -->`: the block is not run (PyTorch code shown for comparison, a
  signature, a fragment of a larger loop); the reason is required.
- `<!-- example-file: NAME -->`: the block (any language) is written to NAME in the working
  directory before the page's Python blocks run (a TOML file an example loads).
"""

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(skip-example|example-file):\s*(.*?)\s*-->\s*\Z")

PRELUDE = """
import keras
import numpy as np

import kerasdl

_rng = np.random.default_rng(0)
x = _rng.normal(size=(64, 4)).astype("float32")
_noise = _rng.normal(scale=0.5, size=(64, 1))
y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + _noise).astype("float32")
x_train, y_train = x, y
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")  # early stopping stops it soon
"""


def fenced_blocks(text):
    """`(language, code, marker, argument)` for each fenced block; marker is None or its kind."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n")
        last_line = before.rsplit("\n", 1)[-1]
        marker = MARKER.search(last_line)
        kind, argument = (marker.group(1), marker.group(2)) if marker else (None, None)
        blocks.append((match.group(1), match.group(2), kind, argument))
    return blocks


def runnable_blocks(text):
    return [
        code
        for language, code, kind, _argument in fenced_blocks(text)
        if language == "python" and kind != "skip-example"
    ]


def pages():
    """README.md and the docs pages with at least one Python block to run."""
    found = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return [p for p in found if runnable_blocks(p.read_text())]


PAGES = pages()


def test_the_pages_are_found():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "docs/components.md", "docs/optimizers.md", "docs/engine.md"} <= names
    all_pages = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    python_blocks = sum(p.read_text().count("```python") for p in all_pages)
    assert sum(len(runnable_blocks(p.read_text())) for p in PAGES) >= python_blocks * 2 // 3


def test_every_skip_gives_a_reason():
    for page in PAGES:
        for _language, _code, kind, argument in fenced_blocks(page.read_text()):
            if kind == "skip-example":
                assert len(argument) >= 10, f"{page.name}: a skip-example marker needs a reason"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_python_examples_run(page, tmp_path, monkeypatch, capsys):
    import keras

    blocks = fenced_blocks(page.read_text())
    runnable = runnable_blocks(page.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERASDL_OFFLINE", "1")
    monkeypatch.delenv("KERASDL_DATA_DIR", raising=False)
    monkeypatch.delenv("KERASDL_RUNS_DIR", raising=False)
    for _language, code, kind, argument in blocks:
        if kind == "example-file":
            (tmp_path / argument).write_text(code)
    namespace = {"__name__": "__doc_example__"}
    exec(compile(PRELUDE, "<prelude>", "exec"), namespace)
    floatx = keras.config.floatx()
    try:
        for index, code in enumerate(runnable):
            exec(compile(code, f"{page.name}[python block {index + 1}]", "exec"), namespace)
    finally:
        keras.config.set_floatx(floatx)  # an example may switch to float64
    assert os.getcwd() == str(tmp_path)


def test_readme_example_builds_a_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for language, code, kind, _argument in fenced_blocks((REPO / "README.md").read_text()):
        if language == "python" and kind is None:
            exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["model"].count_params() == 784 * 256 + 256 + 256 * 10 + 10


def test_markers_are_read():
    text = "a\n<!-- skip-example: PyTorch code -->\n```python\nimport torch\n```\n"
    text += "<!-- example-file: run.toml -->\n```toml\nseed = 1\n```\n```python\npass\n```\n"
    assert fenced_blocks(text) == [
        ("python", "import torch\n", "skip-example", "PyTorch code"),
        ("toml", "seed = 1\n", "example-file", "run.toml"),
        ("python", "pass\n", None, None),
    ]
