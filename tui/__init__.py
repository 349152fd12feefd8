"""kerasdl's Textual dashboard, installed under the import name ``kerasdl_tui``.

The dashboard itself comes with a later issue; this package holds its place so
that the wheel's layout (``kerasdl`` and ``kerasdl_tui``, never a top-level
``tui``) is fixed and tested from the start.
"""
