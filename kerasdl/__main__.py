"""``python -m kerasdl``: the same CLI as the ``kerasdl`` command."""

from kerasdl.cli import main

if __name__ == "__main__":
    main()
