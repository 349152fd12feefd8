"""``kerasdl lr-find``: placeholder, being written."""


def lr_find():
    """Not written yet."""
