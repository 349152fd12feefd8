"""``kerasdl experiment regularization``: placeholder, being written."""


def regularization():
    """Not written yet."""
