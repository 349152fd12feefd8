"""``kerasdl experiment losses``: placeholder, being written."""


def losses():
    """Not written yet."""
