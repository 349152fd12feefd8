"""Files replaced whole: a reader sees the old content or the new one, never a part (private).

One mechanism for every file kerasdl rewrites in place: ``config.toml``, ``summary.json`` and
``state.json`` (`kerasdl.runs`), ``best.keras`` (`kerasdl.callbacks.save_model_atomically`) and
``last.keras`` (the runner). Light: the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def replace_atomically(
    path: str | os.PathLike, write: Callable[[str], None], *, suffix: str = ""
) -> Path:
    """Fill ``path`` through a temporary file, then move it over ``path`` in one step.

    ``write(temporary)`` writes the new content to a hidden file next to ``path``, named
    ``.<name>.<6 random bytes in hex>.tmp<suffix>`` (``<name>`` is ``path``'s name without
    ``suffix``: Keras, say, only saves to a name that ends in ``.keras``). The file is then
    ``fsync``-ed and moved over ``path`` with ``os.replace`` (atomic on POSIX and Windows), and on
    POSIX the directory is synced, so the rename itself is durable. If anything fails, the
    temporary file is removed and the error raised: ``path`` keeps its old content. A process
    killed mid-write can leave the temporary file behind, never a broken ``path``.

    Returns:
        ``path``, as a `Path`.
    """
    path = Path(path)
    name = path.name.removesuffix(suffix) if suffix else path.name
    temporary = path.with_name(f".{name}.{secrets.token_hex(6)}.tmp{suffix}")
    try:
        write(str(temporary))
        with open(temporary, "r+b") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    if os.name == "posix":
        handle = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
    return path
