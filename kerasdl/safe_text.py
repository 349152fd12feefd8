"""Strings from run directories, made inert before they reach a terminal or a spreadsheet.

A run directory is untrusted input: it is shared, copied and unpacked from archives, and every
string in it (a run id, a data name, a notice, a config value, an error message) may hold
terminal control sequences (ESC ``]0;title BEL`` sets the window title, ESC ``[2J`` clears the
screen, OSC 8 makes a hyperlink) or Rich/Textual markup (``[/red]`` makes Rich raise,
``[link=...]`` makes a link). Views pass such strings through:

- `inert`: control characters (C0 but none kept, DEL, C1) and the Unicode bidirectional
  overrides shown as visible escapes (``\\x1b``, ``\\n``, ``\\u202e``), so what is printed is
  what the file holds and nothing acts on the terminal;
- `text`: `inert`, as a `rich.text.Text`, which Rich and Textual never parse as markup (use it
  for every table cell and line built from run data);
- `markup_escape`: `inert`, with Rich's markup escaped, for the rare place that must build a
  markup string;
- `csv_cell`: `inert`, and a cell that a spreadsheet would read as a formula (starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, and not a number) prefixed with
  ``'`` (OWASP's advice for CSV injection).

This module imports Rich only inside `text` and `markup_escape`, so `kerasdl --help` stays light.
"""

from __future__ import annotations

import re

__all__ = ["csv_cell", "inert", "markup_escape", "text"]

# C0 controls (tab and newline too: a cell or a line from a file is one line), DEL, C1 controls,
# and the bidirectional embedding/override/isolate characters ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same but for "\n", for text that a console lays out over lines.
_UNSAFE_BUT_NEWLINE = re.compile(_UNSAFE.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan|infinity)", re.I)


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(value: object, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control character shown as a visible escape.

    ``"ok\\x1b]0;pwned\\x07"`` -> ``"ok\\\\x1b]0;pwned\\\\x07"``: the text stays readable, and no
    byte of it is a terminal control. A backslash is left as it is.

    Args:
        value: Anything; ``None`` gives ``"None"``.
        keep_newlines: Leave ``\\n`` as a line break (text laid out over lines, as a console
            renders it). Defaults to False: one line.
    """
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(_escape, value if isinstance(value, str) else str(value))


def text(value: object, style: str = ""):
    """`inert` ``value`` as a `rich.text.Text` (never parsed as markup), with ``style``.

    Args:
        value: Anything.
        style: A Rich style for the whole text. Defaults to none.
    """
    from rich.text import Text

    return Text(inert(value), style=style)


def markup_escape(value: object) -> str:
    """`inert` ``value`` with Rich markup escaped, to embed in a markup string.

    Args:
        value: Anything.
    """
    from rich.markup import escape

    return escape(inert(value))


def csv_cell(value: object) -> str:
    """`inert` ``value`` for a CSV cell, with a would-be formula made text (``'=1+1``).

    Numbers (``-0.5``, ``1e-3``, ``-inf``) are left as they are.

    Args:
        value: Anything.
    """
    cell = inert(value) if isinstance(value, str) else str(value)
    if cell.startswith(_FORMULA) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
