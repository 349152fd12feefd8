"""`LogPane`: notices (data fallback, warnings, errors), learning-rate changes, the outcome."""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from kerasdl.safe_text import inert

__all__ = ["LogPane"]

_LEVEL_STYLES = {"info": "cyan", "warning": "yellow", "error": "bold red"}


class LogPane(RichLog):
    """A scrolling log; `add` writes one line with a level tag (and keeps its plain text in
    `texts`, which is what tests read). The message and tag come from a run's events, so they
    are written inert (`kerasdl.safe_text`): no control character reaches the terminal. A
    resize wraps every line again at the new width and shows the newest lines."""

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
        min-height: 3;
        border: round $primary 30%;
        border-title-style: bold;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(
            id=id, wrap=True, markup=False, highlight=False, auto_scroll=True, min_width=16
        )
        self.border_title = "log"
        self.texts: list[str] = []
        self._lines: list[Text] = []
        self._width: int | None = None

    def add(self, message: str, level: str = "info", *, tag: str | None = None) -> None:
        line = Text()
        line.append(f"{inert(tag or level)} ", style=_LEVEL_STYLES.get(level, "dim"))
        line.append(inert(message))
        self.texts.append(line.plain)
        self._lines.append(line)
        self.write(line)

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        width = event.size.width
        if self._width is not None and width != self._width and self._lines:
            self.clear()
            for line in self._lines:
                self.write(line, scroll_end=False)
            self.scroll_end(animate=False, immediate=True)
        self._width = width
