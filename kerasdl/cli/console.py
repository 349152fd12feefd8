"""The one kind of Rich console the commands print with: run data on it is inert.

`safe_console` is a `rich.console.Console` that never parses markup in a plain string (a data
name ``[/red]`` prints as ``[/red]``, ``[link=...]`` makes no link) and shows every control
character of the content it renders as a visible escape (`kerasdl.safe_text.inert`, newlines
kept as line breaks): an ESC sequence in a run id, a notice or a metric name cannot set the
window title, clear the screen or emit a hyperlink. Only the content is filtered, after Rich has
laid it out and before it adds its own styles, so tables, colours and the live progress bar
(Rich's control segments) work as before. Styled text is built with `rich.text.Text`.
"""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment

from kerasdl.safe_text import inert

__all__ = ["SafeConsole", "safe_console"]


class SafeConsole(Console):
    """A `Console` whose rendered content has no live control characters (module docstring).

    Plain strings (printed, or a table's cells and titles) are made inert before Rich measures
    them, so columns fit the escaped text; every rendered segment is checked again, so a
    `rich.text.Text` built from raw data is inert too (build those with `kerasdl.safe_text.text`
    so that they are measured right).
    """

    def render_str(self, text: str, **kwargs):
        return super().render_str(inert(text, keep_newlines=True), **kwargs)

    def render(self, renderable, options=None):
        for segment in super().render(renderable, options):
            text = segment.text if segment.control else inert(segment.text, keep_newlines=True)
            yield segment if text == segment.text else Segment(text, segment.style, None)


def safe_console(**kwargs) -> SafeConsole:
    """A `SafeConsole`; ``markup`` and ``highlight`` default to False.

    Args:
        **kwargs: As `rich.console.Console`.
    """
    kwargs.setdefault("markup", False)
    kwargs.setdefault("highlight", False)
    return SafeConsole(**kwargs)
