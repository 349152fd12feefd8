"""Regenerate the golden files in tests/golden/ from PyTorch's own implementations.

Usage (torch is needed here, never by the test suite)::

    pip install torch==2.13.0 numpy
    python tests/reference/make_golden.py            # every family
    python tests/reference/make_golden.py losses     # one family

Each family is a module ``golden_<family>.py`` beside this file with a function
``generate() -> list[dict]``; every case has a unique ``"id"``. The output is
deterministic for a torch version: seeds are fixed and floats are written with
``repr`` precision (float64 round-trips exactly through JSON).
"""

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE.parent / "golden"


def families():
    return sorted(p.stem.removeprefix("golden_") for p in HERE.glob("golden_*.py"))


def write_family(family):
    import numpy as np
    import torch

    torch.use_deterministic_algorithms(True)
    module = importlib.import_module(f"golden_{family}")
    cases = module.generate()
    ids = [case["id"] for case in cases]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{family}: duplicate case ids")
    payload = {
        "meta": {
            "family": family,
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "generated_by": "tests/reference/make_golden.py",
        },
        "cases": cases,
    }
    GOLDEN_DIR.mkdir(exist_ok=True)
    path = GOLDEN_DIR / f"{family}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"{path.relative_to(HERE.parent.parent)}: {len(cases)} cases")


def main(argv):
    sys.path.insert(0, str(HERE))
    wanted = argv or families()
    unknown = sorted(set(wanted) - set(families()))
    if unknown:
        raise SystemExit(f"unknown families {unknown}; known: {families()}")
    for family in wanted:
        write_family(family)


if __name__ == "__main__":
    main(sys.argv[1:])
