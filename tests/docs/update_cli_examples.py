"""Rewrite the outputs of the docs' console examples that no longer match what kerasdl prints.

When a change moves the numbers enough to change an example's lines (a new column, or a run
that stops at another epoch in a block without `<!-- example-shape: ... -->`),
`test_cli_examples.py` fails. This runs every example as that test does (in order, in
one fresh working directory) and, for each example whose output differs from the docs' up to
numbers, writes the new output into the page; the other examples are left as they are. With
``--all`` it writes every example's new output, so that the numbers agree across examples that
read the same runs (`runs list`, `runs compare`). Check the diff before committing it.

    python tests/docs/update_cli_examples.py [--all]
"""

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_cli_examples as examples


def main():
    rewrite_all = "--all" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        work, home = Path(tmp, "work"), Path(tmp, "home")
        work.mkdir()
        home.mkdir()
        for name, content in examples.FIXTURES.items():
            (work / name).write_text(content)
        changed = 0
        for page in examples._pages():
            text = page.read_text()
            pieces, last = [], 0
            for match in examples.FENCE.finditer(text):
                if match.group(1) != "console":
                    continue
                marker = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
                if examples.SKIP.search(marker):
                    continue
                shape = bool(examples.SHAPE.search(marker))
                body, updated = _update_block(
                    match.group(2), work, home, str(work), rewrite_all, shape
                )
                if updated:
                    changed += updated
                    pieces.append(text[last : match.start(2)])
                    pieces.append(body)
                    last = match.end(2)
            if pieces:
                page.write_text("".join(pieces) + text[last:])
                print(f"{page.name}: rewritten")
    print(f"{changed} example(s) rewritten")


def _update_block(body, work, home, work_path, rewrite_all, shape):
    """The block with the outputs that differ replaced, and how many were."""
    blocks, command, output = [], None, []
    for line in [*body.splitlines(), "$ "]:
        if line.startswith("$ "):
            if command is not None:
                blocks.append((command, output))
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
    lines, updated = [], 0
    for command, shown in blocks:
        lines.append(f"$ {command}")
        if command.startswith(examples.NOT_RUN):
            lines.extend(shown)
            continue
        result = examples._run(command, work, home)
        got = [
            re.sub(r"\s+$", "", line).replace(work_path, ".")
            for line in (result.stdout + result.stderr).splitlines()
            if not line.startswith("note: ")  # stderr notes the docs leave out (the test too)
        ]
        if rewrite_all or not examples.matches(shown, got, shape):
            while got and not got[-1]:
                got.pop()
            blank = 0
            for line in reversed(shown):  # the blank lines that end the example in the docs
                if line.strip():
                    break
                blank += 1
            lines.extend(got + [""] * blank)
            updated += 1
        else:
            lines.extend(shown)
    return "\n".join(lines) + "\n", updated


if __name__ == "__main__":
    main()
