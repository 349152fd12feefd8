"""``python -m kerasdl_tui [RUN] [--runs-dir DIR]``: the same as ``kerasdl dashboard``."""

import typer

from kerasdl.cli.dashboard import dashboard


def main() -> None:
    typer.run(dashboard)


if __name__ == "__main__":
    main()
