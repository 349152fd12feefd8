"""`HelpScreen`: the keys and what the screen shows."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
[b]Keys[/b]
  [b]s[/b]      stop after this epoch: checkpoint and events are
         written, the run ends as "stopped" (runs trained here)
  [b]q[/b]      quit; while a run trains here, ask, then stop it
         as [b]s[/b] does and quit once its epoch is written
  [b]l[/b]      log scale for the loss chart (or click the chart)
  [b]x[/b]      loss chart per epoch / per step (the step history)
  [b]z[/b]      smooth the curves (TensorBoard's EMA; raw faint)
  [b]w[/b]      next smoothing weight: 0.6 0.8 0.9 0.95 0.99 0.3
  [b]?[/b]      this help      [b]escape[/b]  back to the runs browser
[b]Runs browser[/b]
  [b]space[/b]  select a run to overlay (or click it twice)
  [b]enter[/b]  open the run   [b]m[/b] next metric   [b]r[/b] reload
  [b]/[/b]      filter by name, tag, status or setting
  [b]o[/b]      next sort column   [b]O[/b] reverse the sort
[b]Charts[/b]
  [#5fafff]━[/] train  [#ffaf5f]━[/] validation  [yellow]◆[/] best epoch  [red]✗[/] NaN
  lr: [cyan]S[/] schedule step  [magenta]P[/] plateau cut  [green]W[/] warmup end,
  between the epoch the change follows and the next one
"""


class HelpScreen(ModalScreen[None]):
    """A modal with the keys; any key or click closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: auto;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-text {
        width: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter", "close", "Close")
    ]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "kerasdl dashboard: help"
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)

    def on_click(self) -> None:
        self.dismiss(None)
