"""MkDocs hook: the CLI reference page, generated from the Typer app at build time.

`mkdocs.yml` names this file under `hooks:`. `on_files` adds `reference/cli.md`, written by
`cli_reference_markdown()`, which walks `typer.main.get_command(kerasdl.cli.app)` recursively
and writes every command's usage, help and options, so the page cannot drift from the code.
`tests/docs/test_site.py` imports this file to check that every command and option is on it.
"""

from __future__ import annotations

CLI_REFERENCE_URI = "reference/cli.md"


def _iter_commands(command, ctx):
    """Yield `(command, context)` for `command` and, depth first, every subcommand."""
    yield command, ctx
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
        yield from _iter_commands(sub, sub_ctx)


def _cell(text):
    """One Markdown table cell: no newlines, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _help_paragraphs(text):
    """The help text as Markdown paragraphs (Typer separates them by blank lines)."""
    text = (text or "").strip()
    if not text:
        return []
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    return paragraphs


def iter_cli_commands():
    """Every command of the `kerasdl` CLI as `(path, command, context)`, depth first."""
    import typer

    from kerasdl.cli import app

    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name="kerasdl")
    for command, ctx in _iter_commands(root, root_ctx):
        yield ctx.command_path, command, ctx


def cli_reference_markdown():
    """The CLI reference page: every command's usage, help and options, as Markdown."""
    lines = [
        "# CLI reference",
        "",
        "Generated from the Typer app (`kerasdl.cli.app`) when the site is built: every command,",
        "its usage, help and options, exactly as `--help` knows them. The",
        "[command-line guide](../cli.md) has the examples, the outputs and the exit codes.",
        "",
    ]
    for path, command, ctx in iter_cli_commands():
        depth = min(path.count(" ") + 1, 4)
        lines += [f"{'#' * (depth + 1)} `{path}`", ""]
        for paragraph in _help_paragraphs(command.help):
            lines += [paragraph, ""]
        usage = command.get_usage(ctx).strip()
        lines += ["```text", usage, "```", ""]
        rows = []
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, help_text = record
            kind = "argument" if getattr(param, "param_type_name", "") == "argument" else "option"
            panel = getattr(param, "rich_help_panel", None) or ""
            rows.append((f"`{_cell(name)}`", kind, _cell(panel), _cell(help_text)))
        if getattr(command, "commands", None):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is None or getattr(sub, "hidden", False):
                    continue
                anchor = f"{path} {name}".replace(" ", "-").lower()
                summary = sub.get_short_help_str(limit=200)
                rows.append((f"[`{name}`](#{anchor})", "command", "", _cell(summary)))
        if rows:
            lines += ["| name | kind | panel | help |", "| --- | --- | --- | --- |"]
            lines += [f"| {' | '.join(row)} |" for row in rows]
            lines.append("")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    """Add the generated CLI reference to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, CLI_REFERENCE_URI, content=cli_reference_markdown()))
    return files
