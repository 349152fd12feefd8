"""The Python examples in README.md and docs/components.md run as written."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/components.md"]


def _python_blocks(page):
    return re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page, tmp_path, monkeypatch):
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no python example: this test would prove nothing"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, page, "exec"), namespace)
    assert "model" in namespace and namespace["model"].count_params() > 0
