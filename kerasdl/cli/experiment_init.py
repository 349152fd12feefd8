"""``kerasdl experiment init``: placeholder, being written."""


def init():
    """Not written yet."""
