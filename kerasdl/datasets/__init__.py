"""Data files shipped inside kerasdl: ``mnist_mini.npz`` and its ``PROVENANCE.md``.

Read them through `kerasdl.data` (``data.name = "mnist-mini"``); this package holds no code.
"""
