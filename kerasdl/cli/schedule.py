"""``kerasdl schedule plot``: placeholder, being written."""

import typer

app = typer.Typer(help="Learning-rate schedules.", no_args_is_help=True, add_completion=False)


@app.command()
def plot():
    """Not written yet."""
