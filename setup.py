"""Package layout that pyproject.toml alone cannot express.

The dashboard lives in the folder ``tui/`` but installs as ``kerasdl_tui``:
another PyPI project owns the top-level name ``tui``. Everything else about the
project is in pyproject.toml.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["kerasdl", "kerasdl.*"])
packages += ["kerasdl_tui"] + [f"kerasdl_tui.{name}" for name in find_packages("tui")]

setup(packages=packages, package_dir={"kerasdl_tui": "tui"})
