"""``kerasdl data info``: which MNIST source a run would use, and why, without downloading.

It asks `kerasdl.data.resolve_mnist_source`, which looks at the places in order (``--data-dir``,
``$KERASDL_DATA_DIR``, Keras's cache, Keras's download, the bundled mnist-mini) and imports no
TensorFlow.
"""

import typer
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.console import safe_console
from kerasdl.cli.plain import field_lines

app = typer.Typer(
    help="Datasets: where MNIST would come from.", no_args_is_help=True, add_completion=False
)


@app.command()
def info(data_dir: opt.DataDir = None):
    """Say which MNIST source `kerasdl train --dataset mnist` would use, and why; no download."""
    from kerasdl.data import resolve_mnist_source

    with errors.domain_errors():
        source = resolve_mnist_source(data_dir)
    console = safe_console(highlight=False, soft_wrap=True)
    head = Text("MNIST source: ", style="bold")
    head.append(str(source.label), style="bold cyan")
    console.print(head)
    rows = [
        ("why", source.reason),
        ("kind", source.kind),
        ("path", source.path or "-"),
        ("format", source.format or "-"),
    ]
    skipped = list(getattr(source, "skipped", ()) or ())
    if skipped:
        rows.append(("looked at first", "\n".join(skipped)))
    for line in field_lines(rows):
        console.print(line)
    console.print(
        Text(
            "--dataset mnist-mini always uses the bundled subset; --dataset regression is "
            "synthetic.",
            style="dim",
        )
    )
