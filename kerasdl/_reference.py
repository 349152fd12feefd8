"""The generated tables of the docs: every config field, and ``kerasdl train``'s options.

Both come from the field declarations in `kerasdl.config` (`field_specs`), so the docs cannot
drift from validation or from the CLI. A table sits in its page between two markers::

    <!-- generated: fields data -->
    | field | default | allowed | meaning |
    ...
    <!-- end generated -->

``python -m kerasdl._reference`` rewrites the tables of docs/config.md and docs/cli.md in place;
``--check`` only says which are out of date (exit 1), as tests/docs/test_reference_tables.py
does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from kerasdl.config import _SECTIONS, PANELS, _toml_value, field_specs

__all__ = ["PAGES", "fields_table", "render", "train_options_table"]

#: The pages with generated tables, relative to the repository root.
PAGES = ("docs/config.md", "docs/cli.md")

_BLOCK = re.compile(
    r"(<!-- generated: (?P<what>[a-z-]+)(?: (?P<arg>[a-z_]+))? -->\n)(?P<body>.*?)"
    r"(<!-- end generated -->)",
    re.DOTALL,
)


def _text(s: str) -> str:
    """Plain text in a Markdown table cell (no pipes, tags, math or emphasis)."""
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), ("$", "\\$"), ("*", "\\*")):
        s = s.replace(char, escaped)
    return s


def _doc(s: str) -> str:
    """A field's ``doc`` (Markdown already) in a table cell."""
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), ("$", "\\$")):
        s = s.replace(char, escaped)
    return s


def _default(value) -> str:
    return "none" if value is None else f"`{_toml_value(value)}`"


def fields_table(section: str | None) -> str:
    """The Markdown table of one config table's fields (``None``: the top level)."""
    rows = ["| field | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for spec in field_specs():
        if spec.section != section:
            continue
        meaning = _text(spec.help) + (f"; {_doc(spec.doc)}" if spec.doc else "")
        rows.append(
            f"| `{spec.name}` | {_default(spec.default)} | {_text(spec.allowed())} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def train_options_table() -> str:
    """The Markdown table of ``kerasdl train``'s config options: panel, option, config key."""
    from kerasdl.cli.config_options import flagged

    rows = ["| panel | option | config key |", "| --- | --- | --- |"]
    offered = flagged()
    for panel in PANELS:
        first = True
        for o in offered:
            if o.spec.flag.panel != panel:
                continue
            flag = o.spec.flag
            option = f"{o.name}/--no-{o.name[2:]}" if flag.switch else f"{o.name} {flag.metavar}"
            rows.append(f"| {panel if first else ''} | `{option}` | `{o.spec.key}` |")
            first = False
    return "\n".join(rows) + "\n"


def _table(what: str, arg: str | None) -> str:
    if what == "fields":
        section = None if arg == "top" else arg
        if section is not None and section not in _SECTIONS:
            raise ValueError(f"no config table [{arg}]")
        return fields_table(section)
    if what == "train-options":
        return train_options_table()
    raise ValueError(f"unknown generated table {what!r}")


def render(text: str) -> str:
    """``text`` with every generated table brought up to date."""
    return _BLOCK.sub(
        lambda m: m.group(1) + _table(m.group("what"), m.group("arg")) + m.group(5), text
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    root = Path(__file__).resolve().parent.parent
    stale = []
    for page in PAGES:
        path = root / page
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(page)
            if not check:
                path.write_text(new, encoding="utf-8")
    verb = "out of date" if check else "rewritten"
    for page in stale:
        print(f"{page}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
