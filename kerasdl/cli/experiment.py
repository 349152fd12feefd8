"""``kerasdl experiment``: the chapter's claims, measured on this machine.

Each subcommand lives in its own module (``experiment_<name>.py``) and imports TensorFlow and
Keras only inside its body, so ``kerasdl experiment --help`` stays fast. The work itself is in
`kerasdl.experiments`; these modules parse options and render tables, plots and ``--json``.
"""

import typer

from kerasdl.cli import (
    experiment_init,
    experiment_losses,
    experiment_optimizers,
    experiment_regularization,
)

app = typer.Typer(
    help=(
        "The chapter's claims, measured: each experiment trains or probes small networks "
        "(mnist-mini by default, about 2 minutes on 2 cores) and prints a table and plots."
    ),
    no_args_is_help=True,
    add_completion=False,
)

app.command(name="optimizers")(experiment_optimizers.optimizers)
app.command(name="init")(experiment_init.init)
app.command(name="regularization")(experiment_regularization.regularization)
app.command(name="losses")(experiment_losses.losses)
