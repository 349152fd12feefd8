"""``kerasdl experiment optimizers``: placeholder, being written."""


def optimizers():
    """Not written yet."""
