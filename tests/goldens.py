"""Read the golden files that tests/reference/make_golden.py writes from PyTorch.

The suite never imports torch: it reads ``tests/golden/<family>.json``. Each file
holds ``meta`` (the torch and numpy versions that made it) and ``cases``, a list
of dicts whose fields each family defines in its generator.
"""

import json
from functools import cache
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


@cache
def load(family):
    """The whole golden file of ``family``."""
    return json.loads((GOLDEN_DIR / f"{family}.json").read_text())


def cases(family):
    """``(ids, cases)`` of a family, ready for ``pytest.mark.parametrize``."""
    data = load(family)["cases"]
    return [case["id"] for case in data], data
